/**
 * One HTTP request of a call to an app, over keep-alive agents, with a fence checked once the
 * request has its connection (see `AppClientOptions.fence`).
 */
import http from "node:http";
import https from "node:https";

/** The call was not sent: its fence (the executor's lease on the run) no longer held. */
export class FencedCallError extends Error {
  override name = "FencedCallError";
  constructor() {
    super("not called: this executor's lease on the run's partition is not valid");
  }
}

// Keep-alive agents: node:http costs far less CPU per call than fetch (measured in W1).
const agents = {
  "http:": new http.Agent({ keepAlive: true, maxSockets: 128 }),
  "https:": new https.Agent({ keepAlive: true, maxSockets: 128 }),
};

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * Sends on a kept-alive connection: one whose server closes it as the request goes out (Node's
 * HTTP server drops a connection idle for 5 s) fails with ECONNRESET or EPIPE before any answer.
 * Such a request is sent again on another connection, up to this many times in all, as Node's
 * documentation advises for `request.reusedSocket`; any other failure is the caller's. Sending it
 * again is what the step's retry would do 15 s later, having spent an attempt on it.
 */
const STALE_CONNECTION_TRIES = 3;
const STALE_CONNECTION_CODES = new Set(["ECONNRESET", "EPIPE"]);

/** A request that failed on a reused connection before any answer: its error, to send it again. */
class StaleConnection {
  constructor(readonly error: Error) {}
}

export async function send(
  url: URL,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  fence?: () => boolean,
  method = "POST",
): Promise<RawResponse> {
  for (let tries = 1; ; tries++) {
    try {
      return await sendOnce(url, body, headers, timeoutMs, fence, method);
    } catch (e) {
      if (!(e instanceof StaleConnection)) throw e;
      if (tries >= STALE_CONNECTION_TRIES) throw e.error;
    }
  }
}

function sendOnce(
  url: URL,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  fence: (() => boolean) | undefined,
  method: string,
): Promise<RawResponse> {
  const mod = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = mod.request(
      url,
      {
        method,
        agent: agents[url.protocol as "http:" | "https:"],
        headers: { ...headers, "content-length": Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new CallTimeoutError()));
    req.on("error", (e: NodeJS.ErrnoException) => {
      const stale = req.reusedSocket && !answered && STALE_CONNECTION_CODES.has(e.code ?? "");
      reject(stale ? new StaleConnection(e) : e);
    });
    if (!fence) {
      req.end(body);
      return;
    }
    // Nothing is written until the request has a connected socket (the agent may queue it, and a
    // new connection takes a handshake): the fence is checked then, so a call that waited past
    // the lease (or whose process was paused meanwhile) never reaches the app.
    const send = () => {
      if (fence()) req.end(body);
      else req.destroy(new FencedCallError());
    };
    req.once("socket", (socket) => {
      if (socket.connecting) socket.once("connect", send);
      else send();
    });
  });
}

export class CallTimeoutError extends Error {
  override name = "CallTimeoutError";
}
