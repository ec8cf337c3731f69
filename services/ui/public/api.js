/** Thin client for the Jetstep REST API. Every failure becomes an ApiError with a readable message. */
import { askForKey, withAuth } from "./auth.js";

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

function qs(params = {}) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : "";
}

async function request(method, path, body, retried = false) {
  // Bulk operations record who asked: the UI says it was the UI (the key says which one).
  const init = { method, headers: withAuth({ accept: "application/json", "x-jetstep-actor": "Jetstep UI" }) };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, `Network error: ${e.message}`);
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // non-JSON body; reported below if the status is an error
  }
  // An API key is needed (or was refused): ask for one, then try once more.
  if (res.status === 401 && !retried) {
    await askForKey(json && typeof json.error === "string" ? json.error : "");
    return request(method, path, body, true);
  }
  if (!res.ok) {
    const msg = json && typeof json.error === "string" ? json.error : text || res.statusText;
    throw new ApiError(res.status, `${res.status}: ${msg}`, json);
  }
  return json;
}

const enc = encodeURIComponent;

export const api = {
  apps: () => request("GET", "/v1/apps"),
  addApp: (url) => request("POST", "/v1/apps", { url }),
  syncApp: (url) => request("POST", "/v1/apps/sync", { url }),
  removeApp: (appId) => request("DELETE", `/v1/apps/${enc(appId)}`),
  removeAppUrl: (url) => request("DELETE", `/v1/apps${qs({ url })}`),
  functions: () => request("GET", "/v1/functions"),
  pause: (fnId, reason) => request("POST", `/v1/functions/${enc(fnId)}/pause`, reason ? { reason } : {}),
  resume: (fnId) => request("POST", `/v1/functions/${enc(fnId)}/resume`, {}),
  replay: (body) => request("POST", "/v1/replays", body),
  cancelMatching: (body) => request("POST", "/v1/cancellations", body),
  operations: (params) => request("GET", `/v1/operations${qs(params)}`),
  operation: (id) => request("GET", `/v1/operations/${enc(id)}`),
  activity: (fnId, params) => request("GET", `/v1/functions/${enc(fnId)}/activity${qs(params)}`),
  events: (params) => request("GET", `/v1/events${qs(params)}`),
  event: (id) => request("GET", `/v1/events/${enc(id)}`),
  eventRuns: (id) => request("GET", `/v1/events/${enc(id)}/runs`),
  runs: (params) => request("GET", `/v1/runs${qs(params)}`),
  run: (id) => request("GET", `/v1/runs/${enc(id)}`),
  runTrace: (id) => request("GET", `/v1/runs/${enc(id)}/trace`),
  cancelRun: (id, reason) => request("DELETE", `/v1/runs/${enc(id)}`, reason ? { reason } : undefined),
  rerun: (id, body = {}) => request("POST", `/v1/runs/${enc(id)}/rerun`, body),
  invoke: (fnId, data) =>
    request("POST", `/v1/functions/${enc(fnId)}/invoke`, data === undefined ? {} : { data }),
  sendEvent: (payload) => request("POST", "/v1/events", payload),
  deadLetters: (params) => request("GET", `/v1/dead-letters${qs(params)}`),
};
