// The pod garbage collector: force-deletes the pods of deleted nodes, pods terminating on
// out-of-service nodes or never scheduled, and terminated pods beyond a threshold (see pod-gc-controller.ts).
export { PodGcController, type PodGcControllerOptions, type PodGcTimers } from './pod-gc-controller.ts';
export {
  DEFAULT_GC_PERIOD_MS, DEFAULT_QUARANTINE_MS, DEFAULT_TERMINATED_POD_THRESHOLD, ORPHANED_CONDITION, TAINT_OUT_OF_SERVICE,
} from './gc-decisions.ts';
