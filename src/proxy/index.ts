// The service proxy: ServiceProxy (the I/O edge) and its pure parts for tests and benchmarks.
export { ServiceProxy, type ServiceProxyOptions, type SyncStats } from './service-proxy.ts';
export {
  computeRuleset, computeBase, computeServiceFragment, emptyRuleset, updateRuleset, groupSlices, serviceKey, allChains, allSets, effectiveValue,
  TABLE_FAMILY, TABLE_NAME, MASQ_MARK, SERVICE_IPS, SERVICE_NODEPORTS, NODEPORT_IPS, HAIRPIN, CLUSTER_IPS, REJECT_CHAIN,
  type Ruleset, type RulesetOptions, type ProxyNode, type Fragment, type Chain, type SetDecl, type Element, type Claim, type ServiceUpdate,
} from './ruleset.ts';
export { renderNft, renderDiff, renderDelete, NeedsFullSyncError } from './render-nft.ts';
export { servicePortsOf, shouldSkipService, SERVICE_NAME_LABEL, type ServicePortInfo, type ProxyEndpoint, type Protocol } from './service-ports.ts';
export { NftSession, NftSessionUnavailableError, NftTransactionError, type NftSessionOptions } from './nft-session.ts';
export { staleConntrackCommands } from './conntrack.ts';
export { computeHealthChecks, HealthCheckServers, type HealthCheck } from './health-check.ts';
export { runCommand, inNetns, CommandError, type Exec, type ExecResult } from '../util/exec.ts';
