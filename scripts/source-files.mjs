// The source files the repository's checks read (check-size, check-imports): `.ts` files under the
// given top-level directories, without tests, declarations, dependencies or build output.
import { readdirSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("..", import.meta.url));

function walk(dir, out) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith(".") || e.name === "node_modules" || e.name === "dist") continue;
    const path = join(dir, e.name);
    if (e.isDirectory()) walk(path, out);
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") && !e.name.endsWith(".d.ts"))
      out.push(relative(root, path).split(sep).join("/"));
  }
  return out;
}

/** Repository-relative paths (with `/`) of the source files under each of `dirs`. */
export function sourceFiles(...dirs) {
  return dirs.flatMap((d) => walk(join(root, d), []));
}
