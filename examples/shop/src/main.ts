/**
 * Runs one service of the shop example: `npm start -w examples/shop -- orders | billing`.
 *
 * - `orders` serves over HTTP on PORT (default 3001) at /api/inngest; sync it with
 *   `jetstep dev -u http://localhost:3001/api/inngest`.
 * - `billing` is a NATS worker: NATS_URL (default nats://127.0.0.1:4222); it registers itself.
 *   HEALTH_PORT: answers 200 on that port once registered (a container health check).
 *
 * Both read JETSTEP_BASE_URL (the gateway, for step.sendEvent), JETSTEP_EVENT_KEY and
 * JETSTEP_SIGNING_KEY (production) through the SDK client; OTEL_EXPORTER_OTLP_ENDPOINT turns on
 * the services' own spans (see tracing.ts).
 */
import { createServer } from "node:http";
import { serve, worker } from "jetstep";
import { billing, billingFunctions } from "./billing.ts";
import { orders, ordersFunctions } from "./orders.ts";
import { startServiceTracing } from "./tracing.ts";

const service = process.argv[2];
const tracing = startServiceTracing(service ?? "shop");
const flushTraces = () => tracing?.shutdown().catch(() => undefined);

if (service === "orders") {
  const port = Number(process.env.PORT ?? 3001);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`PORT must be a port number, got ${JSON.stringify(process.env.PORT)}`);
    process.exit(2);
  }
  const server = createServer(serve({ client: orders, functions: ordersFunctions }));
  server.listen(port, () => console.log(`orders serving functions at http://localhost:${port}/api/inngest`));
  process.on("SIGTERM", () => server.close(() => void flushTraces()?.then(() => process.exit(0))));
} else if (service === "billing") {
  const w = await worker({ client: billing, functions: billingFunctions }).catch((e: Error) => {
    console.error(`billing could not connect to NATS (NATS_URL=${process.env.NATS_URL ?? ""}): ${e.message}`);
    process.exit(1);
  });
  console.log(`billing serving functions over NATS on ${w.subject}`);
  const registered = await w.registered;
  if (registered.ok) console.log("billing registered");
  else console.error(`billing registration failed: ${registered.error}`);
  // A worker listens on no port: HEALTH_PORT gives its container a health check (200 once registered).
  if (process.env.HEALTH_PORT)
    createServer((_req, res) => res.writeHead(registered.ok ? 200 : 503).end()).listen(
      Number(process.env.HEALTH_PORT),
    );
  process.on(
    "SIGTERM",
    () =>
      void w.close().then(async () => {
        await flushTraces();
        process.exit(0);
      }),
  );
} else {
  console.error(`usage: main.ts orders|billing (got ${JSON.stringify(service ?? "")})`);
  process.exit(2);
}
