#!/usr/bin/env node
// Compiles the repo's TypeScript (shared, services, test, examples, bench, scripts) to JavaScript
// beside nothing: into `--out` (default dist/test-js), one .js per .ts at the same relative path,
// for ts-hooks.mjs to load. Types are only stripped (esbuild, one file at a time: no bundling, the
// imports stay as written); each file carries an inline source map naming its .ts file, so stack
// traces and test locations point at the sources. Files whose output is newer are skipped.
//
//   node scripts/compile-ts.mjs [--out <dir>]
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { transform } from "esbuild";
import { repoFiles } from "./repo-files.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const ROOTS = ["shared", "services", "test", "examples", "bench", "scripts"];
const outFlag = process.argv.indexOf("--out");
const outDir = outFlag > 0 ? process.argv[outFlag + 1] : join(root, "dist/test-js");

const sources = repoFiles(root, ROOTS, (name) => name.endsWith(".ts") && !name.endsWith(".d.ts"));
let compiled = 0;
await Promise.all(
  sources.map(async (path) => {
    const out = join(outDir, `${relative(root, path).slice(0, -".ts".length)}.js`);
    try {
      if (statSync(out).mtimeMs >= statSync(path).mtimeMs) return;
    } catch {
      // not compiled yet
    }
    const result = await transform(readFileSync(path, "utf8"), {
      loader: "ts",
      format: "esm",
      target: "node20",
      sourcemap: "inline",
      // Resolved against the module's own URL (the .ts file): the map names the file itself.
      sourcefile: basename(path),
    });
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, result.code);
    compiled++;
  }),
);
console.log(`compile-ts: ${compiled} of ${sources.length} file(s) compiled into ${relative(root, outDir)}`);
