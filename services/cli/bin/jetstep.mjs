#!/usr/bin/env node
// The repo runs TypeScript directly: register tsx's loader, then load the CLI in this process.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
