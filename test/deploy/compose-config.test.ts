/**
 * No Docker engine runs here, so the compose file and the Dockerfile are checked for consistency:
 * files they reference exist, Jetstep commands parse (required keys present), ports, URLs and
 * service names agree, and the NATS configs enable JetStream with `sync_interval: always`.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { appUrlPolicy, Subjects, WorkerHeaders } from "@jetstep/core";
import { natsAuthOptions } from "@jetstep/jetstream";
import { Tools } from "@jetstep/toolchain";
import { connect, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { Jetstep, worker } from "jetstep";
import { parse } from "yaml";
import { SERVICES } from "../../services/cli/src/runtime.ts";
import { parseStart } from "../../services/cli/src/start-args.ts";
import { JAEGER_CONFIG, startNatsServer } from "../support/index.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const file = (p: string) => `${ROOT}${p.replace(/^\.\//, "")}`;

interface ComposeService {
  build?: string;
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: string[] | Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const compose = parse(readFileSync(file("docker-compose.yml"), "utf8"), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const services = compose.services;
// `${VAR:-default}` → default, as compose does when VAR is unset.
const resolve = (v: string) => v.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, "$1");
const envOf = (s: ComposeService) =>
  Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, resolve(String(v))]));
const jetstepServices = Object.entries(services).filter(([, s]) => s.command?.[0] === "start");
/** The services `s` starts after (compose takes a list or a map with conditions). */
const dependsOn = (s: ComposeService) =>
  Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
/** The host path of the config file the nats service runs (`-c`, inside its mounted directory). */
const natsConfigFile = () => {
  const nats = services.nats as ComposeService;
  const [src, target] = (nats.volumes ?? [])
    .map((v) => v.split(":"))
    .find(([src]) => src?.includes("infra/nats")) as [string, string];
  const inside = (nats.command as string[])[1] as string;
  assert.ok(inside.startsWith(`${target}/`), `the -c file ${inside} is in the mounted ${target}`);
  return file(`${src}/${inside.slice(target.length + 1)}`);
};

describe("docker-compose.yml and Dockerfile", () => {
  it("builds from a Dockerfile whose copied paths exist", () => {
    assert.ok(jetstepServices.length >= 4);
    // Every service on the local image builds it: `docker compose up` never runs a stale or missing one.
    for (const [name, s] of Object.entries(services))
      if (s.image === "jetstep:local") assert.equal(s.build, ".", `${name} builds the image it runs`);
    assert.ok(jetstepServices.length >= 4);
    const docker = readFileSync(file("Dockerfile"), "utf8");
    for (const line of docker.split("\n").filter((l) => l.startsWith("COPY "))) {
      const sources = line.split(/\s+/).slice(1, -1);
      for (const src of sources)
        if (src !== ".") assert.ok(existsSync(file(src)), `Dockerfile copies missing ${src}`);
    }
    // npm ci needs every workspace's package.json before the sources are copied.
    const lines = docker.split("\n");
    const npmCi = lines.findIndex((l) => /^RUN npm ci\b/.test(l));
    assert.ok(npmCi > 0, "Dockerfile runs npm ci");
    const workspaces = (JSON.parse(readFileSync(file("package.json"), "utf8")) as { workspaces: string[] })
      .workspaces;
    const packages = workspaces.flatMap((w) => {
      const dir = w.replace(/\/\*$/, "");
      return readdirSync(file(dir))
        .map((name) => `${dir}/${name}`)
        .filter((pkg) => existsSync(file(`${pkg}/package.json`)));
    });
    assert.ok(packages.length >= 10, `workspace packages found: ${packages.join(", ")}`);
    for (const pkg of packages) {
      const copy = lines.indexOf(`COPY ${pkg}/package.json ${pkg}/`);
      assert.ok(copy >= 0 && copy < npmCi, `Dockerfile copies ${pkg}/package.json before npm ci`);
    }
    assert.match(docker, /ENTRYPOINT \["node", "services\/cli\/bin\/jetstep\.mjs"\]/);
    assert.ok(existsSync(file("services/cli/bin/jetstep.mjs")));
  });

  it("runs every Jetstep service exactly once with a command `jetstep start` accepts", () => {
    const seen = new Set<string>();
    for (const [name, s] of jetstepServices) {
      const args = parseStart((s.command as string[]).slice(1), envOf(s), false);
      for (const svc of args.services) seen.add(svc);
      assert.equal(args.natsUrls[0], "nats://nats:4222", `${name} connects to the nats service`);
      for (const app of ["http://hello:3000/api/inngest", "http://orders:3001/api/inngest"])
        assert.equal(appUrlPolicy(args.allowAppUrls).problem(app), null, `${name} may call ${app}`);
      assert.ok(
        envOf(s).OTEL_EXPORTER_OTLP_ENDPOINT?.startsWith("http://jaeger:4318"),
        `${name} exports traces to jaeger`,
      );
    }
    assert.deepEqual([...seen].sort(), [...SERVICES].sort());
  });

  it("publishes the gateway on its --port, and the example app syncs with it", () => {
    const gateway = services.gateway as ComposeService;
    const args = parseStart((gateway.command as string[]).slice(1), envOf(gateway), false);
    assert.ok(gateway.ports?.includes(`${args.port}:${args.port}`));
    const hello = services.hello as ComposeService;
    assert.ok(existsSync(file((hello.entrypoint as string[]).at(-1) as string)));
    assert.equal(envOf(hello).JETSTEP_BASE_URL, `http://gateway:${args.port}`);
    const orders = services.orders as ComposeService;
    assert.deepEqual(args.appUrls, [
      `http://hello:${envOf(hello).PORT}/api/inngest`,
      `http://orders:${envOf(orders).PORT}/api/inngest`,
    ]);
    assert.equal(
      envOf(hello).JETSTEP_SIGNING_KEY,
      envOf(gateway).JETSTEP_SIGNING_KEY,
      "app and server share the signing key",
    );
  });

  it("runs the shop example: orders over HTTP (synced by the gateway), billing as a NATS worker", () => {
    const gateway = services.gateway as ComposeService;
    const args = parseStart((gateway.command as string[]).slice(1), envOf(gateway), false);
    for (const name of ["orders", "billing"]) {
      const s = services[name] as ComposeService;
      const entry = s.entrypoint as string[];
      const script = entry.find((a) => a.endsWith(".ts")) as string;
      assert.ok(existsSync(file(script)), `${name} runs an existing script (${script})`);
      assert.equal(entry.at(-1), name, `${name} starts the ${name} service`);
      assert.equal(s.image, "jetstep:local");
      assert.equal(
        envOf(s).JETSTEP_BASE_URL,
        `http://gateway:${args.port}`,
        `${name} sends events to the gateway`,
      );
      assert.equal(
        envOf(s).JETSTEP_SIGNING_KEY,
        envOf(gateway).JETSTEP_SIGNING_KEY,
        `${name} holds the signing key`,
      );
      assert.ok(
        args.eventKeys.includes(envOf(s).JETSTEP_EVENT_KEY as string),
        `${name} sends events with a key the gateway accepts`,
      );
      assert.equal(
        envOf(s).OTEL_EXPORTER_OTLP_ENDPOINT,
        "http://jaeger:4318",
        `${name} sends its spans to Jaeger`,
      );
      assert.ok(dependsOn(s).includes("jaeger"), `${name} starts after jaeger`);
    }
    const billing = services.billing as ComposeService;
    assert.equal(envOf(billing).NATS_URL, args.natsUrls[0], "billing works on the NATS the services use");
    assert.ok(dependsOn(billing).includes("nats"));
  });

  it("runs the pinned nats-server with JetStream and sync_interval: always", () => {
    const nats = services.nats as ComposeService;
    assert.equal(nats.image, `nats:${Tools.natsServer.version}-alpine`, "the version jetstep install builds");
    const text = readFileSync(natsConfigFile(), "utf8");
    assert.match(text, /jetstream \{/);
    assert.match(text, /sync_interval: always/);
    assert.match(text, /^port: 4222$/m);
    assert.deepEqual(nats.ports ?? [], [], "NATS and its monitoring are not published on the host");
  });

  it("lets only the users of infra/nats/auth.conf on NATS, each party with the credentials compose gives it", async () => {
    // The compose NATS config, run here: the include inlined (the server reads a copy elsewhere),
    // the monitoring port dropped (our flags pick the client port and the store).
    const config = readFileSync(natsConfigFile(), "utf8")
      .replace(/^include \.\/auth\.conf$/m, readFileSync(file("infra/nats/auth.conf"), "utf8"))
      .replace(/^\s*(http_port|store_dir):.*$/gm, "");
    assert.match(config, /authorization \{/, "single.conf includes auth.conf");
    Object.assign(process.env, envOf(services.nats as ComposeService));
    const server = await startNatsServer({ configText: config });
    const opened: NatsConnection[] = [];
    try {
      await assert.rejects(connect({ servers: server.url, reconnect: false }), /Authorization Violation/i);
      // The services, as `jetstep start` connects with compose's environment.
      const gateway = services.gateway as ComposeService;
      const args = parseStart((gateway.command as string[]).slice(1), envOf(gateway), false);
      const nc = await connect({
        servers: server.url,
        ...natsAuthOptions(args.auth, () => new Uint8Array()),
      });
      opened.push(nc);
      const info = (await nc.request("$JS.API.INFO", "", { timeout: 5000 })).json<{ type: string }>();
      assert.equal(info.type, "io.nats.jetstream.api.v1.account_info_response", "services use JetStream");
      // The billing worker, as our SDK connects with compose's environment: it gets billing's calls.
      const billingEnv = envOf(services.billing as ComposeService);
      const billing = new Jetstep({ id: "billing", env: billingEnv });
      const w = await worker({ client: billing, functions: [], servers: server.url, register: false });
      try {
        const h = natsHeaders();
        h.set(WorkerHeaders.query, "fnId=billing-none&stepId=step");
        const answer = await nc.request(Subjects.workerCall("billing"), "{}", { headers: h, timeout: 5000 });
        assert.ok(answer.headers?.get(WorkerHeaders.status), "the worker answered a call");
      } finally {
        await w.close();
      }
    } finally {
      for (const c of opened) await c.close().catch(() => undefined);
      await server.stop();
    }
  });

  it("runs the pinned Jaeger v2 with infra/jaeger/config.yaml, the config the Jaeger test runs", () => {
    const jaeger = services.jaeger as ComposeService;
    // The image of the release `jetstep install jaeger` builds (Go module v1.76.0 = Jaeger v2.13.0):
    // bump the two together.
    assert.equal(Tools.jaeger.version, "1.76.0");
    assert.equal(jaeger.image, "jaegertracing/jaeger:2.13.0");
    const mount = (jaeger.volumes ?? []).map((v) => v.split(":")).find(([src]) => src?.endsWith(".yaml"));
    assert.ok(mount, "a config file is mounted");
    const [src, target] = mount as [string, string];
    assert.equal(
      file(src),
      JAEGER_CONFIG,
      "compose mounts the config test/support/jaeger.ts starts Jaeger with",
    );
    assert.deepEqual(jaeger.command, ["--config", target], "and passes it with --config");
    // The config binds JAEGER_LISTEN_HOST (localhost by default): in a container, every interface.
    assert.equal(envOf(jaeger).JAEGER_LISTEN_HOST, "0.0.0.0");

    const config = parse(readFileSync(JAEGER_CONFIG, "utf8")) as {
      service: { pipelines: { traces: { receivers: string[] } } };
      receivers: { otlp: { protocols: Record<"http" | "grpc", { endpoint: string }> } };
      extensions: { jaeger_query: { http: { endpoint: string } } };
    };
    assert.deepEqual(config.service.pipelines.traces.receivers, ["otlp"]);
    const portOf = (endpoint: string) => {
      assert.match(endpoint, /^\$\{env:JAEGER_LISTEN_HOST:-localhost\}:\d+$/);
      return endpoint.split(":").at(-1) as string;
    };
    const published = [
      portOf(config.extensions.jaeger_query.http.endpoint),
      portOf(config.receivers.otlp.protocols.http.endpoint),
      portOf(config.receivers.otlp.protocols.grpc.endpoint),
    ];
    assert.deepEqual(published, ["16686", "4318", "4317"]);
    for (const port of published) assert.ok(jaeger.ports?.includes(`${port}:${port}`), `publishes ${port}`);
  });

  it("keeps the host's node_modules, .git and dev store out of the image (.dockerignore)", () => {
    const ignored = readFileSync(file(".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    for (const entry of ["**/node_modules", ".git", ".jetstep"]) assert.ok(ignored.includes(entry), entry);
  });

  it("checks every service's health where it answers, and starts each after what it needs is healthy", () => {
    const probe = (s: ComposeService) => (s.healthcheck?.test ?? []).join(" ");
    for (const [name, s] of Object.entries(services))
      assert.ok(s.healthcheck?.test?.length, `${name} has a health check`);
    for (const [name, s] of jetstepServices) {
      const args = parseStart((s.command as string[]).slice(1), envOf(s), false);
      assert.ok(args.healthPort, `${name} serves /healthz`);
      assert.ok(
        probe(s).includes(`http://127.0.0.1:${args.healthPort}/healthz`),
        `${name} checks its --health-port`,
      );
      assert.deepEqual(s.depends_on, {
        nats: { condition: "service_healthy" },
        jaeger: { condition: "service_started" },
      });
    }
    for (const name of ["hello", "orders"]) {
      const s = services[name] as ComposeService;
      assert.ok(
        probe(s).includes(`http://127.0.0.1:${envOf(s).PORT}/api/inngest`),
        `${name} checks its serve path`,
      );
    }
    const billing = services.billing as ComposeService;
    assert.ok(
      probe(billing).includes(`http://127.0.0.1:${envOf(billing).HEALTH_PORT}/`),
      "billing checks its HEALTH_PORT",
    );
    const monitor = /^http_port: (\d+)$/m.exec(readFileSync(natsConfigFile(), "utf8"))?.[1];
    assert.ok(probe(services.nats as ComposeService).includes(`http://127.0.0.1:${monitor}/healthz`));
    assert.ok(probe(services.jaeger as ComposeService).includes("http://127.0.0.1:16686/"));
    for (const name of ["hello", "orders", "billing"])
      assert.equal(
        ((services[name] as ComposeService).depends_on as Record<string, { condition: string }>).gateway
          ?.condition,
        "service_healthy",
      );
  });

  it("gives the apps an event key the gateway accepts, and says which one to curl with", () => {
    const gateway = services.gateway as ComposeService;
    const args = parseStart((gateway.command as string[]).slice(1), envOf(gateway), false);
    for (const name of ["hello", "orders", "billing"])
      assert.ok(
        args.eventKeys.includes(envOf(services[name] as ComposeService).JETSTEP_EVENT_KEY as string),
        name,
      );
    const compose = readFileSync(file("docker-compose.yml"), "utf8");
    assert.ok(
      compose.includes(`localhost:8288/e/${args.eventKeys[0]}`),
      "the compose file shows the key to send with",
    );
    assert.ok(
      readFileSync(file("README.md"), "utf8").includes(`/e/${args.eventKeys[0]}`),
      "so does the README",
    );
  });

  it("has a consistent 3-node cluster config in infra/", () => {
    const nodes = [1, 2, 3].map((i) => readFileSync(file(`infra/nats/cluster/n${i}.conf`), "utf8"));
    const names = nodes.map((t) => /server_name: (\S+)/.exec(t)?.[1]);
    assert.deepEqual(names, ["n1", "n2", "n3"]);
    const clusterPorts = nodes.map((t) => /cluster \{[^}]*port: (\d+)/s.exec(t)?.[1]);
    for (const t of nodes) {
      for (const [i, p] of clusterPorts.entries())
        assert.ok(t.includes(`nats-route://n${i + 1}:${p}`), "routes name every node");
      assert.match(t, /sync_interval: always/);
    }
  });
});
