/**
 * Which app URLs Jetstep may sync and call (`--allow-app-url`): a URL is only ever the operator's
 * choice, never whoever can reach the API or register an app, so the gateway is no proxy into the
 * network it runs in.
 *
 * A pattern is a URL: scheme, host and port must match (a host may start with `*.` for any
 * subdomain; the port defaults by scheme), and the path must equal the pattern's, or start with it
 * when the pattern ends in `*`. `nats://<appId>` URLs (NATS workers) reach no network address and
 * are always allowed. No policy (`jetstep dev`) allows every http(s) URL.
 */

export interface AppUrlPolicy {
  /** Why `url` may not be synced or called, or null. */
  problem(url: string): string | null;
}

interface Pattern {
  source: string;
  protocol: string;
  host: string;
  wildcardHost: boolean;
  port: string;
  path: string;
  pathPrefix: boolean;
}

const defaultPort = (protocol: string): string => (protocol === "https:" ? "443" : "80");

/** Parses `--allow-app-url` patterns; throws naming the pattern that is not one. */
export function appUrlPolicy(patterns: readonly string[] | undefined): AppUrlPolicy {
  const compiled = (patterns ?? []).map((source): Pattern => {
    const wildcardHost = /^[a-z]+:\/\/\*\./i.test(source);
    let u: URL;
    try {
      u = new URL(wildcardHost ? source.replace("://*.", "://wildcard.") : source);
    } catch {
      throw new Error(`app URL pattern ${JSON.stringify(source)} is not a URL`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:")
      throw new Error(`app URL pattern ${JSON.stringify(source)}: only http and https`);
    const pathPrefix = u.pathname.endsWith("*");
    return {
      source,
      protocol: u.protocol,
      host: wildcardHost ? u.hostname.slice("wildcard".length) : u.hostname,
      wildcardHost,
      port: u.port || defaultPort(u.protocol),
      path: pathPrefix ? u.pathname.slice(0, -1) : u.pathname,
      pathPrefix,
    };
  });
  // Calls go to a few URLs over and over: each is judged once (bounded, so forged ones cannot grow it).
  const judged = new Map<string, string | null>();
  const judge = (url: string): string | null => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return `${JSON.stringify(url)} is not an absolute URL (e.g. http://localhost:3000/api/inngest)`;
    }
    if (u.protocol === "nats:") return null;
    if (u.protocol !== "http:" && u.protocol !== "https:") return `${u.protocol} URLs are not supported`;
    if (u.username || u.password) return "URLs with credentials are not accepted";
    if (patterns === undefined) return null;
    const port = u.port || defaultPort(u.protocol);
    const host = u.hostname.toLowerCase();
    const ok = compiled.some(
      (p) =>
        p.protocol === u.protocol &&
        p.port === port &&
        (p.wildcardHost ? host.endsWith(p.host) && host.length > p.host.length : host === p.host) &&
        (p.pathPrefix ? u.pathname.startsWith(p.path) : u.pathname === p.path),
    );
    return ok
      ? null
      : `${u.origin}${u.pathname} is not an allowed app URL (--allow-app-url${compiled.length ? `: ${compiled.map((p) => p.source).join(", ")}` : " is not set"})`;
  };
  return {
    problem(url) {
      const known = judged.get(url);
      if (known !== undefined) return known;
      const answer = judge(url);
      if (judged.size >= 1024) judged.clear();
      judged.set(url, answer);
      return answer;
    },
  };
}
