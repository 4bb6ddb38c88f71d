/**
 * Offloads of a TAP device: the TUNSETOFFLOAD flags a reader announces to the kernel (<linux/if_tun.h>),
 * and, re-exported, the virtio-net header the frames then carry (stack/wire/virtio_net.ts: its
 * layout, the per-frame metadata object, the partial-checksum helpers). Protocol code imports
 * the header from stack/wire/ directly; the link layer's devices use both.
 *
 * @module
 */

export * from "../wire/virtio_net.ts";

/** TUNSETOFFLOAD flag: the reader handles partial checksums (NEEDS_CSUM). */
export const TUN_F_CSUM = 0x01;
/** TUNSETOFFLOAD flag: the reader takes TCP/IPv4 super-frames. */
export const TUN_F_TSO4 = 0x02;
/** TUNSETOFFLOAD flag: the reader takes TCP/IPv6 super-frames. */
export const TUN_F_TSO6 = 0x04;
/** TUNSETOFFLOAD flag: the reader takes super-frames with the ECN bit. */
export const TUN_F_TSO_ECN = 0x08;
