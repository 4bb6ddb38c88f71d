/**
 * The L4 load balancer (the LVS/IPVS idea inside the userspace stack): virtual services and real
 * servers, the schedulers, the connection table, the forwarding methods and the
 * {@link Balancer} that attaches them to a stack's packet hook.
 *
 * ```ts
 * import { Balancer, VirtualService } from "./lb/mod.ts";
 * const balancer = new Balancer(stack, { maxConns: 100_000 });
 * const web = new VirtualService({ protocol: "tcp", vip: parseIpv4("10.0.0.100")!, port: 80,
 *   scheduler: "rr", method: "dr" });
 * web.addReal({ address: parseIpv4("10.0.0.11")! });
 * balancer.addService(web);
 * balancer.attach();
 * ```
 *
 * @module
 */

export {
  Balancer,
  type BalancerOptions,
  type BalancerSnapshot,
  type ConnSnapshot,
  type ConnsSnapshot,
  type RealSnapshot,
  type ServiceSnapshot,
} from "./balancer.ts";
export {
  type BalancerConfig,
  balancerConfigFromFlags,
  buildServices,
  checkAgainstHost,
  ConfigError,
  type FlagOccurrence,
  type HostAddress,
  parseRealSpec,
  parseServiceSpec,
  type RealConfig,
  type ServiceConfig,
} from "./config.ts";
export {
  type ForwardMethod,
  MAX_WEIGHT,
  type Protocol,
  RealServer,
  type RealServerOptions,
  ServiceTable,
  VirtualService,
  type VirtualServiceOptions,
} from "./service.ts";
export * from "./scheduler/mod.ts";
export * from "./conntrack/mod.ts";
export { forwardDirect } from "./forward/dr.ts";
export { forwardNatIn, forwardNatOut } from "./forward/nat.ts";
export {
  TUN_FRAG_NEEDED,
  TUN_SEND_FAILED,
  TUN_SENT,
  TUN_TOO_BIG,
  TunnelForwarder,
} from "./forward/tun.ts";
export type { ForwardHost } from "./forward/host.ts";
