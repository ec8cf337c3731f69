#!/usr/bin/env node
// Size rule for source files (tests excepted): no file over 400 lines, no function over 80.
// Files and functions over the limit when the rule came in are listed in scripts/size-baseline.json
// with their size then; they may shrink but not grow, and a new one may not appear. Shrink one
// under the limit and drop it from the baseline (`--update` rewrites the baseline from the code,
// for that purpose only: it refuses to add or grow an entry).
//
//   node scripts/check-size.mjs            check (CI runs it with the lint)
//   node scripts/check-size.mjs --update   drop entries that are now within the limits
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { root, sourceFiles } from "./source-files.mjs";

const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 80;
const baselinePath = join(root, "scripts/size-baseline.json");

/** Every file and function over its limit, as `file` or `file#name` → lines. */
function measure() {
  const over = {};
  for (const file of sourceFiles("shared", "services")) {
    const text = readFileSync(join(root, file), "utf8");
    const lines = text.split("\n").length;
    if (lines > MAX_FILE_LINES) over[file] = lines;
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const names = new Map();
    const visit = (node, owner) => {
      const isFn =
        ts.isFunctionDeclaration(node) ||
        ts.isMethodDeclaration(node) ||
        ts.isConstructorDeclaration(node) ||
        ts.isArrowFunction(node) ||
        ts.isFunctionExpression(node) ||
        ts.isGetAccessorDeclaration(node) ||
        ts.isSetAccessorDeclaration(node);
      let name = owner;
      if (isFn) {
        const own = ts.isConstructorDeclaration(node) ? "constructor" : node.name?.getText(sf);
        const parent = ts.isVariableDeclaration(node.parent) ? node.parent.name.getText(sf) : undefined;
        name = [owner, own ?? parent ?? "(anonymous)"].filter(Boolean).join(".");
        const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
        const end = sf.getLineAndCharacterOfPosition(node.end).line;
        if (end - start + 1 > MAX_FUNCTION_LINES) {
          // Two anonymous functions of one owner get numbered keys.
          const n = (names.get(name) ?? 0) + 1;
          names.set(name, n);
          over[`${file}#${n > 1 ? `${name}~${n}` : name}`] = end - start + 1;
        }
      } else if (ts.isClassDeclaration(node) && node.name) name = node.name.getText(sf);
      ts.forEachChild(node, (child) => visit(child, name));
    };
    visit(sf, "");
  }
  return over;
}

const baseline = JSON.parse(readFileSync(baselinePath, "utf8"));
const now = measure();
const problems = [];
for (const [key, lines] of Object.entries(now)) {
  const limit = key.includes("#") ? MAX_FUNCTION_LINES : MAX_FILE_LINES;
  const known = baseline[key];
  if (known === undefined) problems.push(`${key}: ${lines} lines (limit ${limit})`);
  else if (lines > known) problems.push(`${key}: ${lines} lines, grew from ${known} (limit ${limit})`);
}
if (process.argv.includes("--update")) {
  if (problems.length > 0) {
    console.error(`check-size: not updating; over the limits:\n  ${problems.join("\n  ")}`);
    process.exit(1);
  }
  const next = Object.fromEntries(
    Object.keys(baseline)
      .filter((k) => k in now)
      .map((k) => [k, now[k]]),
  );
  writeFileSync(baselinePath, `${JSON.stringify(next, null, 2)}\n`);
  console.log(
    `check-size: baseline has ${Object.keys(next).length} entries (was ${Object.keys(baseline).length})`,
  );
  process.exit(0);
}
if (problems.length > 0) {
  console.error(
    `check-size: files over ${MAX_FILE_LINES} lines or functions over ${MAX_FUNCTION_LINES} (split them):\n  ${problems.join("\n  ")}`,
  );
  process.exit(1);
}
const fixed = Object.keys(baseline).filter((k) => !(k in now));
if (fixed.length > 0)
  console.log(`check-size: within the limits now, drop from the baseline (--update): ${fixed.join(", ")}`);
console.log(`check-size: ok (${Object.keys(baseline).length - fixed.length} known exceptions left)`);
