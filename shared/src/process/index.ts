export { LineFramer, type FramedLine, type LineFramerOptions } from "./line-framer.js";
export {
  CliProcess,
  realTimers,
  liveCliProcesses,
  killAllCliProcesses,
  observeProcessGroups,
  type ProcessGroupObserver,
  type CliProcessOptions,
  type CliOutput,
  type CliExit,
  type CliExitClassification,
  type TerminateOptions,
  type CliTimers,
} from "./cli-process.js";
export { startOrphanReaper, type OrphanReaper } from "./orphan-reaper.js";
