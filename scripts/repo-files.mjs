// The repository's own files under `roots` whose names `keep` accepts (absolute paths): what
// run-tests.mjs runs and compile-ts.mjs compiles. Skips dot-entries, node_modules, dist, coverage.
import { readdirSync } from "node:fs";
import { join } from "node:path";

const SKIP_DIRS = new Set(["node_modules", "dist", "coverage"]);

export function repoFiles(root, roots, keep) {
  const out = [];
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if (err.code === "ENOENT") return;
      throw err;
    }
    for (const e of entries) {
      if (e.name.startsWith(".") || SKIP_DIRS.has(e.name)) continue;
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.isFile() && keep(e.name)) out.push(path);
    }
  };
  for (const r of roots) walk(join(root, r));
  return out;
}
