import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { DISCOVERY_PATHS, DISCOVERY_PORTS, discoverApps, discoveryPorts } from "./discovery.ts";

const listen = (handler: Parameters<typeof createServer>[1]): Promise<Server> =>
  new Promise((resolve) => {
    const s = createServer(handler);
    s.listen({ host: "127.0.0.1", port: 0 }, () => resolve(s));
  });
const portOf = (s: Server) => (s.address() as { port: number }).port;

describe("app discovery", () => {
  let app: Server;
  let other: Server;
  let closedPort = 0;
  const gets: string[] = [];

  before(async () => {
    // An app served at the second probed path; a web server that is no app.
    app = await listen((req, res) => {
      gets.push(`${req.method} ${req.url}`);
      if (req.url === "/x/inngest") res.writeHead(200, { "x-inngest-sdk": "js:v3.0.0" }).end("{}");
      else res.writeHead(404).end();
    });
    other = await listen((_req, res) => res.writeHead(200).end("hello"));
    const closed = await listen(() => undefined);
    closedPort = portOf(closed);
    await new Promise((r) => closed.close(r));
  });
  after(() => {
    app.close();
    other.close();
  });

  it("finds an app by its x-inngest-sdk answer, on open ports only, one URL per port", async () => {
    const found = await discoverApps({ ports: [portOf(app), portOf(other), closedPort], timeoutMs: 2_000 });
    assert.deepEqual(found, [`http://127.0.0.1:${portOf(app)}/x/inngest`]);
    assert.deepEqual(gets, ["GET /api/inngest", "GET /x/inngest"], "probing stops at the app's path");
  });

  it("skips the ports it is told to (the dev server's own)", async () => {
    assert.deepEqual(await discoverApps({ ports: [portOf(app)], skip: new Set([portOf(app)]) }), []);
  });

  it("probes Inngest's ports and paths, and $PORT", () => {
    assert.ok(
      DISCOVERY_PORTS.includes(3000) && DISCOVERY_PORTS.includes(5173) && DISCOVERY_PORTS.includes(8080),
    );
    assert.deepEqual(DISCOVERY_PATHS.slice(0, 2), ["/api/inngest", "/x/inngest"]);
    assert.deepEqual(discoveryPorts({ PORT: "4123" }).slice(-1), [4123]);
    assert.deepEqual(discoveryPorts({ PORT: "nope" }), [...DISCOVERY_PORTS]);
  });
});
