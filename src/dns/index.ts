// Cluster DNS (podgate's CoreDNS and the kubelet's pod DNS settings). What the rest of podgate uses:
//
//   const dns = new ClusterDns({ client, nodeName, clusterDomain: 'cluster.local', clusterDNS: '10.96.0.10', upstreams });
//   await dns.start();                 // informers: Services, EndpointSlices, Namespaces (+ Pods for `pods verified`)
//   await dns.listen(bridgeGateway);   // UDP+TCP :53; keeps kube-system/kube-dns and this node's EndpointSlice
//   await dns.stop();
//
//   podDnsFiles(pod, podIPs, nodeDnsSettings)   // the kubelet's resolv.conf and /etc/hosts for a pod (pure)
//   parseResolvConf / defaultResolvConfPath / forwardUpstreams / defaultClusterDNS
//
// Pure parts with table tests: records.ts (answers), cluster-view.ts (indexes), pod-dns-config.ts,
// resolv-conf.ts, kube-dns.ts. Edges: dns-server.ts (sockets), forwarder.ts (upstream), query-handler.ts.
export { ClusterDns, type ClusterDnsOptions } from './cluster-dns.ts';
export { podDnsConfig, podDnsFiles, renderHostNetworkHostsFile, renderHostsFile, renderResolvConf, type DnsEvent, type NodeDnsSettings, type PodDnsConfig } from './pod-dns-config.ts';
export { defaultResolvConfPath, forwardUpstreams, parseResolvConf, type ResolvConf, type Upstream } from './resolv-conf.ts';
export { defaultClusterDNS, KUBE_DNS_NAME, KUBE_DNS_NAMESPACE } from './kube-dns.ts';
export { DNS_SCHEMA_VERSION, type PodsMode } from './records.ts';
