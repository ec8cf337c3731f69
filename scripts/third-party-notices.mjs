// THIRD_PARTY_NOTICES.md for the package (build-package.mjs): cli.js carries the npm packages it
// bundles, and their licences ask that their notices travel with them. For each bundled package
// (read from esbuild's metafile): its name, version and licence, then its licence file's text.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, sep } from "node:path";

/** Licences whose terms allow shipping the code inside cli.js with the notice beside it. */
const PERMISSIVE = new Set([
  "MIT",
  "ISC",
  "Apache-2.0",
  "BSD-2-Clause",
  "BSD-3-Clause",
  "0BSD",
  "BlueOak-1.0.0",
  "Unlicense",
  "CC0-1.0",
]);

export class NoticeError extends Error {}

/** An SPDX expression of permissive licences only (`A AND B`: both; `A OR B`: either). */
function shippable(spdx) {
  const alternatives = spdx.replace(/[()]/g, "").split(/ OR /);
  return alternatives.some((a) => a.split(/ AND /).every((l) => PERMISSIVE.has(l.trim())));
}

/** The folder of the npm package holding `file` (the last `node_modules/<name>` in its path). */
function packageDirOf(file) {
  const parts = file.split(sep);
  const at = parts.lastIndexOf("node_modules");
  if (at < 0) return undefined;
  const scoped = parts[at + 1]?.startsWith("@");
  return parts.slice(0, at + (scoped ? 3 : 2)).join(sep);
}

/** The package's licence file and NOTICE file (Apache-2.0 asks that it travels too), joined. */
function licenceText(dir) {
  const files = readdirSync(dir);
  const texts = ["(licen[cs]e|copying)", "notice"].flatMap((stem) => {
    const file = files.find((f) => new RegExp(`^${stem}(\\.(md|txt))?$`, "i").test(f));
    return file ? [readFileSync(join(dir, file), "utf8").trim()] : [];
  });
  return texts.length > 0 ? texts.join("\n\n") : undefined;
}

/**
 * The notices of the npm packages among `inputs` (absolute paths of bundled files). Throws naming
 * the package when one has no licence this project can ship bundled.
 */
export function thirdPartyNotices(inputs) {
  const dirs = new Set();
  for (const file of inputs) {
    const dir = packageDirOf(file);
    if (dir && existsSync(join(dir, "package.json"))) dirs.add(dir);
  }
  const entries = [...dirs]
    .map((dir) => {
      const { name, version, license } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      if (!shippable(String(license ?? ""))) {
        throw new NoticeError(
          `${name}@${version} (bundled into cli.js) has licence "${license}", not one of ${[...PERMISSIVE].join(", ")}`,
        );
      }
      return { name, version, license, text: licenceText(dir) ?? licenceText(dirname(dir)) };
    })
    .sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
  const unique = entries.filter(
    (e, i) => i === 0 || `${e.name}@${e.version}` !== `${entries[i - 1].name}@${entries[i - 1].version}`,
  );
  const sections = unique.map(
    (e) =>
      `## ${e.name}@${e.version} (${e.license})\n\n${e.text ? `\`\`\`\n${e.text}\n\`\`\`` : "No licence file in the package; its package.json names the licence above."}\n`,
  );
  return `# Third-party notices\n\n\`cli.js\` and its \`chunks/\` include the code of these npm packages, under their licences:\n\n${sections.join("\n")}`;
}
