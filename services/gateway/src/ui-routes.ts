/** Serves the dev UI: `/` is the app shell, `/ui/*` its static files (no directory traversal). */
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import type { FastifyInstance } from "fastify";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json",
};

// biome-ignore lint/suspicious/noExplicitAny: the gateway's fastify instance carries a custom logger type
export function registerUiRoutes(app: FastifyInstance<any, any, any, any>, dir: string): void {
  const send = async (
    file: string,
    reply: { type(t: string): unknown; send(b: unknown): unknown; status(n: number): unknown },
  ) => {
    const full = normalize(join(dir, file));
    if (!full.startsWith(normalize(dir)))
      return (reply.status(404) as typeof reply).send({ error: "not found" });
    try {
      const body = await readFile(full);
      reply.type(TYPES[extname(full)] ?? "application/octet-stream");
      return reply.send(body);
    } catch {
      return (reply.status(404) as typeof reply).send({ error: "not found" });
    }
  };
  app.get("/", (_req, reply) => send("index.html", reply));
  app.get<{ Params: { "*": string } }>("/ui/*", (req, reply) => send(req.params["*"], reply));
}
