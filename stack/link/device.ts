/**
 * The one small interface every link device implements: the TAP device over FFI, the in-memory
 * pair used by unit tests, and wrappers (pcap recording, impairment) that decorate another device.
 *
 * @module
 */

import type { FrameOffload } from "./offload.ts";

/**
 * Called for each received frame. `buf[off .. off+len)` is the whole Ethernet frame (no FCS).
 * The bytes are only valid during the call: the device reuses the buffer for the next frame, so
 * a receiver that keeps a frame (e.g. a packet waiting for ARP) must copy it.
 */
export type FrameHandler = (buf: Uint8Array, off: number, len: number) => void;

/** Counters every device keeps. Plain numbers, updated in place (no allocation per frame). */
export interface DeviceStats {
  /** Frames received. */
  rxFrames: number;
  /** Bytes of the frames received. */
  rxBytes: number;
  /** Frames sent. */
  txFrames: number;
  /** Bytes of the frames sent. */
  txBytes: number;
  /** Frames the device could not send (kernel queue full, peer closed, frame too large). */
  txDropped: number;
  /** Frames read but discarded by the device itself (e.g. shorter than an Ethernet header). */
  rxDropped: number;
}

/** A link device: receives and sends whole Ethernet frames. */
export interface Device {
  /** Interface name (the TAP's name, or a label for in-memory devices). */
  readonly name: string;
  /** The device's own hardware address (6 bytes). Frames the stack sends carry it as source. */
  readonly mac: Uint8Array;
  /** Largest IP packet the link carries (Ethernet payload size), 1500 by default. */
  readonly mtu: number;
  /** Counters, updated in place. */
  readonly stats: DeviceStats;
  /**
   * Offload metadata of the frame being handed to `onFrame` (a TAP with `IFF_VNET_HDR`; see
   * offload.ts): a partial or verified L4 checksum, or a TCP super-frame longer than the MTU. Valid
   * only during the `onFrame` call, like the bytes. Undefined for devices without offloads.
   */
  readonly rxOffload?: FrameOffload;
  /**
   * True when `send()` takes offload metadata (a TAP with `IFF_VNET_HDR`; see offload.ts): a frame
   * may then go with a partial L4 checksum for the kernel to complete, or as a TCP/IPv4
   * super-frame of up to 65535 + 18 bytes for it to segment. Absent or false: plain frames only.
   */
  readonly txOffloads?: boolean;
  /**
   * Runs the receive loop until `close()`: `onFrame` is called for every frame, and `onIdle` (if
   * given) once after each burst, when the device has drained every readable frame and is about
   * to wait; the stack flushes batched output there. Resolves when the device is closed.
   * Errors thrown by the handlers are the caller's bug: the loop reports them and goes on.
   */
  run(onFrame: FrameHandler, onIdle?: () => void): Promise<void>;
  /**
   * Sends one frame, `buf[off .. off+len)`. Synchronous: returns true when the frame was handed to
   * the link, false when it was dropped (counted in `stats.txDropped`). The caller may reuse the
   * buffer as soon as this returns.
   *
   * `offload` is the metadata of this frame alone (null or absent: a plain frame); the device
   * reads it during the call and never changes it, so a caller keeps one object and refills it
   * per frame. Only a device with `txOffloads` takes metadata that asks for work (a partial
   * checksum, a GSO type): another drops such a frame. A device with `txOffloads` may use the 10
   * bytes before `off` as scratch during the call (restored before it returns).
   */
  send(buf: Uint8Array, off: number, len: number, offload?: FrameOffload | null): boolean;
  /** Stops the receive loop and releases the device. Idempotent. */
  close(): void;
  /**
   * The receive loop keeps the program alive (the default), as Deno's `ref()`. Devices whose
   * loop never holds the event loop (in-memory ones) need not have it.
   */
  ref?(): void;
  /** The receive loop no longer keeps the program alive, as Deno's `unref()`. */
  unref?(): void;
}

/** A fresh zeroed counter set. */
export function newDeviceStats(): DeviceStats {
  return { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, txDropped: 0, rxDropped: 0 };
}
