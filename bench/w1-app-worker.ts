/** W1 benchmark app (our SDK) as a NATS worker: 10 sequential trivial steps. Env: NATS_URL, JETSTEP_BASE_URL. */
import { Jetstep, worker } from "jetstep";

const jetstep = new Jetstep({ id: "bench" });
const tenSteps = jetstep.createFunction({ id: "ten-steps" }, { event: "bench/w1" }, async ({ step }) => {
  let sum = 0;
  for (let i = 0; i < 10; i++) sum += await step.run(`s${i}`, () => i);
  return sum;
});
const w = await worker({ client: jetstep, functions: [tenSteps] });
const registered = await w.registered;
console.log(`bench worker listening on ${w.subject}: ${JSON.stringify(registered)}`);
