/**
 * A running instance: the TAP device (optionally recorded to pcap), the Stack on it, and the
 * control socket that `lb.ts arp|route|stats|ping|...` talk to. Shared by `lb.ts stack` and
 * `lb.ts run`; the balancer adds its own control commands through `handlers`.
 *
 * @module
 */
import type { Device } from "../stack/link/device.ts";
import { TapDevice } from "../stack/link/tap.ts";
import { PcapDevice, PcapWriter } from "../stack/link/pcap.ts";
import { formatImpairSpec, ImpairedDevice } from "../stack/link/impair.ts";
import { Stack } from "../stack/net/stack.ts";
import { formatIpv4, formatMac } from "../stack/wire/address.ts";
import { ControlServer } from "./control/server.ts";
import type { ControlRequest } from "./control/protocol.ts";
import type { HostOptions } from "./host_flags.ts";
import { pingHandler } from "./commands/ping.ts";

/** A control command handler: gets the request, returns a JSON-able result. */
export type ControlHandler = (req: ControlRequest) => unknown | Promise<unknown>;

/** A started instance. */
export interface Instance {
  readonly stack: Stack;
  readonly device: Device;
  /** Adds control commands (e.g. the balancer's `list`, `conns`). */
  handle(cmd: string, handler: ControlHandler): void;
  /** Stops everything: control socket, stack, device, pcap (written completely). Idempotent. */
  close(): void;
  /** Resolves when the stack's receive loop has ended. */
  readonly done: Promise<void>;
}

/**
 * Opens the TAP, starts the stack and the control socket. Nothing is left open when it throws:
 * whatever was opened before the failure is closed again.
 */
export function startInstance(opts: HostOptions): Instance {
  let device: Device = TapDevice.open({
    name: opts.tap,
    mtu: opts.mtu,
    mac: opts.mac,
    // The CLI creates a missing TAP and keeps offloads off unless --offload, as it always has.
    create: true,
    offload: opts.offload ?? false,
  });
  let control: ControlServer | undefined;
  try {
    // The impairment sits on the wire side of the pcap recorder, so the capture shows what the
    // stack itself sent and received (as tcpdump on a host behind a lossy link would).
    const impaired = opts.impair !== undefined ? new ImpairedDevice(device, opts.impair) : null;
    if (impaired !== null) device = impaired;
    if (opts.pcap !== undefined) device = new PcapDevice(device, PcapWriter.open(opts.pcap));
    const stack = new Stack({
      device,
      address: opts.address,
      prefix: opts.prefix,
      gateway: opts.gateway,
      tcp: opts.tcp,
      ipv6: opts.ipv6,
      gateway6: opts.gateway6,
      dad: opts.dad,
    });
    const handlers = new Map<string, ControlHandler>();
    handlers.set("snapshot", () => {
      const snap = stack.snapshot();
      if (impaired !== null) {
        // What the impairment did, as "impair.*" counters (printed by `lb.ts stats`).
        for (const [k, v] of Object.entries(impaired.impairStats)) {
          // rxLost -> impair.rx_lost, named like the stack's own counters.
          snap.counters[`impair.${k.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase())}`] = v;
        }
      }
      return { ...snap, pid: Deno.pid };
    });
    handlers.set("netstat", () => stack.tcpSnapshot());
    handlers.set("tcp.usage", () => stack.tcp.usage());
    handlers.set("ping", pingHandler(stack));
    if (opts.control !== null) {
      control = ControlServer.listen(opts.control, (req) => {
        const h = handlers.get(req.cmd);
        if (h === undefined) throw new Error(`unknown control command "${req.cmd}"`);
        return h(req);
      });
    }
    let closed = false;
    // The receive loop also ends by itself when the device fails (a TAP read error): close the
    // rest too (the pcap file is then written completely and the control socket removed), and
    // report it, so the process does not exit 0 as after a requested stop.
    const done = stack.start().then(
      () => {
        if (!closed) throw new Error(`device ${opts.tap} stopped unexpectedly`);
      },
    ).finally(async () => {
      inst.close();
      await control?.done;
    });
    const inst: Instance = {
      stack,
      device,
      done,
      handle(cmd, handler) {
        handlers.set(cmd, handler);
      },
      close() {
        if (closed) return;
        closed = true;
        control?.close();
        stack.close();
      },
    };
    return inst;
  } catch (e) {
    control?.close();
    device.close();
    throw e;
  }
}

/** One line that says the instance is up (tests and operators wait for it). */
export function readyLine(what: string, opts: HostOptions, inst: Instance): string {
  const gw = opts.gateway !== undefined ? ` via ${formatIpv4(opts.gateway)}` : "";
  const impair = opts.impair !== undefined ? `, impair ${formatImpairSpec(opts.impair)}` : "";
  return `lb.ts: ${what} up on ${opts.tap} ${formatIpv4(opts.address)}/${opts.prefix}${gw} ` +
    `mac ${formatMac(inst.device.mac)} mtu ${inst.device.mtu}, control ${opts.control ?? "none"}` +
    impair;
}

/** Closes the instance on SIGINT/SIGTERM and resolves once it has stopped. */
export async function runUntilSignal(inst: Instance): Promise<void> {
  const stop = () => inst.close();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    await inst.done;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
}
