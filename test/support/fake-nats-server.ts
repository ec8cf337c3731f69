/**
 * A TCP server that greets like nats-server (`INFO {…}` with the version you choose) and answers
 * PING with PONG, nothing more: enough for a client to connect and read the server's INFO. For
 * testing what Jetstep does with a server it must refuse (too old, JetStream off) without having
 * such a binary.
 */
import { createServer, type Socket } from "node:net";

export interface FakeNatsServer {
  url: string;
  close(): Promise<void>;
}

export async function startFakeNatsServer(info: {
  version: string;
  jetstream: boolean;
}): Promise<FakeNatsServer> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    const greeting = {
      server_id: "FAKE",
      server_name: "fake",
      version: info.version,
      proto: 1,
      go: "go1.0",
      host: "127.0.0.1",
      port: 0,
      headers: true,
      max_payload: 1048576,
      jetstream: info.jetstream,
    };
    socket.write(`INFO ${JSON.stringify(greeting)}\r\n`);
    let buf = "";
    socket.setEncoding("utf8").on("data", (chunk: string) => {
      buf += chunk;
      for (let i = buf.indexOf("\r\n"); i >= 0; i = buf.indexOf("\r\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (line.startsWith("PING")) socket.write("PONG\r\n");
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("fake nats-server has no port");
  return {
    url: `nats://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
