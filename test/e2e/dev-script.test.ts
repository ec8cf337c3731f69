/**
 * `npm run dev` (scripts/dev.mjs) as npm runs it, under `sh -c`: the example app follows --port
 * and PORT, and a SIGTERM to the shell (what npm forwards) stops the dev server, the example app
 * and the embedded nats-server.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { freePort, waitFor } from "../support/index.ts";

const DEV = fileURLToPath(new URL("../../scripts/dev.mjs", import.meta.url));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
/** Pids whose command line contains `part` (Linux /proc). */
const pidsOf = (part: string) =>
  readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, "utf8").includes(part);
      } catch {
        return false;
      }
    })
    .map(Number);
const envOf = (pid: number) =>
  Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, "utf8")
      .split("\0")
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );

describe("npm run dev", () => {
  const cwd = mkdtempSync(join(tmpdir(), "jetstep-dev-script-"));
  after(() => rmSync(cwd, { recursive: true, force: true }));

  it("points the example app at --port, syncs it at PORT, and stops everything on SIGTERM", async () => {
    const [gatewayPort, appPort] = [await freePort(), await freePort()];
    const { NATS_URL: _n, ...env } = process.env;
    const sh = spawn("sh", ["-c", `"${process.execPath}" "${DEV}" --port ${gatewayPort} --json`], {
      cwd,
      env: { ...env, PORT: String(appPort) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines: string[] = [];
    for (const s of [sh.stdout, sh.stderr]) createInterface({ input: s }).on("line", (l) => lines.push(l));
    const closed = new Promise((r) => sh.once("close", r));
    try {
      await waitFor(() => lines.some((l) => l.includes('"msg":"app synced"')), {
        timeoutMs: 120_000,
        message: "the example app synced",
      }).catch((e: Error) => {
        throw new Error(`${e.message}\n${lines.join("\n")}`);
      });
      const fns = (await (await fetch(`http://127.0.0.1:${gatewayPort}/v1/functions`)).json()) as {
        data: { app_id: string }[];
      };
      assert.ok(
        fns.data.some((f) => f.app_id === "hello"),
        JSON.stringify(fns),
      );
      const apps = (await (await fetch(`http://127.0.0.1:${gatewayPort}/v1/apps`)).json()) as {
        data: { url: string }[];
      };
      assert.deepEqual(
        apps.data.map((a) => a.url),
        [`http://localhost:${appPort}/api/inngest`],
      );
      const [app] = pidsOf("examples/hello/src/main.ts");
      assert.ok(app, "the example app runs");
      assert.equal(envOf(app).JETSTEP_BASE_URL, `http://127.0.0.1:${gatewayPort}`);
      const started = lines.find((l) => l.includes("embedded nats-server started")) ?? "";
      const nats = Number(/"natsPid":(\d+)/.exec(started)?.[1]);
      const [dev] = pidsOf(`--port\0${gatewayPort}`).filter((p) => p !== sh.pid);
      assert.ok(nats > 0 && dev, started);

      sh.kill("SIGTERM");
      const pids = [...pidsOf(DEV), ...pidsOf(`dev\0-u\0http://localhost:${appPort}`), app, nats];
      await waitFor(() => pids.every((p) => !alive(p)), {
        timeoutMs: 30_000,
        message: "everything npm run dev started has stopped",
      }).catch((e: Error) => {
        throw new Error(
          `${e.message}: ${pids.filter(alive).join(", ")} left\n${lines.slice(-20).join("\n")}`,
        );
      });
      const warnings = lines.filter((l) => /"level":(40|50)/.test(l));
      assert.deepEqual(warnings, [], "a normal stop logs no warning");
    } finally {
      if (sh.exitCode === null) sh.kill("SIGKILL");
      await closed;
      for (const p of pidsOf(cwd)) if (alive(p)) process.kill(p, "SIGKILL");
    }
  });
});
