#!/usr/bin/env node
import { AsmError, createRootLogger } from "@asm/shared";
import { startExecutor } from "./app.js";
import { helpText, loadExecutorConfig, wantsHelp, type ExecutorConfig } from "./config/executor-config.js";

/** `asm-executor`: configuration from flags and the environment; prints `READY port=N name=X` once listening. */
async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (wantsHelp(argv)) {
    process.stdout.write(helpText());
    return;
  }
  let config: ExecutorConfig;
  try {
    config = loadExecutorConfig(argv, process.env);
  } catch (err) {
    process.stderr.write(`${err instanceof AsmError ? err.message : String(err)}\n`);
    process.exit(2);
  }
  const logger = createRootLogger({ name: "asm-executor", level: config.logLevel });
  let app;
  try {
    app = await startExecutor({ config, logger, env: process.env });
  } catch (err) {
    logger.fatal({ err }, "executor failed to start");
    process.stderr.write(`asm-executor: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  process.stdout.write(`READY port=${app.port} name=${app.name}\n`);
  const shutdown = (signal: string): void => {
    logger.info({ signal }, "shutting down");
    void app.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

void main();
