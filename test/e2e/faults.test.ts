/**
 * The fault suite in small (test/faults; `npm run test:faults` runs it with 2,000 runs): 150
 * five-step runs through `jetstep start` as separate processes, one fault injected mid-load, and
 * then nothing acknowledged is lost, every run ends with the right output, and no step body starts
 * after its result was recorded.
 *
 * `kill-matcher` is left to `npm run test:faults`: it spends 10 s waiting for the events the killed
 * matcher held to be redelivered (the ack wait of its consumer) and checks what `kill-executor`
 * does for the INBOX consumers, which would take this file past three minutes on a 2-core machine.
 * `baseline` (no fault: the measures read zero on a healthy stack) is left to it too: every
 * scenario here checks the same zero outcome, so a stack that loses runs without a fault fails
 * them all, and the baseline's 15–20 s bought nothing else.
 */
import { faultSuite } from "./fault-suite.ts";

// The killed processes other than the executor and NATS are in faults-processes.test.ts.
faultSuite(["kill-executor", "stop-executor", "kill-nats"]);
