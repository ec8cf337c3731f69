#!/usr/bin/env node
// Builds the npm package `jetstep` (the SDK and the `jetstep` binary) into a staging folder and
// packs it (`npm run build:package`):
//
//   node scripts/build-package.mjs                 dist/package/ and dist/jetstep-<version>.tgz
//   node scripts/build-package.mjs --out DIR       DIR/ and, beside it, the tarball
//   node scripts/build-package.mjs --no-pack       the staging folder only
//   node scripts/build-package.mjs --cli-only --out DIR
//                                                   cli.js and ui/ only (what `npm test` spawns as
//                                                   `jetstep`; DIR must be inside the repository, so
//                                                   the bundle finds its dependencies in node_modules)
//
// The staging folder holds:
//   index.js    the SDK (shared/sdk/src/index.ts), bundled by esbuild: ESM for Node 20, every
//               `@jetstep/*` workspace inlined, every other npm package left as an import
//   index.d.ts  its declarations, bundled by rollup-plugin-dts (`@jetstep/core`'s types inlined)
//   cli.js      the CLI (services/cli/src/main.ts), `#!/usr/bin/env node`, bundled with its npm
//               dependencies inlined but pino (see KEPT_EXTERNAL): loading ~1,200 files instead
//               of one bundle, `jetstep dev` spent 1.0-1.15 CPU-s up to ready against 0.57-0.63.
//               What it imports only when used (the OpenTelemetry SDK, the OTLP metric
//               exporters) is in chunks/. THIRD_PARTY_NOTICES.md lists what it inlines, with
//               each licence.
//   ui/         the dev UI's static files (services/ui/public), which cli.js serves
//   README.md, package.json (made here: `dependencies` are exactly the npm packages the bundles
//               leave as imports, each with the range its workspace declares)
// The workspaces' own package.json files keep pointing at src/*.ts: the repo runs TypeScript.
//
// The build fails, naming the file, when a bundled source imports an npm package its workspace's
// package.json does not list in `dependencies` (it would be missing from an install), or reads
// its own location (`import.meta.url` and the like mean something else once bundled); a failed
// build leaves no staging folder and no tarball of that version behind.
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { parseArgs } from "node:util";
import { build } from "esbuild";
import { rollup } from "rollup";
import { dts } from "rollup-plugin-dts";
import { root } from "./source-files.mjs";
import { NoticeError, thirdPartyNotices } from "./third-party-notices.mjs";

const SDK_ENTRY = "shared/sdk/src/index.ts";
const CLI_ENTRY = "services/cli/src/main.ts";
const UI_PUBLIC = "services/ui/public";
/** services/ui/src/index.ts finds public/ beside src/; in the package the files are in ui/, beside cli.js. */
const UI_MODULE = "services/ui/src/index.ts";
const UI_MODULE_BUNDLED = `import { fileURLToPath } from "node:url";
export const UI_DIR = fileURLToPath(new URL("./ui/", import.meta.url));
`;
/**
 * npm packages the bundles load by name at run time, so esbuild sees no import of them: pino
 * starts its transport `pino-pretty` (jetstep dev's output on a terminal) from a string. Each
 * must still appear in the bundle (else drop it here) and be declared by the workspace named.
 */
const LOADED_BY_NAME = [{ name: "pino-pretty", bundle: "cli.js", workspace: "shared/telemetry" }];
/**
 * npm packages cli.js leaves as imports although it inlines the others: pino starts its transports
 * (thread-stream's worker, then pino-pretty) from files it finds beside its own, which a bundle
 * does not have.
 */
const KEPT_EXTERNAL = ["pino", "pino-pretty"];

class BuildError extends Error {}

const readJson = (path) => JSON.parse(readFileSync(path, "utf8"));
const isBuiltin = (spec) => spec.startsWith("node:") || builtinModules.includes(spec);
/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
const packageOf = (spec) =>
  spec
    .split("/")
    .slice(0, spec.startsWith("@") ? 2 : 1)
    .join("/");
const isWorkspace = (name) => name === "jetstep" || name.startsWith("@jetstep/");
const repoPath = (abs) => relative(root, abs).split(sep).join("/");

/** The workspace folder (`shared/sdk`) of a repository file. */
function workspaceOf(file) {
  const [top, name] = repoPath(file).split("/");
  if ((top !== "shared" && top !== "services") || !name) {
    throw new BuildError(`${repoPath(file)} is bundled but belongs to no shared/ or services/ workspace`);
  }
  return `${top}/${name}`;
}

/**
 * esbuild plugin: workspaces are bundled, npm packages and Node builtins stay imports (each npm
 * import recorded in `imports` with the file that made it), the UI module is replaced by its
 * packaged form, and any other source that reads its own location stops the build.
 */
function packagePlugin(imports, inlineDeps, keptByDeps = new Map()) {
  return {
    name: "jetstep-package",
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (isBuiltin(args.path)) return { path: args.path, external: true };
        const name = packageOf(args.path);
        if (isWorkspace(name)) return undefined;
        const external = !inlineDeps || KEPT_EXTERNAL.includes(name);
        // An npm package's own imports: bundled with it, or (kept external) declared by us.
        if (args.importer.includes(`${sep}node_modules${sep}`)) {
          if (!external) return undefined;
          keptByDeps.set(name, repoPath(args.importer));
          return { path: args.path, external: true };
        }
        const [workspace, who] = [workspaceOf(args.importer), repoPath(args.importer)];
        imports.push({ name, workspace, who, verb: "imports", bundled: !external });
        return external ? { path: args.path, external: true } : undefined;
      });
      b.onLoad({ filter: /\.ts$/ }, (args) => {
        if (args.path.includes(`${sep}node_modules${sep}`)) return undefined;
        if (repoPath(args.path) === UI_MODULE) return { contents: UI_MODULE_BUNDLED, loader: "ts" };
        const text = readFileSync(args.path, "utf8");
        if (/import\.meta\.(url|dirname|filename|resolve)|__dirname|__filename/.test(text)) {
          throw new BuildError(
            `${repoPath(args.path)} reads its own location, which is cli.js's or index.js's once bundled: give it a packaged form in scripts/build-package.mjs (as ${UI_MODULE} has)`,
          );
        }
        return { contents: text, loader: "ts" };
      });
    },
  };
}

/**
 * Bundles `entry` into `outFile`; returns the npm packages it imports, each as `{ name, workspace,
 * who, verb }` (the importing file, its workspace).
 */
async function bundle(entry, outFile, banner) {
  const imports = [];
  await build({
    entryPoints: [join(root, entry)],
    outfile: outFile,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    logLevel: "warning",
    plugins: [packagePlugin(imports, false)],
    ...(banner ? { banner: { js: banner } } : {}),
  });
  return imports;
}

/**
 * cli.js: the CLI with its npm dependencies inlined (but KEPT_EXTERNAL), the imports done only
 * when used (`await import(...)`: the OpenTelemetry SDK, the OTLP metric exporters) split into
 * `chunks/`. Returns the npm imports (as `bundle`), the files bundled (for the notices) and the
 * KEPT_EXTERNAL packages that inlined packages import (name → importing file).
 */
async function bundleCli(outDir) {
  const imports = [];
  const keptByDeps = new Map();
  const result = await build({
    entryPoints: { cli: join(root, CLI_ENTRY) },
    outdir: outDir,
    chunkNames: "chunks/[name]-[hash]",
    splitting: true,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    logLevel: "warning",
    metafile: true,
    plugins: [packagePlugin(imports, true, keptByDeps)],
    // Bundled CommonJS packages call require(): ESM has none, so cli.js makes one.
    banner: {
      js: '#!/usr/bin/env node\nimport { createRequire as __jetstepRequire } from "node:module";\nconst require = __jetstepRequire(import.meta.url);',
    },
  });
  chmodSync(join(outDir, "cli.js"), 0o755);
  const inputs = Object.keys(result.metafile.inputs).map((f) => resolve(root, f));
  return { imports, inputs, keptByDeps };
}

/**
 * The package's `dependencies`: each package used with the range the using workspace
 * declares. Throws when a workspace imports a package it does not declare, or two workspaces
 * declare one package with different ranges.
 */
function dependenciesOf(imports) {
  const deps = {};
  const declaredBy = {};
  for (const { name, workspace, who, verb, bundled } of imports) {
    const range = readJson(join(root, workspace, "package.json")).dependencies?.[name];
    if (range === undefined) {
      throw new BuildError(
        `${who} ${verb} "${name}", which ${workspace}/package.json does not list in dependencies: add it there (the package's dependencies are taken from the workspaces')`,
      );
    }
    if (deps[name] !== undefined && deps[name] !== range) {
      throw new BuildError(
        `"${name}" is declared as ${deps[name]} by ${declaredBy[name]} and as ${range} by ${workspace}: make the ranges agree`,
      );
    }
    if (bundled) continue;
    deps[name] = range;
    declaredBy[name] = workspace;
  }
  return Object.fromEntries(Object.entries(deps).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * index.d.ts: the SDK's declarations in one file, by rollup-plugin-dts (TypeScript emits them,
 * rollup joins them). scripts/tsconfig.package-dts.json maps `@jetstep/*` to the workspaces'
 * sources, so their types are inlined; npm packages and builtins stay imports. Returns them.
 */
async function declarations(outFile) {
  const bundle = await rollup({
    input: join(root, SDK_ENTRY),
    plugins: [dts({ tsconfig: join(root, "scripts/tsconfig.package-dts.json") })],
    external: (id) => !id.startsWith(".") && !id.startsWith("/") && !isWorkspace(packageOf(id)),
    onwarn: (warning) => {
      throw new BuildError(`declarations: ${warning.message}`);
    },
  });
  try {
    await bundle.write({ file: outFile, format: "es" });
  } finally {
    await bundle.close();
  }
  const text = readFileSync(outFile, "utf8");
  return [...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+["']([^"']+)["']/gm)].map((m) => m[1]);
}

/** The SDK README without its repository-only parts (building the package, the layout), after a section on installing the package. */
function readme(version) {
  const { engines, overrides } = readJson(join(root, "package.json"));
  const node = engines.node;
  // The repo's overrides pin back transitive dependencies whose new majors ask for a newer Node
  // than they need; an app installing the package does not get them, and npm warns (EBADENGINE).
  const pinned = overrides
    ? `\n\nnpm may warn (EBADENGINE) that a dependency of a dependency asks for a newer Node: some new
majors raised \`engines\` without needing it, and Jetstep runs with them on Node ${node}. The
Jetstep repository pins them back; to do the same, put its pins in your app's \`package.json\`:
\`"overrides": ${JSON.stringify(overrides)}\`.`
    : "";
  const sdk = readFileSync(join(root, "shared/sdk/README.md"), "utf8")
    .replace(/\n## (The package|Layout)\n[\s\S]*$/, "\n")
    .replace(/\[([^\]]+)\]\((?!https?:)[^)]+\)/g, "$1")
    .replace(/^# .*\n/, "");
  return `# jetstep ${version}

Jetstep, a self-hosted durable-functions runtime speaking Inngest's protocol: the SDK
(\`import { Jetstep, serve } from "jetstep"\`) and the \`jetstep\` command in one package.

\`\`\`sh
npm install ./jetstep-${version}.tgz      # the tarball that \`npm run build:package\` makes in the Jetstep repository
npx jetstep dev -u http://127.0.0.1:3000/api/inngest   # gateway, UI and API on http://127.0.0.1:8288
\`\`\`

\`jetstep dev\` runs an embedded nats-server: it uses \`NATS_SERVER_BIN\`, else the pinned build in
\`~/.cache/jetstep\` (\`npx jetstep install nats-server\` makes it; needs Go), else \`nats-server\` on
\`PATH\`. \`npx jetstep --help\` lists the commands (\`dev\`, \`start\`, \`install\`). Node ${node};
TypeScript apps also need \`@types/node\`.${pinned}
${sdk}`;
}

/** The generated package.json. */
function manifest(version, dependencies) {
  return {
    name: "jetstep",
    version,
    description: "Jetstep: durable functions on NATS JetStream (SDK and the jetstep CLI)",
    type: "module",
    main: "./index.js",
    types: "./index.d.ts",
    exports: {
      ".": { types: "./index.d.ts", default: "./index.js" },
      "./package.json": "./package.json",
    },
    bin: { jetstep: "cli.js" },
    engines: readJson(join(root, "package.json")).engines,
    dependencies,
  };
}

/** The SDK's version: shared/sdk/package.json's, which src/version.ts must repeat. */
function sdkVersion() {
  const { version } = readJson(join(root, "shared/sdk/package.json"));
  const source = readFileSync(join(root, "shared/sdk/src/version.ts"), "utf8");
  if (!source.includes(`SDK_VERSION = "${version}"`)) {
    throw new BuildError(
      `shared/sdk/src/version.ts's SDK_VERSION is not ${version} (shared/sdk/package.json)`,
    );
  }
  return version;
}

/** The declarations import only Node builtins and dependencies (the bundles do by construction). */
function checkDeclarations(specs, dependencies) {
  const stray = specs.filter((s) => !isBuiltin(s) && !(packageOf(s) in dependencies));
  if (stray.length > 0) {
    throw new BuildError(
      `index.d.ts imports ${stray.join(", ")}, which the bundles do not: not a dependency`,
    );
  }
}

async function buildPackage(outDir, version) {
  mkdirSync(outDir, { recursive: true });
  const [sdkImports, cli] = await Promise.all([
    bundle(SDK_ENTRY, join(outDir, "index.js")),
    bundleCli(outDir),
  ]);
  const cliImports = cli.imports;
  writeFileSync(join(outDir, "THIRD_PARTY_NOTICES.md"), thirdPartyNotices(cli.inputs));
  const byName = LOADED_BY_NAME.map(({ name, bundle: file, workspace }) => {
    if (!readFileSync(join(outDir, file), "utf8").includes(`"${name}"`)) {
      throw new BuildError(`${file} no longer names "${name}": drop it from LOADED_BY_NAME`);
    }
    return { name, workspace, who: file, verb: "loads" };
  });
  const dependencies = dependenciesOf([...sdkImports, ...cliImports, ...byName]);
  for (const [name, who] of cli.keptByDeps) {
    if (!(name in dependencies))
      throw new BuildError(
        `${who} (inlined into cli.js) imports "${name}", left as an import but not a dependency: a workspace must declare and import it`,
      );
  }
  checkDeclarations(await declarations(join(outDir, "index.d.ts")), dependencies);
  cpSync(join(root, UI_PUBLIC), join(outDir, "ui"), { recursive: true });
  writeFileSync(join(outDir, "README.md"), readme(version));
  writeFileSync(
    join(outDir, "package.json"),
    `${JSON.stringify(manifest(version, dependencies), null, 2)}\n`,
  );
  return dependencies;
}

/**
 * `npm pack` of the staging folder into its parent folder; returns the tarball's path. Without the
 * `npm_*` settings an enclosing `npm run` exports: its `npm_config_local_prefix` is this repository,
 * which npm would pack instead.
 */
function pack(outDir) {
  const dest = dirname(outDir);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  const out = execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", dest], {
    cwd: outDir,
    env,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [{ filename }] = JSON.parse(out);
  return join(dest, basename(filename));
}

/** The CLI alone (`--cli-only`): cli.js and the UI beside it, checked as the package's are. */
async function buildCli(outDir) {
  mkdirSync(outDir, { recursive: true });
  dependenciesOf((await bundleCli(outDir)).imports);
  cpSync(join(root, UI_PUBLIC), join(outDir, "ui"), { recursive: true });
}

async function main() {
  const { values } = parseArgs({
    options: {
      out: { type: "string" },
      "no-pack": { type: "boolean", default: false },
      "cli-only": { type: "boolean", default: false },
    },
  });
  const outDir = resolve(values.out ?? join(root, "dist/package"));
  const started = Date.now();
  if (values["cli-only"]) {
    rmSync(outDir, { recursive: true, force: true });
    try {
      await buildCli(outDir);
    } catch (e) {
      rmSync(outDir, { recursive: true, force: true });
      if (!(e instanceof BuildError) && !e.errors) throw e;
      console.error(`build-package: ${e.message}`);
      process.exit(1);
    }
    console.log(`build-package: cli.js in ${outDir} (${Date.now() - started} ms)`);
    return;
  }
  try {
    const version = sdkVersion();
    // A failed build leaves neither a half-built folder nor an older tarball to be taken for it.
    for (const stale of [outDir, join(dirname(outDir), `jetstep-${version}.tgz`)]) {
      rmSync(stale, { recursive: true, force: true });
    }
    const dependencies = await buildPackage(outDir, version);
    console.log(
      `build-package: jetstep ${version} in ${outDir} (${Date.now() - started} ms); dependencies: ${Object.keys(dependencies).join(", ")}`,
    );
    if (!values["no-pack"]) console.log(`build-package: ${pack(outDir)}`);
  } catch (e) {
    rmSync(outDir, { recursive: true, force: true });
    if (!(e instanceof BuildError) && !(e instanceof NoticeError) && !e.errors) throw e;
    console.error(`build-package: ${e.message}`);
    process.exit(1);
  }
}

await main();
