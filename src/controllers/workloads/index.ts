// The apps/v1 workload controllers: Deployments roll out through ReplicaSets, ReplicaSets keep pods.
export { DeploymentController, type DeploymentControllerOptions } from './deployment-controller.ts';
export { ReplicaSetController, type ReplicaSetControllerOptions } from './replicaset-controller.ts';
