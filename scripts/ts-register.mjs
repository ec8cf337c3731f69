// `node --import <this file>`: runs the repo's TypeScript through ts-hooks.mjs (see there), reading
// what run-tests.mjs compiled ahead of time into JETSTEP_TS_OUT. Without that variable it falls
// back to tsx, so a file run on its own behaves as before.
import { register } from "node:module";
import { fileURLToPath } from "node:url";

const outDir = process.env.JETSTEP_TS_OUT;
if (outDir) {
  process.setSourceMapsEnabled(true);
  register("./ts-hooks.mjs", import.meta.url, {
    data: { root: fileURLToPath(new URL("..", import.meta.url)), outDir },
  });
} else {
  await import("tsx");
}
