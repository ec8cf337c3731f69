/**
 * The package a user installs. `scripts/build-package.mjs` builds and packs `jetstep`; the tarball
 * is installed into an empty folder outside the repository, where a plain-JavaScript app
 * (`node app.mjs`) and a TypeScript app (checked and compiled by tsc against the installed
 * declarations, then run by node) each run a function through `jetstep dev` started from the
 * installed binary. No tsx and no workspace there: only the tarball and its declared dependencies.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Tools } from "@jetstep/toolchain";
import { build } from "esbuild";
import ts from "typescript";
import { freePort, spawnProcess, type TsProcess } from "../support/index.ts";
import { sendEvents, waitForApp, waitForEventRuns } from "./harness.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TSC = join(ROOT, "node_modules/typescript/bin/tsc");
const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"));
const VERSION: string = readJson(join(ROOT, "shared/sdk/package.json")).version;
const TYPES_NODE: string = readJson(join(ROOT, "package.json")).devDependencies["@types/node"];
const run = promisify(execFile);

/**
 * The environment without the `npm_*` settings an enclosing `npm test` exports (its
 * `npm_config_local_prefix` would send npm back to this repository).
 */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

const JS_APP = `import http from "node:http";
import { Jetstep, serve } from "jetstep";

const js = new Jetstep({ id: "package-js" }); // the gateway: JETSTEP_BASE_URL
const greet = js.createFunction({ id: "greet" }, { event: "package/greet" }, async ({ event, step }) => {
  const name = await step.run("shout", () => String(event.data.name).toUpperCase());
  return step.run("greet", () => \`hello \${name}\`);
});
const port = Number(process.env.APP_PORT);
http.createServer(serve({ client: js, functions: [greet] })).listen(port, "127.0.0.1", () => {
  console.log(\`listening on \${port}\`);
});
`;

const TS_APP = `import http from "node:http";
import { Jetstep, NonRetriableError, serve } from "jetstep";

type SumData = { numbers: number[] };

const js = new Jetstep({ id: "package-ts" });
const sum = js.createFunction<SumData, { total: number; doubled: number }>(
  { id: "sum", retries: 1 },
  { event: "package/sum" },
  async ({ event, step }) => {
    const { numbers } = event.data;
    if (!Array.isArray(numbers)) throw new NonRetriableError("data.numbers must be an array");
    const total: number = await step.run("add", () => numbers.reduce((a, b) => a + b, 0));
    const doubled: number = await step.run("double", () => total * 2);
    return { total, doubled };
  },
);
// The declarations are types, not \`any\`: a numeric id does not type-check (never called).
export const misuse = () =>
  // @ts-expect-error id is a string
  js.createFunction({ id: 42 }, { event: "package/never" }, async () => null);
const port = Number(process.env.APP_PORT);
http.createServer(serve({ client: js, functions: [sum] })).listen(port, "127.0.0.1", () => {
  console.log(\`listening on \${port}\`);
});
`;

const TS_CONFIG = {
  compilerOptions: {
    strict: true,
    module: "nodenext",
    moduleResolution: "nodenext",
    target: "es2022",
    types: ["node"],
    outDir: "build",
    noEmitOnError: true,
    // As `tsc --init` writes it; the test checks index.d.ts itself separately (declarationErrors).
    skipLibCheck: true,
  },
  files: ["app.ts"],
};

/**
 * The errors TypeScript finds in the installed index.d.ts itself (strict, nodenext, skipLibCheck
 * off for this one file, so a name the bundling lost is an error, not a silent \`any\`), resolving
 * its imports from the app's node_modules.
 */
function declarationErrors(appDir: string): string[] {
  const file = join(appDir, "node_modules/jetstep/index.d.ts");
  const program = ts.createProgram([file], {
    strict: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: ["node"],
    typeRoots: [join(appDir, "node_modules/@types")],
    skipLibCheck: false,
    noEmit: true,
  });
  const source = program.getSourceFile(file);
  assert.ok(source, file);
  return [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...program.getSyntacticDiagnostics(source),
    ...program.getSemanticDiagnostics(source),
  ].map((d) => {
    const at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
    return `${at ? `${at.line + 1}:${at.character + 1} ` : ""}${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
  });
}

/** The package's files, relative to its folder. */
function filesOf(dir: string, prefix = ""): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesOf(dir, `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
  );
}

/** The npm packages a built file imports (statically or by `import()`), read by esbuild. */
async function importedPackages(file: string): Promise<string[]> {
  const result = await build({
    entryPoints: [file],
    bundle: true,
    write: false,
    metafile: true,
    packages: "external",
    platform: "node",
    format: "esm",
    logLevel: "silent",
  });
  const specs = Object.values(result.metafile.outputs).flatMap((o) =>
    o.imports.filter((i) => i.external).map((i) => i.path),
  );
  const names = specs
    .filter((s) => !s.startsWith("node:") && !builtinModules.includes(s))
    .map((s) =>
      s
        .split("/")
        .slice(0, s.startsWith("@") ? 2 : 1)
        .join("/"),
    );
  return [...new Set(names)].sort();
}

describe("the jetstep package, installed from its tarball", () => {
  const work = mkdtempSync(join(tmpdir(), "jetstep-package-"));
  const appDir = join(work, "app");
  const pkgDir = join(appDir, "node_modules", "jetstep");
  const procs: TsProcess[] = [];
  const started = (p: TsProcess) => {
    procs.push(p);
    return p;
  };

  before(async () => {
    const buildDir = join(work, "build");
    const built = await run(
      process.execPath,
      [join(ROOT, "scripts/build-package.mjs"), "--out", join(buildDir, "package")],
      {
        cwd: ROOT,
        env: cleanEnv(),
      },
    );
    const tarball = join(buildDir, `jetstep-${VERSION}.tgz`);
    assert.ok(built.stdout.includes(tarball) && existsSync(tarball), built.stdout);
    mkdirSync(appDir);
    writeFileSync(join(appDir, "package.json"), `${JSON.stringify({ private: true, type: "module" })}\n`);
    await run(
      "npm",
      ["install", tarball, `@types/node@${TYPES_NODE}`, "--prefer-offline", "--no-audit", "--no-fund"],
      { cwd: appDir, env: cleanEnv() },
    );
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.kill("SIGTERM")));
    rmSync(work, { recursive: true, force: true });
  });

  it("holds built JavaScript, sound declarations and the UI, and imports only builtins and its dependencies", async () => {
    const pkg = readJson(join(pkgDir, "package.json"));
    assert.equal(pkg.name, "jetstep");
    assert.equal(pkg.version, VERSION);
    assert.deepEqual(pkg.bin, { jetstep: "cli.js" });
    assert.deepEqual(pkg.exports["."], { types: "./index.d.ts", default: "./index.js" });
    const files = filesOf(pkgDir);
    assert.deepEqual(
      files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")),
      [],
      "no TypeScript sources",
    );
    assert.ok(files.includes("ui/index.html") && files.includes("ui/app.js"), files.join(", "));
    // cli.js inlines its npm dependencies (pino aside), with their licences beside it.
    const notices = readFileSync(join(pkgDir, "THIRD_PARTY_NOTICES.md"), "utf8");
    for (const inlined of ["fastify", "@nats-io/jetstream", "@nats-io/kv", "yaml"]) {
      assert.match(notices, new RegExp(`^## ${inlined}@\\d`, "m"), `${inlined} in THIRD_PARTY_NOTICES.md`);
      assert.equal(pkg.dependencies[inlined], undefined, `${inlined} is inlined, not a dependency`);
    }
    const deps = Object.keys(pkg.dependencies).sort();
    const imported = [
      ...new Set([
        ...(await importedPackages(join(pkgDir, "index.js"))),
        ...(await importedPackages(join(pkgDir, "cli.js"))),
      ]),
    ];
    assert.deepEqual(
      imported.filter((n) => !deps.includes(n)),
      [],
      "every imported package is a dependency",
    );
    // pino-pretty is loaded by pino from its name (jetstep dev's output on a terminal).
    assert.deepEqual(
      deps.filter((d) => !imported.includes(d)),
      ["pino-pretty"],
      "every dependency but pino-pretty is imported",
    );
    assert.deepEqual(declarationErrors(appDir), [], "index.d.ts type-checks");
  });

  it("runs `jetstep --help` and `jetstep install` through npx, with the pinned nats-server", async () => {
    const npx = (...args: string[]) =>
      run("npx", ["--no", "--", "jetstep", ...args], { cwd: appDir, env: cleanEnv() });
    const [help, installed] = await Promise.all([
      npx("--help"),
      npx("install", "nats-server", "--print-path"),
    ]);
    assert.match(help.stdout, /^usage: jetstep <command>/);
    const { natsServer } = Tools;
    assert.ok(
      installed.stdout.trim().endsWith(`/nats-server/${natsServer.version}/nats-server`),
      installed.stdout,
    );
  });

  it("runs a JavaScript app and a TypeScript app on jetstep dev from the package", async () => {
    const [gatewayPort, jsPort, tsPort] = [await freePort(), await freePort(), await freePort()];
    const gateway = `http://127.0.0.1:${gatewayPort}`;
    writeFileSync(join(appDir, "app.mjs"), JS_APP);
    writeFileSync(join(appDir, "app.ts"), TS_APP);
    writeFileSync(join(appDir, "tsconfig.json"), `${JSON.stringify(TS_CONFIG, null, 2)}\n`);
    const appEnv = (port: number) => ({ APP_PORT: String(port), JETSTEP_BASE_URL: gateway });
    const appUrl = (port: number) => `http://127.0.0.1:${port}/api/inngest`;
    const jsApp = started(spawnProcess(process.execPath, ["app.mjs"], { cwd: appDir, env: appEnv(jsPort) }));
    await jsApp.waitForLine(/listening/, 30_000);
    // `npx jetstep dev` is node_modules/.bin/jetstep: run directly, it gets the signals itself
    // (npm exec does not pass SIGTERM on). It syncs the JavaScript app from -u.
    const dev = started(
      spawnProcess(
        join(appDir, "node_modules/.bin/jetstep"),
        ["dev", "--port", String(gatewayPort), "-u", appUrl(jsPort), "--json"],
        { cwd: appDir, env: { NATS_URL: undefined, JETSTEP_NATS_URL: undefined } },
      ),
    );
    // Meanwhile tsc type-checks app.ts against the installed index.d.ts and compiles it.
    await run(process.execPath, [TSC, "-p", "tsconfig.json"], { cwd: appDir }).catch((e) => {
      assert.fail(`tsc: ${e.stdout}${e.stderr}`);
    });
    const tsApp = started(
      spawnProcess(process.execPath, ["build/app.js"], { cwd: appDir, env: appEnv(tsPort) }),
    );
    await Promise.all([tsApp.waitForLine(/listening/, 30_000), dev.waitForLine(/dev server ready/, 60_000)]);
    // The TypeScript app syncs as a deployed app does: a PUT makes it register with the gateway.
    const synced = await fetch(appUrl(tsPort), { method: "PUT" });
    assert.equal(synced.status, 200, await synced.text());
    await Promise.all([waitForApp(gateway, "package-js"), waitForApp(gateway, "package-ts")]);

    const [jsEvent] = await sendEvents(gateway, { name: "package/greet", data: { name: "ada" } });
    const [tsEvent] = await sendEvents(gateway, { name: "package/sum", data: { numbers: [1, 2, 3] } });
    const [[jsRun], [tsRun]] = await Promise.all([
      waitForEventRuns(gateway, jsEvent as string),
      waitForEventRuns(gateway, tsEvent as string),
    ]);
    assert.equal(jsRun?.status, "Completed", JSON.stringify(jsRun));
    assert.equal(jsRun?.output, "hello ADA");
    assert.deepEqual(
      jsRun?.steps.map((s) => [s.name, s.status]),
      [
        ["shout", "completed"],
        ["greet", "completed"],
      ],
    );
    assert.equal(tsRun?.status, "Completed", JSON.stringify(tsRun));
    assert.deepEqual(tsRun?.output, { total: 6, doubled: 12 });

    // The dev UI, served from the package's ui/ folder.
    const page = await fetch(`${gateway}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>Jetstep/);
    assert.equal((await fetch(`${gateway}/ui/app.js`)).status, 200);
    assert.ok(
      existsSync(join(appDir, ".jetstep", "nats")),
      "the embedded nats-server's store is in the app's folder",
    );
  });
});
