/** The dev UI's static files (no build step: plain ES modules), served by the gateway. */
import { fileURLToPath } from "node:url";

export const UI_DIR = fileURLToPath(new URL("../public/", import.meta.url));
