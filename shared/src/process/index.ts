export { LineFramer, type FramedLine, type LineFramerOptions } from "./line-framer.js";
export {
  CliProcess,
  liveCliProcesses,
  killAllCliProcesses,
  observeProcessGroups,
  adoptProcessGroup,
  cliExitError,
  type AdoptedProcessGroup,
  type ProcessGroupObserver,
  type CliProcessOptions,
  type CliOutput,
  type CliExit,
  type CliExitClassification,
  type TerminateOptions,
} from "./cli-process.js";
export { startOrphanReaper, type OrphanReaper } from "./orphan-reaper.js";
