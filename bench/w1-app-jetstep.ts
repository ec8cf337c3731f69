/** W1 benchmark app (our SDK): 10 sequential trivial steps. Env: PORT, JETSTEP_BASE_URL. */
import { createServer } from "node:http";
import { Jetstep, serve } from "jetstep";

const jetstep = new Jetstep({ id: "bench" });
const tenSteps = jetstep.createFunction({ id: "ten-steps" }, { event: "bench/w1" }, async ({ step }) => {
  let sum = 0;
  for (let i = 0; i < 10; i++) sum += await step.run(`s${i}`, () => i);
  return sum;
});
const tenStepsLimited = jetstep.createFunction(
  { id: "ten-steps-limited", concurrency: 50 },
  { event: "bench/w1-limited" },
  async ({ step }) => {
    let sum = 0;
    for (let i = 0; i < 10; i++) sum += await step.run(`s${i}`, () => i);
    return sum;
  },
);
const port = Number(process.env.PORT ?? 3950);
createServer(serve({ client: jetstep, functions: [tenSteps, tenStepsLimited] })).listen(
  port,
  "127.0.0.1",
  () => console.log(`bench app listening on ${port}`),
);
