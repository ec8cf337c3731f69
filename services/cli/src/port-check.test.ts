import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { describe, it } from "node:test";
import { checkPortFree, PortInUseError } from "./port-check.ts";

const listening = (host: string): Promise<Server> =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen({ host, port: 0 }, () => resolve(s));
  });

describe("checkPortFree", () => {
  it("passes on a free port and leaves it free", async () => {
    const s = await listening("127.0.0.1");
    const port = (s.address() as { port: number }).port;
    await new Promise((r) => s.close(r));
    await checkPortFree("127.0.0.1", port);
    await checkPortFree("127.0.0.1", port);
  });

  it("names --port when the port is taken", async () => {
    const s = await listening("127.0.0.1");
    const port = (s.address() as { port: number }).port;
    try {
      await assert.rejects(checkPortFree("127.0.0.1", port), (e: unknown) => {
        assert.ok(e instanceof PortInUseError);
        assert.equal(
          e.message,
          `port ${port} on 127.0.0.1 is already in use (another Jetstep or dev server?): choose another with --port`,
        );
        return true;
      });
    } finally {
      await new Promise((r) => s.close(r));
    }
  });

  it("says which address cannot be bound", async () => {
    await assert.rejects(
      checkPortFree("203.0.113.7", 8288),
      /cannot listen on 203\.0\.113\.7:8288 \(EADDRNOTAVAIL\): choose another address with --host/,
    );
  });
});
