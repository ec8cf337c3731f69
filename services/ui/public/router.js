/** Hash router: "#/runs/abc" → { name: "run", params: { id: "abc" } }. */

const ROUTES = [
  ["runs", /^\/runs\/?$/],
  ["run", /^\/runs\/([^/?]+)\/?$/],
  ["events", /^\/events\/?$/],
  ["event", /^\/events\/([^/?]+)\/?$/],
  ["functions", /^\/functions\/?$/],
  ["function", /^\/functions\/([^/?]+)\/?$/],
  ["apps", /^\/apps\/?$/],
  ["deadLetters", /^\/dead-letters\/?$/],
];

export function parseHash(hash = location.hash) {
  const path = hash.replace(/^#/, "").split("?")[0] || "/";
  if (path === "/") return { name: "runs", params: {}, path: "/runs" };
  for (const [name, re] of ROUTES) {
    const m = re.exec(path);
    if (m) return { name, params: m[1] ? { id: decodeURIComponent(m[1]) } : {}, path };
  }
  return { name: "notFound", params: {}, path };
}

export function navigate(path) {
  location.hash = `#${path}`;
}

/** Calls onRoute(route) now and on every hash change. */
export function startRouter(onRoute) {
  const go = () => onRoute(parseHash());
  window.addEventListener("hashchange", go);
  go();
}
