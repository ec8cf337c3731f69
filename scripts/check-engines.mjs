#!/usr/bin/env node
// One Node version story: the root package.json's `engines.node` is the Node Jetstep supports (CI
// and the Dockerfile run its major). Every installed dependency must accept the oldest Node that
// range allows; one that asks for newer (a new major of a transitive dependency raising its
// engines, as @nats-io/nuid 3 and cookie 2 did) fails this check, naming who pulls it in, until the
// tree is pinned back (`overrides` in package.json) or `engines` is raised everywhere on purpose.
//
//   node scripts/check-engines.mjs      check (CI runs it with the lint)
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import semver from "semver";
import { root } from "./source-files.mjs";

const wanted = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).engines?.node;
const oldest = wanted && semver.minVersion(wanted);
if (!oldest) {
  console.error("check-engines: package.json has no usable engines.node");
  process.exit(1);
}

/** Every package under `dir`'s node_modules (scoped ones and nested node_modules included). */
function* packages(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.name.startsWith(".") || !e.isDirectory()) continue;
    const path = join(dir, e.name);
    if (e.name.startsWith("@")) {
      yield* packages(path);
      continue;
    }
    yield path;
    yield* packages(join(path, "node_modules"));
  }
}

const refused = [];
for (const dir of packages(join(root, "node_modules"))) {
  let pkg;
  try {
    pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  } catch {
    continue;
  }
  const range = pkg.engines?.node;
  if (typeof range === "string" && !semver.satisfies(oldest, range))
    refused.push(`  ${pkg.name}@${pkg.version} wants node ${range} (${relative(root, dir)})`);
}
if (refused.length > 0) {
  console.error(
    `check-engines: package.json says node ${wanted}, but these dependencies refuse ${oldest} (\`npm ls <name>\` shows who pulls them in):\n${refused.join("\n")}`,
  );
  process.exit(1);
}
console.log(`check-engines: ok (every dependency accepts node ${oldest})`);
