/**
 * What marks a process as started by this test run, so the global teardown can find every one
 * left behind (test/global-setup.ts): the run's directory, in `ASM_TEST_CHILD` of the environment
 * of each real provider CLI, controller and executor process a test starts. Their children
 * inherit it (a CLI's tool shells, codex's native binary). Empty outside a test run (e.g. when
 * `make transcripts` uses the same harness).
 */
export function testRunMarker(): Record<string, string> {
  const runDir = process.env.ASM_TEST_RUN_DIR;
  return runDir ? { ASM_TEST_CHILD: runDir } : {};
}
