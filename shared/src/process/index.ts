export { LineFramer, type FramedLine, type LineFramerOptions } from "./line-framer.js";
export { liveCliProcesses, killAllCliProcesses, observeProcessGroups, adoptProcessGroup, type AdoptedProcessGroup, type ProcessGroupObserver } from "./process-groups.js";
export { cliExitError } from "./cli-exit.js";
export {
  CliProcess,
  type CliProcessOptions,
  type CliOutput,
  type CliExit,
  type CliExitClassification,
  type TerminateOptions,
} from "./cli-process.js";
export { startOrphanReaper, type OrphanReaper } from "./orphan-reaper.js";
