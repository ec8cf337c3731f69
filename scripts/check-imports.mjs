#!/usr/bin/env node
// Import rule for services (tests excepted): a service reaches NATS only through the stores and
// wrappers of `@jetstep/jetstream`, never through nats.js itself. So a source file under
// `services/` may not
//   1. import anything from `@nats-io/…` (the client, its types), nor
//   2. import one of the raw nats.js names that `@jetstep/jetstream` once re-exported (`KV`,
//      `JsMsg`, `Msg`, …): those are listed below, and jetstream must not export them again.
// A service needing something new of NATS gets a typed method on a store (or a small wrapper
// such as `Delivery`, `BusMessage`) in jetstream instead.
//
// Import rule for the SDK (`shared/sdk`, package `jetstep`): of our packages it imports only
// `@jetstep/core/protocol` (core's protocol vocabulary), never core's root entry (the run machine,
// replay, the decisions: server code an app's bundle would carry) nor any other workspace.
//
//   node scripts/check-imports.mjs      check (CI runs it with the lint)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { root, sourceFiles } from "./source-files.mjs";

/** nats.js names a service must not import from `@jetstep/jetstream`. */
const RAW_NAMES = new Set([
  "KV",
  "KvEntry",
  "JsMsg",
  "StoredMsg",
  "Msg",
  "MsgHdrs",
  "NatsConnection",
  "Subscription",
  "JetStreamClient",
  "JetStreamManager",
  "Consumer",
  "ConsumerMessages",
  "headers",
  "createInbox",
  "InvalidArgumentError",
]);

/** What `file` breaks of the rule: one line per offending import (or re-export). */
function problems(file) {
  const text = readFileSync(join(root, file), "utf8");
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out = [];
  for (const st of sf.statements) {
    const isImport = ts.isImportDeclaration(st);
    if (!isImport && !ts.isExportDeclaration(st)) continue;
    if (!st.moduleSpecifier || !ts.isStringLiteral(st.moduleSpecifier)) continue;
    const from = st.moduleSpecifier.text;
    const line = sf.getLineAndCharacterOfPosition(st.getStart()).line + 1;
    if (from.startsWith("@nats-io/")) {
      out.push(`${file}:${line}: imports from ${from} (go through @jetstep/jetstream)`);
      continue;
    }
    if (from !== "@jetstep/jetstream") continue;
    // The names imported (or re-exported), as spelled in jetstream: `{ KV as Bucket }` is KV.
    const bindings = isImport ? st.importClause?.namedBindings : st.exportClause;
    const elements =
      bindings && (ts.isNamedImports(bindings) || ts.isNamedExports(bindings)) ? bindings.elements : [];
    for (const el of elements) {
      const name = (el.propertyName ?? el.name).text;
      if (RAW_NAMES.has(name))
        out.push(`${file}:${line}: imports the raw NATS name ${name} from @jetstep/jetstream`);
    }
  }
  return out;
}

/** The SDK's imports of our own packages other than `@jetstep/core/protocol`. */
function sdkProblems(file) {
  const text = readFileSync(join(root, file), "utf8");
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out = [];
  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st) && !ts.isExportDeclaration(st)) continue;
    if (!st.moduleSpecifier || !ts.isStringLiteral(st.moduleSpecifier)) continue;
    const from = st.moduleSpecifier.text;
    if (!from.startsWith("@jetstep/") || from === "@jetstep/core/protocol") continue;
    const line = sf.getLineAndCharacterOfPosition(st.getStart()).line + 1;
    out.push(`${file}:${line}: imports ${from} (the SDK imports only @jetstep/core/protocol of ours)`);
  }
  return out;
}

const found = sourceFiles("services").flatMap(problems);
const sdk = sourceFiles("shared/sdk").flatMap(sdkProblems);
if (found.length > 0) {
  console.error("check-imports: services reach NATS only through @jetstep/jetstream's stores and wrappers:");
  for (const p of found) console.error(`  ${p}`);
}
if (sdk.length > 0) {
  console.error("check-imports: the SDK carries no server code:");
  for (const p of sdk) console.error(`  ${p}`);
}
if (found.length > 0 || sdk.length > 0) process.exit(1);
console.log("check-imports: ok");
