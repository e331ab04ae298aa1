/**
 * The asm version (root package.json "version"). A literal, so that it is the same under tsc and
 * inside the single-file executor bundle; test/unit/version.test.ts keeps it equal to package.json.
 */
export const ASM_VERSION = "0.1.0";

/** Version of the executor protocol (`asm.v1.ExecutorService`); both sides must speak the same. */
export const EXECUTOR_PROTOCOL_VERSION = 1;
