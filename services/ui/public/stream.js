/**
 * One shared connection to /v1/stream (server-sent events); views subscribe to `run` / `event`
 * messages. Read with fetch rather than EventSource, so it can carry the API key; reconnects
 * after 2 s when the connection drops, and at once after a key was given when Jetstep asks for
 * one. Views reload on every (re)connection (`onConnected`): nothing is streamed while down.
 */
import { askForKey, withAuth } from "./auth.js";

const listeners = { run: new Set(), event: new Set(), status: new Set() };
let started = false;
let connected = false;
const RECONNECT_MS = 2000;

function emit(type, payload) {
  for (const fn of listeners[type]) {
    try {
      fn(payload);
    } catch (e) {
      console.error(`stream ${type} listener failed`, e);
    }
  }
}

function setConnected(v) {
  if (connected === v) return;
  connected = v;
  emit("status", v);
}

/** One SSE block (`event: x` / `data: …` lines): emits it if it is a run or event message. */
function dispatch(block) {
  let type = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) type = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (!(type in listeners) || type === "status" || data.length === 0) return;
  try {
    emit(type, JSON.parse(data.join("\n")));
  } catch {
    // not JSON: ignored
  }
}

async function connectOnce() {
  const res = await fetch("/v1/stream", { headers: withAuth({ accept: "text/event-stream" }) });
  if (res.status === 401) {
    const body = await res.json().catch(() => null);
    await askForKey(body && typeof body.error === "string" ? body.error : "");
    return "again";
  }
  if (!res.ok || !res.body) throw new Error(`stream: ${res.status}`);
  setConnected(true);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replaceAll("\r\n", "\n");
    for (let i = buf.indexOf("\n\n"); i !== -1; i = buf.indexOf("\n\n")) {
      dispatch(buf.slice(0, i));
      buf = buf.slice(i + 2);
    }
  }
}

export function startStream() {
  if (started || typeof fetch === "undefined") return;
  started = true;
  void (async () => {
    for (;;) {
      try {
        // A key was just given: connect with it at once.
        if ((await connectOnce()) === "again") continue;
      } catch {
        // dropped: reconnect below
      }
      setConnected(false);
      await new Promise((r) => setTimeout(r, RECONNECT_MS));
    }
  })();
}

/**
 * Calls `fn` whenever the stream (re)connects: what changed while it was down (or before it
 * first connected, say while the API key was asked for) is not streamed, so views reload then.
 * Returns the unsubscribe function.
 */
export function onConnected(fn) {
  return subscribe("status", (up) => {
    if (up) fn();
  });
}

/** Subscribes to "run", "event" or "status"; returns the unsubscribe function. */
export function subscribe(type, fn) {
  listeners[type].add(fn);
  return () => listeners[type].delete(fn);
}

export const isConnected = () => connected;
