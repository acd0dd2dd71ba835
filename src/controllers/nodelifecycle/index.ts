// The node lifecycle controller: marks nodes whose heartbeat stopped Unknown, taints them and
// marks their pods not ready (see node-lifecycle-controller.ts).
export { NodeLifecycleController, type NodeLifecycleControllerOptions } from './node-lifecycle-controller.ts';
export {
  DEFAULT_GRACE_PERIOD_MS, DEFAULT_MONITOR_PERIOD_MS, DEFAULT_STARTUP_GRACE_PERIOD_MS,
  markPodNotReady, noExecuteTaintingPass, noScheduleTaintingPass, tryUpdateNodeHealth,
  type HealthDecision, type NodeHealth,
} from './health.ts';
export {
  conditionNoScheduleTaints, findUntoleratedTaint, TAINT_NOT_READY, TAINT_UNREACHABLE, TAINT_UNSCHEDULABLE,
  toleratesTaint, tolerationsTolerateTaint,
} from './taints.ts';
