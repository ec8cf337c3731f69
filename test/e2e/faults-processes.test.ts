/**
 * The fault suite, continued (see faults.test.ts): the gateway, cron and an app killed mid-load.
 */
import { faultSuite } from "./fault-suite.ts";

faultSuite(["kill-gateway", "kill-cron", "kill-app"]);
