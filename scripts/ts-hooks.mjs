// Module hooks that run the repo's TypeScript in node without tsx, for the test suite (registered
// by ts-register.mjs). `npm test` starts a node process per test file and per app it serves, and
// tsx cost about half a CPU-second in each before any test code ran (loading its own loader and
// esbuild); these hooks do no work beyond reading a file for modules compiled ahead of time.
//
// run-tests.mjs compiles every *.ts under the source roots into `data.outDir` first (one esbuild
// run, type annotations stripped, an inline source map so stack traces name the .ts lines). A .ts
// or .mts file it did not compile, or changed since, is compiled here on demand with esbuild.
import { readFileSync, statSync } from "node:fs";
import { relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

let root = "";
let outDir = "";
let esbuild;

export function initialize(data) {
  root = data.root;
  outDir = data.outDir;
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith("file:") || !(url.endsWith(".ts") || url.endsWith(".mts")))
    return nextLoad(url, context);
  const path = fileURLToPath(url);
  return { format: "module", source: compiled(path) ?? (await compile(path)), shortCircuit: true };
}

/** The ahead-of-time output for `path`, unless there is none or the source changed since. */
function compiled(path) {
  const rel = relative(root, path);
  if (!rel.endsWith(".ts") || rel.startsWith("..") || rel.split(sep).includes("node_modules"))
    return undefined;
  const out = `${outDir}/${rel.slice(0, -".ts".length)}.js`;
  try {
    if (statSync(out).mtimeMs < statSync(path).mtimeMs) return undefined;
    return readFileSync(out, "utf8");
  } catch {
    return undefined;
  }
}

async function compile(path) {
  esbuild ??= await import("esbuild");
  const result = await esbuild.transform(readFileSync(path, "utf8"), {
    loader: "ts",
    format: "esm",
    target: "node20",
    sourcemap: "inline",
    sourcefile: path,
  });
  return result.code;
}
