/** The example app: serves its functions at http://localhost:3000/api/inngest (PORT to change). */
import { createServer } from "node:http";
import { serve } from "jetstep";
import { flaky, jetstep, welcome } from "./functions.ts";

const port = Number(process.env.PORT ?? 3000);
createServer(serve({ client: jetstep, functions: [welcome, flaky] })).listen(port, () => {
  console.log(`example app serving functions at http://localhost:${port}/api/inngest`);
});
