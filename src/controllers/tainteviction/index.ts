// The taint eviction controller: deletes pods from nodes with NoExecute taints they do not (or no
// longer) tolerate (see taint-eviction-controller.ts).
export { disruptionCondition, TaintEvictionController, type TaintEvictionControllerOptions, type TaintEvictionTimers } from './taint-eviction-controller.ts';
export { decideEviction, matchingTolerations, minTolerationMs, noExecuteTaints, type EvictionDecision, type ScheduledEviction } from './eviction-plan.ts';
