/**
 * IPv4 output: route lookup, ARP resolution of the next hop, fragmentation (RFC 791 3.2) and the
 * Ethernet header. The caller builds the whole IPv4 packet (checksum included) behind at least
 * 14 bytes of headroom; when the packet fits the MTU and the MAC is known, the Ethernet header is
 * written into that headroom and the frame is sent without a copy.
 *
 * Offloads (stack/link/offload.ts): a packet sent with offload metadata (TCP's partial checksums
 * and super-frames, the balancer forwarding a received super-frame) hands it to the device with
 * the packet's own frame only (an ARP request sent meanwhile goes plain). A TCP super-frame is
 * segmented by the kernel, each segment within the MTU (gso_size), so it is neither fragmented
 * nor refused for DF: it goes out whole. A packet that must wait for ARP is queued plain: its
 * partial checksum completed, and a super-frame larger than the MTU dropped and counted
 * ("drop.tx_gso_unresolved"). The caller's metadata object is only read.
 *
 * @module
 */

import { isMulticastIpv4 } from "../wire/address.ts";
import { copyBytes, readU16, readU32, writeU16 } from "../wire/bytes.ts";
import { internetChecksum } from "../wire/checksum.ts";
import { ETH_HEADER_LEN, ETH_TYPE_IPV4, writeEthernetHeader } from "../wire/ethernet.ts";
import { copyFragmentOptions, Ipv4View } from "../wire/ipv4.ts";
import type { Device } from "../link/device.ts";
import {
  completePartialChecksum,
  type FrameOffload,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_ECN,
  VNET_GSO_TCPV4,
} from "../wire/virtio_net.ts";
import type { ArpCache } from "./arp.ts";
import type { Counters } from "./counters.ts";
import type { RouteTable } from "./route.ts";

/** Bytes of headroom `sendIpv4` needs before the IP header. */
export const TX_HEADROOM = ETH_HEADER_LEN;

/** The pieces of the stack the output path uses. */
export interface Ipv4OutputHost {
  readonly device: Device;
  readonly counters: Counters;
  readonly routes: RouteTable;
  /** Set after construction (the cache needs the output path as its transport). */
  readonly arp: ArpCache;
  /** True for 255.255.255.255 and the directed broadcast of a connected subnet. */
  isBroadcast(addr: number): boolean;
  /** True for the host's own addresses (there is no loopback device: such sends are refused). */
  hasAddress(addr: number): boolean;
}

/** Sends IPv4 packets out of one device. */
export class Ipv4Output {
  readonly #host: Ipv4OutputHost;
  readonly #device: Device;
  readonly #counters: Counters;
  readonly #mac: Uint8Array;
  readonly #mtu: number;
  /** One frame of fragment (headroom + MTU), reused for every fragment. */
  readonly #frag: Uint8Array;
  /** Destination MAC scratch for broadcast/multicast. */
  readonly #groupMac = new Uint8Array(6);
  /** View over the packet being fragmented (for copying its options). */
  readonly #view = new Ipv4View();
  /** Counter slots of the per-frame outcomes (counters.ts: no name lookup per frame). */
  readonly #cTxFrames: number;
  readonly #cTxGso: number;

  /** Output over `host.device`. */
  constructor(host: Ipv4OutputHost) {
    this.#host = host;
    this.#device = host.device;
    this.#counters = host.counters;
    this.#mac = host.device.mac;
    this.#mtu = host.device.mtu;
    this.#frag = new Uint8Array(ETH_HEADER_LEN + this.#mtu);
    this.#cTxFrames = host.counters.slot("tx_frames");
    this.#cTxGso = host.counters.slot("link.tx_gso");
  }

  /**
   * Routes and sends `buf[ipOff .. ipOff+ipLen)`, with `offload` as its metadata (null: plain; see
   * the module comment). True when the packet was sent or queued for ARP, false when it was
   * dropped (counted: "drop.tx_no_route", "drop.tx_to_self" (no loopback), "drop.tx_frag_needed",
   * ARP bounds, device refusal).
   */
  send(
    buf: Uint8Array,
    ipOff: number,
    ipLen: number,
    offload: FrameOffload | null = null,
  ): boolean {
    if (ipOff < TX_HEADROOM) throw new RangeError(`sendIpv4 needs ${TX_HEADROOM} bytes headroom`);
    if (offload !== null && (offload.flags | offload.gsoType) !== 0) {
      return this.#sendOffloaded(buf, ipOff, ipLen, -1, offload);
    }
    const dst = readU32(buf, ipOff + 16);
    if (this.#host.isBroadcast(dst)) {
      this.#groupMac.fill(0xff);
      return this.transmit(buf, ipOff, ipLen, this.#groupMac);
    }
    if (isMulticastIpv4(dst)) {
      // RFC 1112 6.4: 01:00:5e and the low 23 bits of the group address.
      const m = this.#groupMac;
      m[0] = 0x01;
      m[1] = 0x00;
      m[2] = 0x5e;
      m[3] = (dst >>> 16) & 0x7f;
      m[4] = (dst >>> 8) & 0xff;
      m[5] = dst & 0xff;
      return this.transmit(buf, ipOff, ipLen, m);
    }
    if (this.#host.hasAddress(dst)) {
      this.#counters.count("drop.tx_to_self");
      return false;
    }
    const nextHop = this.#host.routes.nextHop(dst);
    if (nextHop === null) {
      this.#counters.count("drop.tx_no_route");
      return false;
    }
    return this.sendVia(buf, ipOff, ipLen, nextHop);
  }

  /**
   * Sends to an explicit next hop (resolved with ARP), whatever the packet's destination: the
   * balancer's direct routing keeps the VIP as destination and sends to a real server's MAC.
   * `offload` as for {@link send}.
   */
  sendVia(
    buf: Uint8Array,
    ipOff: number,
    ipLen: number,
    nextHop: number,
    offload: FrameOffload | null = null,
  ): boolean {
    if (ipOff < TX_HEADROOM) throw new RangeError(`sendIpv4 needs ${TX_HEADROOM} bytes headroom`);
    if (offload !== null && (offload.flags | offload.gsoType) !== 0) {
      return this.#sendOffloaded(buf, ipOff, ipLen, nextHop, offload);
    }
    // Refuse before queueing what could never leave (RFC 791: DF set and too big).
    if (ipLen > this.#mtu && (buf[ipOff + 6] & 0x40) !== 0) {
      this.#counters.count("drop.tx_frag_needed");
      return false;
    }
    const r = this.#host.arp.resolve(nextHop, buf, ipOff, ipLen);
    if (r === "queued") return true;
    if (r === "dropped") return false;
    return this.transmit(buf, ipOff, ipLen, r);
  }

  /**
   * A packet with offload metadata `p` (see the module comment): `nextHop` -1 routes it by its
   * destination. The metadata goes to the device only with the packet's own frame.
   */
  #sendOffloaded(
    buf: Uint8Array,
    ipOff: number,
    ipLen: number,
    nextHop: number,
    p: FrameOffload,
  ): boolean {
    // What the kernel would refuse (virtio_net_hdr_to_skb): only TCP/IPv4 super-frames here.
    if (
      p.gsoType !== 0 &&
      ((p.gsoType & ~VNET_GSO_ECN) !== VNET_GSO_TCPV4 || buf[ipOff + 9] !== 6 || p.gsoSize === 0)
    ) {
      this.#counters.count("drop.tx_bad_offload");
      return false;
    }
    if (nextHop < 0) {
      const dst = readU32(buf, ipOff + 16);
      if (this.#host.isBroadcast(dst) || isMulticastIpv4(dst) || this.#host.hasAddress(dst)) {
        // Not one unicast next hop: the plain path decides, with a plain packet.
        return this.#makePlain(buf, ipOff, ipLen, p) && this.send(buf, ipOff, ipLen);
      }
      const hop = this.#host.routes.nextHop(dst);
      if (hop === null) {
        this.#counters.count("drop.tx_no_route");
        return false;
      }
      nextHop = hop;
    }
    const mac = this.#host.arp.lookup(nextHop);
    if (mac === null) {
      // It has to wait for ARP: the queue holds plain packets.
      return this.#makePlain(buf, ipOff, ipLen, p) && this.sendVia(buf, ipOff, ipLen, nextHop);
    }
    return this.transmit(buf, ipOff, ipLen, mac, p);
  }

  /**
   * Turns the packet with metadata `p` into a plain one: its partial checksum completed in
   * software. A super-frame beyond the MTU cannot be: false, counted.
   */
  #makePlain(buf: Uint8Array, ipOff: number, ipLen: number, p: FrameOffload): boolean {
    if (p.gsoType !== 0 && ipLen > this.#mtu) {
      this.#counters.count("drop.tx_gso_unresolved");
      return false;
    }
    if (
      (p.flags & VNET_F_NEEDS_CSUM) !== 0 &&
      !completePartialChecksum(buf, ipOff - ETH_HEADER_LEN, ETH_HEADER_LEN + ipLen, p)
    ) {
      this.#counters.count("drop.tx_bad_offload");
      return false;
    }
    return true;
  }

  /**
   * Sends the packet to `mac` with its metadata `offload` (null: plain), fragmenting it when it
   * exceeds the MTU (false, counted, when DF forbids; the fragments plain) unless it is a
   * super-frame (`gsoType` set), which goes whole. `buf` needs {@link TX_HEADROOM} bytes before
   * `ipOff`.
   */
  transmit(
    buf: Uint8Array,
    ipOff: number,
    ipLen: number,
    mac: Uint8Array,
    offload: FrameOffload | null = null,
  ): boolean {
    if (ipLen <= this.#mtu || (offload !== null && offload.gsoType !== 0)) {
      const off = ipOff - ETH_HEADER_LEN;
      writeEthernetHeader(buf, off, mac, this.#mac, ETH_TYPE_IPV4);
      return this.#send(buf, off, ETH_HEADER_LEN + ipLen, offload);
    }
    if ((buf[ipOff + 6] & 0x40) !== 0) {
      this.#counters.count("drop.tx_frag_needed");
      return false;
    }
    // Fragments go plain: a partial checksum is completed before the packet is cut.
    if (offload !== null && !this.#makePlain(buf, ipOff, ipLen, offload)) return false;
    return this.#fragment(buf, ipOff, ipLen, mac);
  }

  /**
   * RFC 791 3.2 fragmentation: each fragment carries a multiple of 8 data bytes (but the last);
   * the first keeps every option, later ones only those with the copy flag. The original's MF and
   * offset are honoured, so a fragment can be fragmented again.
   */
  #fragment(buf: Uint8Array, ipOff: number, ipLen: number, mac: Uint8Array): boolean {
    const frame = this.#frag;
    const ip = ETH_HEADER_LEN;
    const hl = (buf[ipOff] & 0x0f) << 2;
    const flags = readU16(buf, ipOff + 6);
    const baseOffset = (flags & 0x1fff) << 3;
    const originalMf = (flags & 0x2000) !== 0;
    const dataLen = ipLen - hl;
    writeEthernetHeader(frame, 0, mac, this.#mac, ETH_TYPE_IPV4);
    // Header of later fragments: the fixed 20 bytes plus the options to copy, built once.
    let laterHl = 0;
    let sent = 0;
    let ok = true;
    while (sent < dataLen) {
      const first = sent === 0;
      let fhl: number;
      if (first) {
        copyBytes(buf, ipOff, frame, ip, hl);
        fhl = hl;
      } else {
        if (laterHl === 0) {
          copyBytes(buf, ipOff, frame, ip, 20);
          const v = this.#view.wrap(buf, ipOff, ipLen);
          laterHl = 20 + copyFragmentOptions(v, frame, ip + 20);
          frame[ip] = 0x40 | (laterHl >>> 2);
        }
        fhl = laterHl;
      }
      const room = (this.#mtu - fhl) & ~7;
      if (room <= 0) {
        this.#counters.count("drop.tx_frag_needed");
        return false;
      }
      const len = dataLen - sent < room ? dataLen - sent : room;
      const last = sent + len === dataLen;
      copyBytes(buf, ipOff + hl + sent, frame, ip + fhl, len);
      writeU16(frame, ip + 2, fhl + len);
      writeU16(
        frame,
        ip + 6,
        (flags & 0x4000) | (!last || originalMf ? 0x2000 : 0) | ((baseOffset + sent) >>> 3),
      );
      writeU16(frame, ip + 10, 0);
      writeU16(frame, ip + 10, internetChecksum(frame, ip, fhl));
      if (!this.#send(frame, 0, ETH_HEADER_LEN + fhl + len, null)) ok = false;
      this.#counters.count("ipv4.tx_fragments");
      sent += len;
    }
    return ok;
  }

  #send(buf: Uint8Array, off: number, len: number, offload: FrameOffload | null): boolean {
    const gso = offload !== null && offload.gsoType !== 0;
    if (this.#device.send(buf, off, len, offload)) {
      this.#counters.add(this.#cTxFrames);
      if (gso) this.#counters.add(this.#cTxGso);
      return true;
    }
    this.#counters.count("drop.tx_device");
    return false;
  }
}
