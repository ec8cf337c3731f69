/**
 * Security checklist, part 6 (issue 15): keys need not be on the command line, where every local
 * user sees them in the process list. `jetstep start` runs with every secret from files and the
 * environment: none shows in its command line, and each one works.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  freePort,
  type NatsServerHandle,
  spawnCli,
  startNatsServer,
  type TsProcess,
} from "../support/index.ts";

const SECRETS = {
  signingKey: "signkey-prod-5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e7",
  apiKey: "operate-key-from-a-file-0123456789",
  readKey: "read-key-from-the-env-0123456789",
  eventKey: "event-key-from-the-env-0123",
};

describe("secrets from files and the environment", () => {
  let nats: NatsServerHandle;
  let proc: TsProcess;

  before(async () => {
    nats = await startNatsServer();
  });
  after(async () => {
    await proc?.kill("SIGKILL");
    await nats?.stop();
  });

  it("starts jetstep start with no key in its command line, and every key works", async () => {
    const dir = mkdtempSync(join(tmpdir(), "jetstep-secrets-"));
    writeFileSync(join(dir, "signing-key"), `${SECRETS.signingKey}\n`);
    writeFileSync(join(dir, "api-keys"), `# operators\n${SECRETS.apiKey}\n`);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    proc = spawnCli(
      [
        "start",
        ...["--signing-key-file", join(dir, "signing-key"), "--api-key-file", join(dir, "api-keys")],
        ...["--replicas", "1", "--host", "127.0.0.1", "--port", String(port), "--json"],
      ],
      {
        env: {
          JETSTEP_NATS_URL: nats.url,
          JETSTEP_EVENT_KEYS: SECRETS.eventKey,
          JETSTEP_READ_API_KEYS: SECRETS.readKey,
        },
      },
    );
    await proc.waitForLine(/Jetstep started/, 30_000);

    // What `ps` shows every local user.
    const cmdline = readFileSync(`/proc/${proc.pid}/cmdline`, "utf8").split("\0").join(" ");
    assert.match(cmdline, /start --signing-key-file/);
    for (const [name, secret] of Object.entries(SECRETS))
      assert.ok(!cmdline.includes(secret), `${name} is not in the command line`);

    const auth = (key: string) => ({ authorization: `Bearer ${key}` });
    assert.equal((await fetch(`${url}/v1/runs`, { headers: auth(SECRETS.readKey) })).status, 200);
    const write = (key: string) =>
      fetch(`${url}/v1/events`, { method: "POST", headers: auth(key), body: '{"name":"sec/env"}' });
    assert.equal((await write(SECRETS.readKey)).status, 403, "the read key only reads");
    assert.equal((await write(SECRETS.apiKey)).status, 200, "the API key from the file operates");
    assert.equal((await write(SECRETS.signingKey)).status, 200, "so does the signing key from the file");
    const sent = await fetch(`${url}/e/${SECRETS.eventKey}`, { method: "POST", body: '{"name":"sec/env"}' });
    assert.equal(sent.status, 200, "the event key from the environment");
    assert.equal((await fetch(`${url}/v1/runs`)).status, 401, "and nothing works without one");
  });
});
