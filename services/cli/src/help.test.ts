import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { USAGE } from "./args.ts";
import { HELP, helpFor } from "./help.ts";
import { INSTALL_USAGE } from "./install.ts";
import { START_USAGE } from "./start-args.ts";

describe("jetstep help", () => {
  it("lists the commands when none is given or help is asked without one", () => {
    for (const argv of [[], ["--help"], ["-h"], ["help"], ["help", "nope"]])
      assert.equal(helpFor(argv), HELP, argv.join(" "));
    assert.match(HELP, /commands:\n\s+dev .*\n\s+start .*\n\s+install /);
  });

  it("shows a command's options on --help, -h or help <command>", () => {
    assert.equal(helpFor(["dev", "--help"]), USAGE);
    assert.equal(helpFor(["dev", "-u", "http://x", "-h"]), USAGE);
    assert.equal(helpFor(["help", "dev"]), USAGE);
    assert.equal(helpFor(["start", "--help"]), START_USAGE);
    assert.equal(helpFor(["install", "-h"]), INSTALL_USAGE);
    for (const re of [
      /-p, --port/,
      /--event-key/,
      /--config/,
      /--lease-ttl/,
      /--no-discovery/,
      /--poll-interval/,
    ])
      assert.match(USAGE, re);
    assert.match(START_USAGE, /--health-port/);
  });

  it("leaves a command without help alone", () => {
    assert.equal(helpFor(["dev", "--port", "8300"]), undefined);
    assert.equal(helpFor(["deploy"]), undefined);
  });
});
