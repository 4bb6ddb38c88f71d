/**
 * Link devices: the {@link Device} interface, the TAP over FFI, the in-memory pair for tests,
 * and the pcap recorder.
 *
 * @module
 */

export type { Device, DeviceStats, FrameHandler } from "./device.ts";
export { newDeviceStats } from "./device.ts";
export { DeviceError, type DeviceErrorOptions } from "./errors.ts";
export { checkInterfaceName, TapDevice, type TapOptions } from "./tap.ts";
export {
  createMemoryDevice,
  createMemoryPair,
  MemoryDevice,
  type MemoryDeviceOptions,
  type MemoryPairOptions,
  type SendObserver,
} from "./memory.ts";
export {
  LINKTYPE_ETHERNET,
  PCAP_MAGIC,
  PCAP_SNAPLEN,
  PcapDevice,
  type PcapSink,
  PcapWriter,
} from "./pcap.ts";
export * from "./decorator.ts";
export {
  clearOffload,
  copyOffload,
  type FrameOffload,
  hasOffload,
  newFrameOffload,
  VNET_HDR_LEN,
} from "./offload.ts";
