/**
 * Pure byte layouts: views over `Uint8Array` and builders for Ethernet, ARP, IPv4, IPv6 (with its
 * extension headers and addresses), ICMP, ICMPv6 and Neighbor Discovery, UDP, TCP and IP-in-IP, with
 * checksums and sequence arithmetic. No I/O, no state.
 *
 * @module
 */

export * from "./bytes.ts";
export * from "./address.ts";
export * from "./checksum.ts";
export * from "./ethernet.ts";
export * from "./arp.ts";
export * from "./ipv4.ts";
export * from "./ipv6.ts";
export * from "./address6.ts";
export * from "./icmpv6.ts";
export * from "./icmp.ts";
export * from "./udp.ts";
export * from "./tcp.ts";
export * from "./tcp_options.ts";
export * from "./seq.ts";
export * from "./ipip.ts";
export * from "./view.ts";
