/**
 * The balancer as a library: a {@link Balancer} on a {@link Stack}, with virtual services and
 * real servers added, changed and removed from code, as `ipvsadm` changes IPVS (and as
 * `lb.ts add-service`, `edit-server`, ... do over the control socket: the same operations,
 * lb/admin.ts). Addresses are text, as in Deno's APIs (dotted quads, or IPv6 when the stack has
 * IPv6 addresses). The engine underneath (lb/balancer.ts) is the one `lb.ts run` uses.
 *
 * @example A round-robin web VIP with two direct-routing real servers
 * ```ts ignore
 * import { Balancer, parseIpv4, Stack, TapDevice } from "./mod.ts";
 *
 * const stack = new Stack({
 *   device: TapDevice.open({ name: "tap0" }),
 *   address: parseIpv4("10.0.0.2")!,
 *   prefix: 24,
 * });
 * const lb = new Balancer(stack);
 * const web = lb.addService({ vip: "10.0.0.100", port: 80, scheduler: "rr" });
 * web.addReal({ address: "10.0.0.11" });
 * web.addReal({ address: "10.0.0.12", weight: 2 });
 * lb.attach();
 * stack.start();
 * // Later: drain one server (no new flows), then remove it.
 * web.editReal("10.0.0.11", { weight: 0 });
 * web.removeReal("10.0.0.11");
 * ```
 *
 * @module
 */

import type { Stack } from "../stack/net/stack.ts";
import { formatAddress, parseAddress } from "./address.ts";
import { AdminError, type AdminOp, applyAdmin, type ServiceKey } from "./admin.ts";
import { Balancer as Engine } from "./balancer.ts";
import type { SchedulerName } from "./scheduler/scheduler.ts";
import type { ForwardMethod, Protocol, VirtualService } from "./service.ts";

export type { ForwardMethod, Protocol, SchedulerName };

/** A change the balancer refuses: a duplicate or missing service or server, a bad value. */
export class BalancerError extends Error {
  /** "BalancerError". */
  override name = "BalancerError";
}

/** Options of {@link Balancer}. */
export interface BalancerOptions {
  /** Most flows tracked at once (ipvsadm's table size; default 262144). New flows beyond drop. */
  maxConns?: number;
  /** State changes worth an operator's attention (a real server without flows, ...). */
  onEvent?: (event: string, message: string, fields: Record<string, unknown>) => void;
}

/** A virtual service to add: where clients connect. */
export interface ServiceOptions {
  /** "tcp" (default) or "udp". */
  protocol?: Protocol;
  /** The virtual IP ("10.0.0.100", or "2001:db8::100"): the stack takes it as its address. */
  vip: string;
  /** The virtual port, 1..65535. */
  port: number;
  /** Scheduler: "rr", "wrr", "lc", "wlc" (default, as ipvsadm), "sh" or "mh". */
  scheduler?: SchedulerName;
  /** Persistence (ipvsadm `-p`): a client keeps its real server this long, ms (default 0: off). */
  persistenceMs?: number;
}

/** A real server to add to a service. */
export interface RealOptions {
  /** Its address ("10.0.0.11", or IPv6 for an IPv6 service). */
  address: string;
  /** Its port; default the virtual port (another port needs `method: "nat"`). */
  port?: number;
  /** Relative share of new flows, 0..65535 (default 1); 0 drains: no new flows. */
  weight?: number;
  /** How packets reach it: "dr" (default, direct routing), "nat" or "tun" (IP-in-IP). */
  method?: ForwardMethod;
}

/** What {@link BalancerService.editReal} may change. */
export interface RealChanges {
  /** New weight, 0..65535 (0: no new flows; established ones stay). */
  weight?: number;
  /** New forwarding method (for new flows). */
  method?: ForwardMethod;
}

/** A real server as {@link BalancerService.reals} reports it. */
export interface RealInfo {
  /** Its address. */
  address: string;
  /** Its port. */
  port: number;
  /** Its weight. */
  weight: number;
  /** Its forwarding method. */
  method: ForwardMethod;
  /** Flows in ESTABLISHED (TCP). */
  activeConns: number;
  /** Other flows (handshakes, closing, UDP). */
  inactiveConns: number;
}

/** Set by {@link BalancerService}'s static block: the only way to make one. */
let newService: (b: Engine, key: ServiceKey) => BalancerService;

/** A virtual service of a {@link Balancer}: its real servers are changed through it. */
export class BalancerService {
  readonly #b: Engine;
  readonly #key: ServiceKey;

  /** Made by {@link Balancer.addService} and {@link Balancer.service}. */
  private constructor(b: Engine, key: ServiceKey) {
    this.#b = b;
    this.#key = key;
  }

  static {
    newService = (b, key) => new BalancerService(b, key);
  }

  /** "tcp" or "udp". */
  get protocol(): Protocol {
    return this.#key.protocol;
  }

  /** The virtual IP. */
  get vip(): string {
    return formatAddress(this.#key.vip);
  }

  /** The virtual port. */
  get port(): number {
    return this.#key.port;
  }

  /** Adds a real server (ipvsadm `-a`); new flows may go to it at once. */
  addReal(real: RealOptions): void {
    admin(this.#b, {
      op: "add-server",
      service: this.#key,
      address: ip(real.address),
      port: real.port ?? this.#key.port,
      method: real.method,
      weight: real.weight,
    });
  }

  /** Changes a real server's weight or method (ipvsadm `-e`), for new flows. */
  editReal(address: string, changes: RealChanges, port: number = this.#key.port): void {
    admin(this.#b, {
      op: "edit-server",
      service: this.#key,
      address: ip(address),
      port,
      weight: changes.weight,
      method: changes.method,
    });
  }

  /** Removes a real server (ipvsadm `-d`) with its flows. False if it was not there. */
  removeReal(address: string, port: number = this.#key.port): boolean {
    const s = this.#service();
    if (s === null) return false;
    const p = port === s.port ? 0 : port;
    return this.#b.removeReal(s, ip(address), p) !== null;
  }

  /** Changes the scheduler and the persistence (ipvsadm `-E`). */
  edit(changes: { scheduler?: SchedulerName; persistenceMs?: number }): void {
    if (changes.persistenceMs !== undefined && changes.persistenceMs % 1000 !== 0) {
      // The control channel's unit is the second (ipvsadm -p): keep the library's the same.
      throw new BalancerError(`persistenceMs ${changes.persistenceMs} is not whole seconds`);
    }
    admin(this.#b, {
      op: "edit-service",
      service: this.#key,
      scheduler: changes.scheduler,
      persistence: changes.persistenceMs === undefined ? undefined : changes.persistenceMs / 1000,
    });
  }

  /** The real servers now, with their flow counts. */
  get reals(): RealInfo[] {
    const s = this.#service();
    if (s === null) return [];
    return s.reals.map((r) => ({
      address: formatAddress(r.address),
      port: s.realPort(r),
      weight: r.weight,
      method: r.method,
      activeConns: r.activeConns,
      inactiveConns: r.inactiveConns,
    }));
  }

  #service(): VirtualService | null {
    const k = this.#key;
    return this.#b.services.lookup(k.protocol, k.vip, k.port);
  }
}

/**
 * An L4 load balancer (LVS/IPVS's model) on a {@link Stack}: virtual services, each with real
 * servers, a scheduler and a forwarding method per server. Nothing is forwarded before
 * {@link attach}. See the module's example.
 */
export class Balancer {
  readonly #b: Engine;

  /** A balancer for `stack`, with no services. */
  constructor(stack: Stack, options: BalancerOptions = {}) {
    this.#b = new Engine(stack, options);
  }

  /**
   * Adds a virtual service (ipvsadm `-A`): the stack owns its VIP from now on (ARP, ping).
   * Throws {@link BalancerError} if the same protocol, VIP and port exist.
   */
  addService(options: ServiceOptions): BalancerService {
    const key = serviceKey(options.vip, options.port, options.protocol);
    if (options.persistenceMs !== undefined && options.persistenceMs % 1000 !== 0) {
      throw new BalancerError(`persistenceMs ${options.persistenceMs} is not whole seconds`);
    }
    admin(this.#b, {
      op: "add-service",
      service: key,
      scheduler: options.scheduler,
      persistence: (options.persistenceMs ?? 0) / 1000,
    });
    return newService(this.#b, key);
  }

  /** The service at `vip:port`, or null. */
  service(vip: string, port: number, protocol: Protocol = "tcp"): BalancerService | null {
    const key = serviceKey(vip, port, protocol);
    if (this.#b.services.lookup(key.protocol, key.vip, key.port) === null) return null;
    return newService(this.#b, key);
  }

  /** Every service, in the order added. */
  get services(): BalancerService[] {
    return this.#b.services.list().map((s) =>
      newService(this.#b, { protocol: s.protocol, vip: s.vip, port: s.port })
    );
  }

  /** Removes a service with its flows (ipvsadm `-D`). False if there was none. */
  removeService(vip: string, port: number, protocol: Protocol = "tcp"): boolean {
    const key = serviceKey(vip, port, protocol);
    return this.#b.removeService(key.protocol, key.vip, key.port) !== null;
  }

  /** Starts balancing: the balancer sees every packet the stack receives for its VIPs. */
  attach(): void {
    this.#b.attach();
  }

  /** Stops balancing (the stack is a plain host again; the VIPs stay its addresses). */
  detach(): void {
    this.#b.detach();
  }
}

function ip(s: string): number {
  const a = parseAddress(s);
  if (a === null) throw new BalancerError(`"${s}" is not an IPv4 or IPv6 address`);
  return a;
}

function serviceKey(vip: string, port: number, protocol: Protocol = "tcp"): ServiceKey {
  if (protocol !== "tcp" && protocol !== "udp") {
    throw new BalancerError(`protocol ${protocol} is not tcp or udp`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new BalancerError(`port ${port} is not in 1..65535`);
  }
  return { protocol, vip: ip(vip), port };
}

/** Runs an admin operation, turning the operator errors into {@link BalancerError}. */
function admin(b: Engine, op: AdminOp): void {
  try {
    applyAdmin(b, op);
  } catch (e) {
    if (e instanceof AdminError || e instanceof RangeError) throw new BalancerError(e.message);
    throw e;
  }
}
