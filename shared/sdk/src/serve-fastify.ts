import { createRequestHandler, type ServeOptions } from "./comm-handler.ts";
import type { ReceivedBody } from "./signature.ts";
import { Header } from "./wire.ts";

const FRAMEWORK = "fastify";
const DEFAULT_PATH = "/api/inngest";

/** The parts of a fastify request the route uses. */
export interface FastifyLikeRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
  protocol?: string;
  host?: string;
  hostname?: string;
}

/** The parts of a fastify reply the route uses. */
export interface FastifyLikeReply {
  code(status: number): FastifyLikeReply;
  headers(values: Record<string, string>): FastifyLikeReply;
  send(payload?: unknown): unknown;
}

/** The parts of a fastify instance the plugin uses. */
export interface FastifyLikeInstance {
  route(options: {
    method: string[];
    url: string;
    handler: (request: FastifyLikeRequest, reply: FastifyLikeReply) => Promise<unknown>;
  }): unknown;
  addContentTypeParser?(
    contentType: string,
    options: { parseAs: "string" },
    parser: (request: unknown, body: string, done: (err: Error | null, body?: unknown) => void) => void,
  ): unknown;
}

/** Options of the fastify plugin: serve options plus the route `path` (default `/api/inngest`). */
export interface FastifyServeOptions extends ServeOptions {
  path?: string;
}

/**
 * A fastify plugin serving functions on GET/PUT/POST at `path`:
 * `await app.register(serveFastify({ client, functions, path: "/api/inngest" }))`.
 * Inside its own (encapsulated) scope it reads JSON bodies as text, so signatures verify over the
 * raw bytes; if that parser can't be installed, the parsed body is verified in JCS form.
 * Throws InvalidConfigError now if the options are invalid.
 */
export function serveFastify(options: FastifyServeOptions): (instance: FastifyLikeInstance) => Promise<void> {
  const handle = createRequestHandler(options, FRAMEWORK);
  const path = options.path ?? DEFAULT_PATH;
  return async (instance) => {
    try {
      instance.addContentTypeParser?.("application/json", { parseAs: "string" }, (_req, body, done) =>
        done(null, body),
      );
    } catch {
      // the parent scope already set a custom JSON parser: keep it, bodies arrive parsed
    }
    instance.route({
      method: ["GET", "PUT", "POST"],
      url: path,
      handler: async (request, reply) => {
        const header = (name: string) => {
          const value = request.headers[name.toLowerCase()];
          return Array.isArray(value) ? value[0] : value;
        };
        const forwarded = header(Header.ForwardedProto)?.split(",")[0]?.trim();
        const protocol = forwarded || request.protocol || "http";
        const host = header("host") ?? request.host ?? request.hostname ?? "localhost";
        const answer = await handle({
          method: request.method,
          url: new URL(request.url, `${protocol}://${host}`),
          header,
          readBody: async () => fastifyBody(request.body),
        });
        return reply.code(answer.status).headers(answer.headers).send(answer.body);
      },
    });
  };
}

/**
 * The same plugin for `app.register(fastifyPlugin, { client, functions, path })`, taking the serve
 * options from fastify's plugin options.
 */
export async function fastifyPlugin(
  instance: FastifyLikeInstance,
  options: FastifyServeOptions,
): Promise<void> {
  await serveFastify(options)(instance);
}

function fastifyBody(body: unknown): ReceivedBody {
  if (body === undefined || body === null) return { kind: "none" };
  if (typeof body === "string") return { kind: "raw", text: body };
  if (Buffer.isBuffer(body)) return { kind: "raw", text: body.toString("utf8") };
  return { kind: "parsed", value: body };
}
