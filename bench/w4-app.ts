/** W4 benchmark app (our SDK). Env: PORT, JETSTEP_BASE_URL. */
import { createServer } from "node:http";
import { Jetstep, serve } from "jetstep";

const jetstep = new Jetstep({ id: "bench-w4" });
const napper = jetstep.createFunction({ id: "napper" }, { event: "bench/w4" }, async ({ step }) => {
  await step.run("before", () => 1);
  await step.sleep("nap", "2s");
  await step.run("after", () => 2);
});
const sleeper = jetstep.createFunction({ id: "sleeper" }, { event: "bench/sleeper" }, async ({ step }) => {
  await step.sleep("long", "1h");
});
const port = Number(process.env.PORT ?? 3951);
createServer(serve({ client: jetstep, functions: [napper, sleeper] })).listen(port, "127.0.0.1", () =>
  console.log(`bench app listening on ${port}`),
);
