/** W1 benchmark app (official `inngest` SDK): 10 sequential trivial steps. Env: PORT, INNGEST_BASE_URL. */
import { createServer } from "node:http";
import { Inngest } from "inngest";
import { serve } from "inngest/node";

const inngest = new Inngest({ id: "bench" });
const tenSteps = inngest.createFunction(
  { id: "ten-steps", triggers: [{ event: "bench/w1" }] },
  async ({ step }) => {
    let sum = 0;
    for (let i = 0; i < 10; i++) sum += await step.run(`s${i}`, () => i);
    return sum;
  },
);
const port = Number(process.env.PORT ?? 3950);
createServer(serve({ client: inngest, functions: [tenSteps] })).listen(port, "127.0.0.1", () =>
  console.log(`bench app listening on ${port}`),
);
