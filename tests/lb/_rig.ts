/**
 * The balancer on a real Stack over a capturing in-memory device, with a FakeClock and static
 * ARP entries: a test injects a frame with `send` and gets back the hook's verdict and every
 * frame the stack sent. Addresses of the fixture network:
 *
 *   LB 10.0.0.1/24 (02:..:01), gateway 10.0.0.254 (02:..:fe), VIP 10.0.0.100
 *   real servers 10.0.0.11, .12, .13 (02:..:0b, 0c, 0d); on-link client 10.0.0.50 (02:..:32)
 *   remote client 192.168.7.9 behind the gateway; remote TUN real server 172.16.0.5
 *
 * @module
 */

import { FakeClock } from "../../stack/clock.ts";
import { createMemoryDevice, type MemoryDevice } from "../../stack/link/memory.ts";
import type { HookVerdict } from "../../stack/net/hook.ts";
import { Stack } from "../../stack/net/stack.ts";
import { Balancer, type BalancerOptions } from "../../lb/balancer.ts";
import { type ForwardMethod, VirtualService } from "../../lb/service.ts";
import type { SchedulerName } from "../../lb/scheduler/scheduler.ts";
import { ip, macN } from "./_packets.ts";

/** The balancer's address. */
export const LB = ip("10.0.0.1");
/** The balancer's MAC. */
export const LB_MAC = macN(0x01);
/** The default gateway. */
export const GW = ip("10.0.0.254");
/** The gateway's MAC. */
export const GW_MAC = macN(0xfe);
/** The virtual address of every fixture service. */
export const VIP = ip("10.0.0.100");
/** Real servers on the link. */
export const REAL1 = ip("10.0.0.11");
/** Second real server. */
export const REAL2 = ip("10.0.0.12");
/** Third real server. */
export const REAL3 = ip("10.0.0.13");
/** Real server address -> MAC (static ARP entries). */
export const REAL_MACS = new Map([[REAL1, macN(0x0b)], [REAL2, macN(0x0c)], [REAL3, macN(0x0d)]]);
/** A client on the link. */
export const CLIENT = ip("10.0.0.50");
/** Its MAC. */
export const CLIENT_MAC = macN(0x32);
/** A client behind the gateway. */
export const REMOTE_CLIENT = ip("192.168.7.9");
/** A real server behind the gateway (for TUN). */
export const REMOTE_REAL = ip("172.16.0.5");

/** A balancer under test. */
export interface Rig {
  clock: FakeClock;
  device: MemoryDevice;
  stack: Stack;
  balancer: Balancer;
  /** Verdicts of the hook, in order. */
  verdicts: HookVerdict[];
  /** Injects `frame`; returns the hook's verdict (or "none" if the hook was not called). */
  send(frame: Uint8Array): HookVerdict | "none";
  /** Removes and returns the frames sent so far. */
  sent(): Uint8Array[];
}

/** Options of {@link rig}: services are given as compact specs. */
export interface RigOptions extends BalancerOptions {
  mtu?: number;
  services?: {
    protocol?: "tcp" | "udp";
    port?: number;
    scheduler?: SchedulerName;
    method: ForwardMethod;
    reals: { address: number; port?: number; weight?: number }[];
  }[];
}

/** Builds the fixture network's balancer. */
export function rig(options: RigOptions = {}): Rig {
  const clock = new FakeClock(1_000);
  const device = createMemoryDevice({ mac: LB_MAC, capture: true, mtu: options.mtu ?? 1500 });
  const stack = new Stack({ device, address: LB, prefix: 24, gateway: GW, clock });
  stack.arp.addStatic(GW, GW_MAC);
  stack.arp.addStatic(CLIENT, CLIENT_MAC);
  for (const [a, m] of REAL_MACS) stack.arp.addStatic(a, m);
  const balancer = new Balancer(stack, { seed: 7, ...options });
  for (const s of options.services ?? []) {
    const svc = new VirtualService({
      protocol: s.protocol ?? "tcp",
      vip: VIP,
      port: s.port ?? 80,
      scheduler: s.scheduler ?? "rr",
      method: s.method,
    });
    for (const r of s.reals) svc.addReal(r);
    balancer.addService(svc);
  }
  balancer.attach();
  const verdicts: HookVerdict[] = [];
  const hook = balancer.hook;
  stack.hook = (b, f, o, l) => {
    const v = hook(b, f, o, l);
    verdicts.push(v);
    return v;
  };
  return {
    clock,
    device,
    stack,
    balancer,
    verdicts,
    send(frame) {
      const before = verdicts.length;
      // Copy into a buffer with the TAP's alignment (IP header 4-byte aligned), as the device
      // would hand it over.
      const buf = new Uint8Array(frame.length + 2);
      buf.set(frame, 2);
      stack.input(buf, 2, frame.length);
      return verdicts.length > before ? verdicts[verdicts.length - 1] : "none";
    },
    sent: () => device.takeSent(),
  };
}
