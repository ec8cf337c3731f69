/**
 * W3 benchmark app (our SDK): fan-out. `fan-out-invoke` starts `data.n` children with
 * `Promise.all` of `step.invoke` and sums their results; `fan-out-send` sends `data.n` events to
 * `event-child` in one `step.sendEvent` and returns their ids without waiting. Each child is one
 * trivial step returning a value. Env: PORT, JETSTEP_BASE_URL.
 */
import { createServer } from "node:http";
import { Jetstep, serve } from "jetstep";

const jetstep = new Jetstep({ id: "bench-w3" });

// Only ever invoked; its trigger event is never sent.
const child = jetstep.createFunction({ id: "child" }, { event: "bench/w3-child" }, async ({ event, step }) =>
  step.run("value", () => Number(event.data.i)),
);
const fanOutInvoke = jetstep.createFunction(
  { id: "fan-out-invoke" },
  { event: "bench/w3-invoke" },
  async ({ event, step }) => {
    const n = Number(event.data.n);
    const values = await Promise.all(
      Array.from({ length: n }, (_, i) => step.invoke<number>(`c${i}`, { function: child, data: { i } })),
    );
    return values.reduce((a, b) => a + b, 0);
  },
);

const eventChild = jetstep.createFunction(
  { id: "event-child" },
  { event: "bench/w3-event-child" },
  async ({ event, step }) => step.run("value", () => Number(event.data.i)),
);
const fanOutSend = jetstep.createFunction(
  { id: "fan-out-send" },
  { event: "bench/w3-send" },
  async ({ event, step }) => {
    const n = Number(event.data.n);
    const { ids } = await step.sendEvent(
      "children",
      Array.from({ length: n }, (_, i) => ({ name: "bench/w3-event-child", data: { i } })),
    );
    return { ids };
  },
);

const port = Number(process.env.PORT ?? 3952);
createServer(serve({ client: jetstep, functions: [child, fanOutInvoke, eventChild, fanOutSend] })).listen(
  port,
  "127.0.0.1",
  () => console.log(`bench app listening on ${port}`),
);
