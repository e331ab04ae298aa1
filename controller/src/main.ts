#!/usr/bin/env node
import { AsmError, createRootLogger } from "@asm/shared";
import { startController } from "./app.js";
import { loadControllerConfig } from "./config/controller-config.js";

/** `asm-controller`: configuration from the environment; prints `READY port=N` once listening. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadControllerConfig(process.env);
  } catch (err) {
    process.stderr.write(`${err instanceof AsmError ? err.message : String(err)}\n`);
    process.exit(2);
  }
  const logger = createRootLogger({ name: "asm-controller", level: config.ASM_LOG_LEVEL });
  const app = await startController({ config, logger });
  process.stdout.write(`READY port=${app.port}\n`);
  // Fenced (another controller took this one's sessions over): nothing more may be written; a
  // supervisor starts it again as a new incarnation.
  void app.fenced.then(() => process.exit(75));
  // The first SIGTERM / SIGINT drains (see ControllerApp.stop); a second one kills what still runs.
  let signals = 0;
  const shutdown = (signal: string): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, "second signal: killing what still runs");
      app.forceStop();
      return;
    }
    logger.info({ signal }, "shutting down");
    void app.stop().then(() => process.exit(0));
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

void main();
