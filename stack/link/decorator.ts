/**
 * The base of devices that wrap another device (pcap recording, impairment): they are the same
 * link, so name, MAC, MTU, counters and offload capabilities are the inner device's. Subclasses
 * implement `run`, `send` and `close` around it.
 *
 * @module
 */
import type { Device, DeviceStats, FrameHandler } from "./device.ts";
import type { FrameOffload } from "./offload.ts";

/** A device that decorates `inner`. */
export abstract class DeviceDecorator implements Device {
  /** The wrapped device. */
  readonly inner: Device;

  /** Wraps `inner`. */
  constructor(inner: Device) {
    this.inner = inner;
  }

  /** The inner device's name. */
  get name(): string {
    return this.inner.name;
  }

  /** The inner device's MAC. */
  get mac(): Uint8Array {
    return this.inner.mac;
  }

  /** The inner device's MTU. */
  get mtu(): number {
    return this.inner.mtu;
  }

  /** The inner device's counters (what actually crossed the link). */
  get stats(): DeviceStats {
    return this.inner.stats;
  }

  /** The inner device's receive offload metadata (same object), if it has offloads. */
  get rxOffload(): FrameOffload | undefined {
    return this.inner.rxOffload;
  }

  /** Whether the inner device's `send()` takes offload metadata. */
  get txOffloads(): boolean {
    return this.inner.txOffloads === true;
  }

  /** Forwards to the inner device: its loop keeps the program alive again. */
  ref(): void {
    this.inner.ref?.();
  }

  /** Forwards to the inner device: its loop no longer keeps the program alive. */
  unref(): void {
    this.inner.unref?.();
  }

  /** Runs the receive loop (see {@link Device.run}). */
  abstract run(onFrame: FrameHandler, onIdle?: () => void): Promise<void>;
  /** Sends one frame (see {@link Device.send}). */
  abstract send(
    buf: Uint8Array,
    off: number,
    len: number,
    offload?: FrameOffload | null,
  ): boolean;
  /** Closes the device (see {@link Device.close}). */
  abstract close(): void;
}
