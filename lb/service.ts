/**
 * The balancer's configuration model, after IPVS's `ip_vs_service` and `ip_vs_dest`: a virtual
 * service (protocol, VIP, port) with its scheduler and real servers, and the {@link ServiceTable}
 * the packet path queries for every packet.
 *
 * Configuration errors (a duplicate real server, a weight out of range) are thrown: they come
 * from the operator, not from the wire. The packet-path lookup never throws and never allocates.
 *
 * @module
 */

import type { Scheduler, SchedulerName, SchedulerOptions } from "./scheduler/scheduler.ts";
import { createScheduler } from "./scheduler/mod.ts";
import {
  equal16,
  fold128,
  formatAddress,
  ipv6Bytes,
  isAddress,
  isIpv6Address,
  schedulingKey,
} from "./address.ts";

/** Transport protocols a virtual service balances. */
export type Protocol = "tcp" | "udp";

/**
 * How packets reach a real server (ipvsadm `-g`, `-m`, `-i`): direct routing (rewrite the MAC
 * only), NAT (rewrite the destination and, on the way back, the source) or IP-in-IP tunnel.
 */
export type ForwardMethod = "dr" | "nat" | "tun";

/** Largest weight ipvsadm accepts (`-w 0..65535`). */
export const MAX_WEIGHT = 65535;

/** What {@link VirtualService.addReal} and {@link RealServer}'s constructor take. */
export interface RealServerOptions {
  /** IPv4 address (u32 host order) or IPv6 address handle (lb/address.ts). */
  address: number;
  /** Port on the real server; 0 (the default) means the virtual service's port. */
  port?: number;
  /** Relative share of new flows, 0..65535 (default 1); 0 quiesces: no new flows. */
  weight?: number;
  /** Forwarding method; a service fills in its default when this is absent. */
  method?: ForwardMethod;
}

/** What {@link VirtualService.editReal} may change. */
export interface RealServerChanges {
  /** New weight, 0..65535. */
  weight?: number;
  /** New forwarding method (applies to new flows). */
  method?: ForwardMethod;
  /** Health state: false takes the server out of scheduling like weight 0. */
  available?: boolean;
}

function checkWeight(weight: number): number {
  if (!Number.isInteger(weight) || weight < 0 || weight > MAX_WEIGHT) {
    throw new RangeError(`weight ${weight} is not an integer in 0..${MAX_WEIGHT}`);
  }
  return weight;
}

function checkPort(port: number, what: string): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`${what} ${port} is not an integer in 0..65535`);
  }
  return port;
}

function checkAddress(address: number): number {
  if (!isAddress(address)) {
    throw new RangeError(`address ${address} is not a u32 or an IPv6 address handle`);
  }
  return address;
}

/**
 * A real server (IPVS `ip_vs_dest`). The connection table keeps `activeConns`/`inactiveConns` up
 * to date; the forwarder updates the traffic counters in place.
 */
export class RealServer {
  /** IPv4 address (u32 host order) or IPv6 address handle (lb/address.ts). */
  readonly address: number;
  /** The 16 bytes of an IPv6 real server (what the packet path compares and sends to), or null. */
  readonly address6: Uint8Array | null;
  /** The number a hashing scheduler takes for this server: the u32, or the 128-bit fold. */
  readonly key: number;
  /** Port on the real server; 0 means the virtual service's port. */
  readonly port: number;
  /** Relative share of new flows; 0 = no new flows (existing ones continue). */
  weight: number;
  /** How packets reach this server. */
  method: ForwardMethod;
  /** Flows in ESTABLISHED (IPVS `activeconns`). */
  activeConns = 0;
  /** Flows in any other state, UDP flows included (IPVS `inactconns`). */
  inactiveConns = 0;
  /** Flows ever scheduled to this server. */
  conns = 0;
  /** Packets forwarded to this server. */
  packetsIn = 0;
  /** Packets from this server forwarded back to clients (NAT only). */
  packetsOut = 0;
  /** Bytes (IP packets) forwarded to this server. */
  bytesIn = 0;
  /** Bytes from this server forwarded back to clients (NAT only). */
  bytesOut = 0;
  /** Health: false takes the server out of scheduling for new flows, like weight 0. */
  available = true;

  /** A real server; throws a RangeError on an out-of-range address, port or weight. */
  constructor(options: RealServerOptions) {
    this.address = checkAddress(options.address);
    this.address6 = ipv6Bytes(this.address);
    this.key = schedulingKey(this.address);
    this.port = checkPort(options.port ?? 0, "port");
    this.weight = checkWeight(options.weight ?? 1);
    this.method = options.method ?? "dr";
  }

  /** True when the server may take new flows: available and weight above 0. */
  takesNewFlows(): boolean {
    return this.available && this.weight > 0;
  }

  /** Clears the traffic counters (ipvsadm `-Z`); connection counts are live state, kept. */
  zeroStats(): void {
    this.conns = 0;
    this.packetsIn = 0;
    this.packetsOut = 0;
    this.bytesIn = 0;
    this.bytesOut = 0;
  }
}

/** What {@link VirtualService}'s constructor takes. */
export interface VirtualServiceOptions {
  /** "tcp" or "udp". */
  protocol: Protocol;
  /** Virtual IPv4 address (u32 host order) or IPv6 address handle (lb/address.ts). */
  vip: number;
  /** Virtual port, 1..65535. */
  port: number;
  /** A scheduler, or the name of one (default "wlc", like ipvsadm). */
  scheduler?: Scheduler | SchedulerName;
  /** Options for a scheduler given by name (e.g. `{ port: false }` for mh). */
  schedulerOptions?: SchedulerOptions;
  /** Forwarding method for real servers added without one (default "dr", like ipvsadm `-g`). */
  method?: ForwardMethod;
}

/** A virtual service (IPVS `ip_vs_service`): where clients connect, and who serves them. */
export class VirtualService {
  /** "tcp" or "udp". */
  readonly protocol: Protocol;
  /** Virtual IPv4 address (u32 host order) or IPv6 address handle (lb/address.ts). */
  readonly vip: number;
  /** The 16 bytes of an IPv6 VIP, or null for an IPv4 service. */
  readonly vip6: Uint8Array | null;
  /** Virtual port. */
  readonly port: number;
  /** Picks a real server for each new flow. */
  scheduler: Scheduler;
  /** Default forwarding method for real servers added without one. */
  method: ForwardMethod;
  /** Real servers in the order they were added (the order rr and wrr walk). */
  readonly reals: RealServer[] = [];
  /** Flows ever scheduled by this service. */
  conns = 0;
  /** Packets from clients forwarded. */
  packetsIn = 0;
  /** Packets to clients forwarded (NAT only). */
  packetsOut = 0;
  /** Bytes from clients forwarded. */
  bytesIn = 0;
  /** Bytes to clients forwarded (NAT only). */
  bytesOut = 0;

  /** A service with no real servers; throws on a bad port, address or scheduler name. */
  constructor(options: VirtualServiceOptions) {
    this.protocol = options.protocol;
    this.vip = checkAddress(options.vip);
    this.vip6 = ipv6Bytes(this.vip);
    this.port = checkPort(options.port, "virtual port");
    if (this.port === 0) throw new RangeError("virtual port 0 is not a service port");
    this.method = options.method ?? "dr";
    const s = options.scheduler ?? "wlc";
    this.scheduler = typeof s === "string" ? createScheduler(s, options.schedulerOptions) : s;
    this.scheduler.update(this.reals);
  }

  /** Replaces the scheduler (ipvsadm `-E -s`); the new one is fed the current real servers. */
  setScheduler(scheduler: Scheduler): void {
    this.scheduler = scheduler;
    scheduler.update(this.reals);
  }

  /** The real server with this address and port (as configured, 0 = the virtual port), or null. */
  findReal(address: number, port = 0): RealServer | null {
    const reals = this.reals;
    for (let i = 0; i < reals.length; i++) {
      const r = reals[i];
      if (r.address === address && r.port === port) return r;
    }
    return null;
  }

  /** The port packets to `real` carry: its own, or the virtual port when it has none. */
  realPort(real: RealServer): number {
    return real.port === 0 ? this.port : real.port;
  }

  /**
   * Adds a real server (ipvsadm `-a`); throws if one with the same address and port exists, or
   * if its address family is not the VIP's (IPVS forwards within one family, and so does this).
   */
  addReal(real: RealServer | RealServerOptions): RealServer {
    const v6 = isIpv6Address(real.address);
    if (v6 !== (this.vip6 !== null)) {
      throw new RangeError(
        `real server ${formatAddress(real.address)} is ${v6 ? "IPv6" : "IPv4"} but the VIP ` +
          `${formatAddress(this.vip)} is ${v6 ? "IPv4" : "IPv6"}: a service's real servers ` +
          "must be of its VIP's family",
      );
    }
    const r = real instanceof RealServer
      ? real
      : new RealServer({ ...real, method: real.method ?? this.method });
    if (this.findReal(r.address, r.port) !== null) {
      throw new Error(`real server ${formatAddress(r.address)}:${r.port} already in the service`);
    }
    this.reals.push(r);
    this.scheduler.update(this.reals);
    return r;
  }

  /**
   * Changes a real server (ipvsadm `-e`, or a health check flipping `available`) and tells the
   * scheduler. Throws if there is no such server.
   */
  editReal(address: number, port: number, changes: RealServerChanges): RealServer {
    const r = this.findReal(address, port);
    if (r === null) {
      throw new Error(`no real server ${formatAddress(address)}:${port} in the service`);
    }
    if (changes.weight !== undefined) r.weight = checkWeight(changes.weight);
    if (changes.method !== undefined) r.method = changes.method;
    if (changes.available !== undefined) r.available = changes.available;
    this.scheduler.update(this.reals);
    return r;
  }

  /**
   * Removes a real server (ipvsadm `-d`) and returns it, or null if there was none. Its flows
   * stay in the connection table until the owner removes them (`ConnTable.removeByReal`).
   */
  removeReal(address: number, port = 0): RealServer | null {
    const reals = this.reals;
    for (let i = 0; i < reals.length; i++) {
      const r = reals[i];
      if (r.address === address && r.port === port) {
        reals.splice(i, 1);
        this.scheduler.update(reals);
        return r;
      }
    }
    return null;
  }

  /** Clears the service's and its real servers' traffic counters (ipvsadm `-Z`). */
  zeroStats(): void {
    this.conns = 0;
    this.packetsIn = 0;
    this.packetsOut = 0;
    this.bytesIn = 0;
    this.bytesOut = 0;
    for (const r of this.reals) r.zeroStats();
  }
}

/** Protocol number in the table's key (IANA: TCP 6, UDP 17). */
function protoBit(protocol: Protocol): number {
  return protocol === "udp" ? 1 : 0;
}

/** Multiplicative hash of (vip, port+proto) to a slot index; pure integer arithmetic. */
function slotHash(vip: number, portProto: number, mask: number): number {
  let h = Math.imul(vip ^ 0x9e3779b9, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h ^ portProto, 0xc2b2ae35);
  h ^= h >>> 16;
  return h & mask;
}

/**
 * Virtual services keyed by (protocol, VIP, port). `lookup` runs for every packet: an
 * open-addressing table over typed arrays (VIP column, port*2+udp column, index into `services`),
 * so it allocates nothing (a JS Map keyed by a number above 2^31 would box a heap number per call).
 * IPv6 services have a second index keyed by the fold of the VIP's 128 bits ({@link lookup6}),
 * confirmed by comparing the 16 bytes. Adding and removing rebuild the small indexes.
 */
export class ServiceTable {
  #services: VirtualService[] = [];
  /** VIPs as float64: an IPv6 VIP's handle is above 2^32 (control-path lookups by handle). */
  #vips: Float64Array = new Float64Array(8);
  #portProto: Uint32Array = new Uint32Array(8);
  /** -1 = empty slot, else index into #services. */
  #index: Int32Array = new Int32Array(8).fill(-1);
  #mask = 7;
  /** The IPv6 index: fold128(0, VIP) column, port*2+udp column, index into `services`. */
  #folds6: Uint32Array = new Uint32Array(8);
  #portProto6: Uint32Array = new Uint32Array(8);
  #index6: Int32Array = new Int32Array(8).fill(-1);
  #mask6 = 7;
  /** Number of IPv6 services (lookup6 returns at once while there are none). */
  #count6 = 0;

  /** Number of services. */
  get size(): number {
    return this.#services.length;
  }

  /** The service for (protocol, vip, port), or null. Allocation-free; the packet path's call. */
  lookup(protocol: Protocol, vip: number, port: number): VirtualService | null {
    const pp = port * 2 + (protocol === "udp" ? 1 : 0);
    const mask = this.#mask;
    const index = this.#index;
    let slot = slotHash(vip, pp, mask);
    // The index is at most half full, so a probe always reaches an empty slot.
    for (;;) {
      const i = index[slot];
      if (i < 0) return null;
      if (this.#vips[slot] === vip && this.#portProto[slot] === pp) return this.#services[i];
      slot = (slot + 1) & mask;
    }
  }

  /**
   * The IPv6 service for (protocol, the VIP at `buf[off ..+16)`, port), or null. Allocation-free:
   * the IPv6 packet path's call.
   */
  lookup6(protocol: Protocol, buf: Uint8Array, off: number, port: number): VirtualService | null {
    if (this.#count6 === 0) return null;
    const pp = port * 2 + (protocol === "udp" ? 1 : 0);
    const fold = fold128(0, buf, off);
    const mask = this.#mask6;
    const index = this.#index6;
    let slot = slotHash(fold, pp, mask);
    for (;;) {
      const i = index[slot];
      if (i < 0) return null;
      if (this.#folds6[slot] === fold && this.#portProto6[slot] === pp) {
        const s = this.#services[i];
        if (equal16(s.vip6 as Uint8Array, 0, buf, off)) return s;
      }
      slot = (slot + 1) & mask;
    }
  }

  /** True when some service listens on `vip` (any protocol or port). */
  hasVip(vip: number): boolean {
    for (const s of this.#services) if (s.vip === vip) return true;
    return false;
  }

  /** True when some IPv6 service listens on the address `buf[off ..+16)`. Allocates nothing. */
  hasVip6(buf: Uint8Array, off: number): boolean {
    if (this.#count6 === 0) return false;
    const list = this.#services;
    for (let i = 0; i < list.length; i++) {
      const v = list[i].vip6;
      if (v !== null && equal16(v, 0, buf, off)) return true;
    }
    return false;
  }

  /** Adds a service; throws if one with the same (protocol, vip, port) exists. */
  add(service: VirtualService): VirtualService {
    if (this.lookup(service.protocol, service.vip, service.port) !== null) {
      throw new Error(
        `virtual service ${service.protocol} ${formatAddress(service.vip)}:${service.port} ` +
          "already exists",
      );
    }
    this.#services.push(service);
    this.#rebuild();
    return service;
  }

  /** Removes and returns the service for (protocol, vip, port), or null if none. */
  remove(protocol: Protocol, vip: number, port: number): VirtualService | null {
    const s = this.lookup(protocol, vip, port);
    if (s === null) return null;
    this.#services.splice(this.#services.indexOf(s), 1);
    this.#rebuild();
    return s;
  }

  /** All services, in the order they were added. */
  list(): readonly VirtualService[] {
    return this.#services;
  }

  #rebuild(): void {
    let cap = 8;
    while (cap < this.#services.length * 2) cap *= 2;
    this.#vips = new Float64Array(cap);
    this.#portProto = new Uint32Array(cap);
    this.#index = new Int32Array(cap).fill(-1);
    this.#mask = cap - 1;
    this.#folds6 = new Uint32Array(cap);
    this.#portProto6 = new Uint32Array(cap);
    this.#index6 = new Int32Array(cap).fill(-1);
    this.#mask6 = cap - 1;
    this.#count6 = 0;
    for (let i = 0; i < this.#services.length; i++) {
      const s = this.#services[i];
      const pp = s.port * 2 + protoBit(s.protocol);
      // The IPv4 index takes every service (by handle for IPv6: the control path's lookup).
      let slot = slotHash(s.vip, pp, this.#mask);
      while (this.#index[slot] >= 0) slot = (slot + 1) & this.#mask;
      this.#vips[slot] = s.vip;
      this.#portProto[slot] = pp;
      this.#index[slot] = i;
      if (s.vip6 === null) continue;
      this.#count6++;
      const fold = fold128(0, s.vip6, 0);
      slot = slotHash(fold, pp, this.#mask6);
      while (this.#index6[slot] >= 0) slot = (slot + 1) & this.#mask6;
      this.#folds6[slot] = fold;
      this.#portProto6[slot] = pp;
      this.#index6[slot] = i;
    }
  }
}
