import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { startMockModel, type AnyModelMock } from "../mock-models/index.js";
import { startTestController, type TestController, type TestControllerOptions } from "../helpers/test-controller.js";
import { operatorSetup, type ProviderHarness } from "./provider-harness.js";

/** A controller configured by its operator for one real CLI, that CLI's mock model, and a work directory. */
export interface ProviderController {
  t: TestController;
  mock: AnyModelMock;
  /** The CLI's working directory (inside its hermetic HOME). */
  work: string;
  stop(): Promise<void>;
}

/**
 * Starts the mock model of `h`, a hermetic HOME with a `work` directory, and a test controller
 * whose operator supplies the CLI's path and environment (ASM_<P>_CLI_PATH, ASM_PASS_ENV): clients
 * send neither.
 */
export async function startProviderController(h: ProviderHarness, opts: Pick<TestControllerOptions, "auth" | "sdkDiscovery" | "policy" | "env"> = {}): Promise<ProviderController> {
  const mock = await startMockModel(h.mock);
  const e = h.environment(mock);
  const work = join(e.home, "work");
  mkdirSync(work, { recursive: true });
  const operator = operatorSetup(h, e.env);
  const t = await startTestController({ ...opts, env: { ASM_KILL_GRACE_MS: "1000", ASM_PASS_ENV: operator.passEnv.join(","), ...opts.env }, hostEnv: operator.hostEnv });
  return {
    t,
    mock,
    work,
    stop: async () => {
      await t.stop();
      await mock.stop();
    },
  };
}
