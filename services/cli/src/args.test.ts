import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseCli } from "./args.ts";
import { parseStart } from "./start-args.ts";

const dirWith = (name: string, text: string) => {
  const dir = mkdtempSync(join(tmpdir(), "jetstep-args-"));
  writeFileSync(join(dir, name), text);
  return dir;
};

describe("jetstep dev settings", () => {
  it("uses defaults without file, env or flags", () => {
    const a = parseCli(["dev"], {}, false, mkdtempSync(join(tmpdir(), "jetstep-args-")));
    assert.equal(a.port, 8288);
    assert.equal(a.host, "127.0.0.1");
    assert.deepEqual(a.appUrls, []);
    assert.deepEqual(a.eventKeys, []);
  });

  it("reads jetstep.yaml, then lets the environment and flags override it", () => {
    const dir = dirWith(
      "jetstep.yaml",
      "urls:\n  - http://localhost:3000/api/inngest\nport: 9000\nretry-interval: 2\nevent-key: k1\nlog-level: debug\n",
    );
    const fromFile = parseCli(["dev"], {}, false, dir);
    assert.deepEqual(fromFile.appUrls, ["http://localhost:3000/api/inngest"]);
    assert.equal(fromFile.port, 9000);
    assert.equal(fromFile.retryIntervalMs, 2000);
    assert.deepEqual(fromFile.eventKeys, ["k1"]);
    assert.equal(fromFile.logLevel, "debug");
    assert.match(fromFile.configFile ?? "", /jetstep\.yaml$/);
    const fromEnv = parseCli(
      ["dev"],
      { INNGEST_PORT: "9100", JETSTEP_URLS: "http://a/x, http://b/y" },
      false,
      dir,
    );
    assert.equal(fromEnv.port, 9100);
    assert.deepEqual(fromEnv.appUrls, ["http://a/x", "http://b/y"]);
    const fromFlags = parseCli(
      ["dev", "-p", "9200", "-u", "http://c/z"],
      { JETSTEP_PORT: "9100" },
      false,
      dir,
    );
    assert.equal(fromFlags.port, 9200);
    assert.deepEqual(fromFlags.appUrls, ["http://c/z"]);
  });

  it("reads inngest.json for people coming from Inngest", () => {
    const dir = dirWith(
      "inngest.json",
      JSON.stringify({ "sdk-url": "http://localhost:3000/api/inngest", port: 8300 }),
    );
    const a = parseCli(["dev"], {}, false, dir);
    assert.deepEqual(a.appUrls, ["http://localhost:3000/api/inngest"]);
    assert.equal(a.port, 8300);
  });

  it("stops on a bad file with the file, the line and what is wrong", () => {
    const cases: [string, string, RegExp][] = [
      ["jetstep.yaml", "port: 9000\nurls: [http://x\n", /jetstep\.yaml:\d+: /],
      [
        "jetstep.yaml",
        "urls:\n  - http://x/api\nport: nine\n",
        /jetstep\.yaml:3: port: must be a port number/,
      ],
      ["jetstep.yaml", "port: 9000\nprot: 9001\n", /jetstep\.yaml:2: prot: unknown setting/],
      ["inngest.yaml", "retry-interval: -1\n", /inngest\.yaml:1: retry-interval: must be 0 or more/],
    ];
    for (const [name, text, re] of cases) {
      assert.throws(() => parseCli(["dev"], {}, false, dirWith(name, text)), re, text);
    }
  });

  it("names the variable or flag that is wrong", () => {
    const dir = mkdtempSync(join(tmpdir(), "jetstep-args-"));
    assert.throws(
      () => parseCli(["dev"], { JETSTEP_PORT: "http" }, false, dir),
      /JETSTEP_PORT: http is not a port number/,
    );
    assert.throws(
      () => parseCli(["dev", "--retry-interval", "soon"], {}, false, dir),
      /--retry-interval: soon/,
    );
  });

  it("looks for apps without -u, unless --no-discovery, every --poll-interval seconds", () => {
    const dir = mkdtempSync(join(tmpdir(), "jetstep-discovery-"));
    assert.deepEqual(parseCli(["dev"], {}, false, dir).discovery, { intervalMs: 5_000 });
    assert.deepEqual(parseCli(["dev", "--poll-interval", "2"], {}, false, dir).discovery, {
      intervalMs: 2_000,
    });
    assert.equal(parseCli(["dev", "--no-discovery"], {}, false, dir).discovery, undefined);
    assert.equal(
      parseCli(["dev", "-u", "http://localhost:3000/api/inngest"], {}, false, dir).discovery,
      undefined,
    );
    assert.equal(
      parseCli(["dev"], { JETSTEP_URLS: "http://localhost:3000/api/inngest" }, false, dir).discovery,
      undefined,
    );
    assert.throws(
      () => parseCli(["dev", "--poll-interval", "0.5"], {}, false, dir),
      /--poll-interval: 0.5 is under 1 second/,
    );
    assert.throws(
      () => parseCli(["dev", "--poll-interval", "x"], {}, false, dir),
      /--poll-interval: x is not a number/,
    );
  });

  it("takes --lease-ttl as a duration of 1 s to 5 min, in dev and start alike", () => {
    const dir = mkdtempSync(join(tmpdir(), "jetstep-args-"));
    const start = (ttl: string) =>
      parseStart(
        [
          "start",
          "--nats-url",
          "nats://n:4222",
          "--event-key",
          "k",
          "--signing-key",
          "signkey-prod-00ab",
          "--lease-ttl",
          ttl,
        ],
        {},
        false,
      );
    assert.equal(parseCli(["dev", "--lease-ttl", "3s"], {}, false, dir).leaseTtlMs, 3000);
    assert.equal(start("2m").leaseTtlMs, 120_000);
    assert.equal(parseCli(["dev"], {}, false, dir).leaseTtlMs, undefined);
    for (const parse of [(t: string) => parseCli(["dev", "--lease-ttl", t], {}, false, dir), start]) {
      assert.throws(() => parse("soon"), /--lease-ttl: /);
      assert.throws(() => parse("100ms"), /--lease-ttl: 100ms is outside 1s–5m/);
      assert.throws(() => parse("1h"), /--lease-ttl: 1h is outside 1s–5m/);
    }
  });

  it("takes jetstep start's --retry-interval in seconds, or from the environment", () => {
    const start = (extra: string[], env: NodeJS.ProcessEnv = {}) =>
      parseStart(
        [
          "start",
          "--nats-url",
          "nats://n:4222",
          "--event-key",
          "k",
          "--signing-key",
          "signkey-prod-00ab",
          ...extra,
        ],
        env,
        false,
      );
    assert.equal(start([]).retryIntervalMs, undefined, "the production schedule by default");
    assert.equal(start(["--retry-interval", "1.5"]).retryIntervalMs, 1500);
    assert.equal(start([], { JETSTEP_RETRY_INTERVAL: "2" }).retryIntervalMs, 2000);
    assert.equal(start(["--retry-interval", "3"], { INNGEST_RETRY_INTERVAL: "2" }).retryIntervalMs, 3000);
    assert.throws(
      () => start(["--retry-interval", "soon"]),
      (e: Error) => {
        assert.equal(e.name, "StartUsageError");
        assert.match(e.message, /--retry-interval: soon is not a number of seconds/);
        return true;
      },
    );
  });

  it("takes jetstep start's keys from files and the environment, so none need the command line", () => {
    const dir = mkdtempSync(join(tmpdir(), "jetstep-keys-"));
    writeFileSync(join(dir, "signing"), "signkey-prod-00ab\n");
    writeFileSync(join(dir, "api"), "# operators\nkey-one-0123456789abcdef\nkey-two-0123456789abcdef\n");
    writeFileSync(join(dir, "events"), "ev-1\nev-2\n");
    const args = parseStart(
      [
        "start",
        "--signing-key-file",
        join(dir, "signing"),
        "--api-key-file",
        join(dir, "api"),
        "--event-key-file",
        join(dir, "events"),
      ],
      { JETSTEP_NATS_URL: "nats://n:4222", JETSTEP_READ_API_KEYS: "reader-0123456789abcdef" },
      false,
    );
    assert.equal(args.signingKey, "signkey-prod-00ab");
    assert.deepEqual(args.apiKeys, ["key-one-0123456789abcdef", "key-two-0123456789abcdef"]);
    assert.deepEqual(args.readApiKeys, ["reader-0123456789abcdef"]);
    assert.deepEqual(args.eventKeys, ["ev-1", "ev-2"]);
    const base = ["start", "--nats-url", "n", "--event-key", "k", "--signing-key", "signkey-prod-00ab"];
    // The NATS user and password too (docker-compose.yml gives the services theirs this way).
    const natsEnv = { JETSTEP_NATS_USER: "jetstep", JETSTEP_NATS_PASS: "services-secret" };
    assert.deepEqual(parseStart(base, natsEnv, false).auth, { user: "jetstep", pass: "services-secret" });
    writeFileSync(join(dir, "nats-pass"), "from-a-file\n");
    assert.deepEqual(
      parseStart([...base, "--nats-pass-file", join(dir, "nats-pass")], { JETSTEP_NATS_USER: "u" }, false)
        .auth,
      { user: "u", pass: "from-a-file" },
    );
    assert.throws(() => parseStart(base, { JETSTEP_NATS_PASS: "p" }, false), /a password needs a user/);
    // Browser origins that may send events, in dev and start alike.
    const cors = { JETSTEP_CORS_ORIGINS: "https://a.example, http://localhost:3000" };
    assert.deepEqual(parseStart([...base, "--cors-origin", "https://b.example"], cors, false).corsOrigins, [
      "https://b.example",
      "https://a.example",
      "http://localhost:3000",
    ]);
    assert.deepEqual(parseCli(["dev"], cors, false, dir).corsOrigins, [
      "https://a.example",
      "http://localhost:3000",
    ]);
    for (const bad of ["https://a.example/path", "*", "a.example"])
      assert.throws(
        () => parseStart([...base, "--cors-origin", bad], {}, false),
        /--cors-origin: .* is not an origin/,
      );
    assert.throws(() => parseStart([...base, "--api-key", "short"], {}, false), /at least 16 characters/);
    // The health endpoint: off unless asked for, by flag or environment.
    assert.equal(parseStart(base, {}, false).healthPort, undefined);
    assert.equal(parseStart([...base, "--health-port", "8289"], {}, false).healthPort, 8289);
    assert.equal(parseStart(base, { JETSTEP_HEALTH_PORT: "9000" }, false).healthPort, 9000);
    assert.throws(
      () => parseStart([...base, "--health-port", "0"], {}, false),
      /--health-port: 0 is not a port/,
    );
    assert.throws(
      () => parseStart([...base, "--api-key-file", join(dir, "missing")], {}, false),
      /--api-key-file: cannot read/,
    );
  });
});
