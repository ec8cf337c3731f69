/** W2 benchmark app (our SDK): one trivial step per run. Env: PORT, JETSTEP_BASE_URL. */
import { createServer } from "node:http";
import { Jetstep, serve } from "jetstep";

const jetstep = new Jetstep({ id: "bench-w2" });
const oneStep = jetstep.createFunction({ id: "one-step" }, { event: "bench/w2" }, async ({ step }) =>
  step.run("only", () => 1),
);
const port = Number(process.env.PORT ?? 3951);
createServer(serve({ client: jetstep, functions: [oneStep] })).listen(port, "127.0.0.1", () =>
  console.log(`bench app listening on ${port}`),
);
