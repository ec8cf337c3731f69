/** One shared EventSource on /v1/stream; views subscribe to `run` / `event` messages. */

const listeners = { run: new Set(), event: new Set(), status: new Set() };
let source = null;
let connected = false;

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

export function startStream() {
  if (source || typeof EventSource === "undefined") return;
  source = new EventSource("/v1/stream");
  source.addEventListener("open", () => setConnected(true));
  source.addEventListener("error", () => setConnected(source.readyState === EventSource.OPEN));
  for (const type of ["run", "event"]) {
    source.addEventListener(type, (m) => {
      let data;
      try {
        data = JSON.parse(m.data);
      } catch {
        return;
      }
      emit(type, data);
    });
  }
}

/** Subscribes to "run", "event" or "status"; returns the unsubscribe function. */
export function subscribe(type, fn) {
  listeners[type].add(fn);
  return () => listeners[type].delete(fn);
}

export const isConnected = () => connected;
