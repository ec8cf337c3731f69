export { buildCron, type CronDeps, type CronScheduler } from "./cron.ts";
