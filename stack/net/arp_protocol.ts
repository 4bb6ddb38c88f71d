/**
 * ARP on the wire (RFC 826): answers requests for every address the host owns, feeds the cache
 * from every ARP packet (the "merge" rule), sends requests for the cache and announcements
 * (gratuitous ARP in the RFC 5227 section 3 form) when an address comes up.
 *
 * @module
 */

import { BROADCAST_MAC, ZERO_MAC } from "../wire/address.ts";
import { ARP_LEN, ARP_OP_REPLY, ARP_OP_REQUEST, ArpView, writeArp } from "../wire/arp.ts";
import { ETH_HEADER_LEN, ETH_TYPE_ARP, writeEthernetHeader } from "../wire/ethernet.ts";
import type { Device } from "../link/device.ts";
import type { ArpCache } from "./arp.ts";
import type { Counters } from "./counters.ts";

/** The pieces of the stack ARP uses. */
export interface ArpHost {
  readonly device: Device;
  readonly counters: Counters;
  readonly arp: ArpCache;
  /** True for every address the host owns (its interface address and extra ones, VIPs). */
  hasAddress(addr: number): boolean;
  /**
   * True for the owned addresses ARP answers for; when absent, every owned address. A real
   * server's VIP is owned but not answered (Linux arp_ignore=1), so only the balancer answers.
   */
  answersArp?(addr: number): boolean;
  /** The source address for requests (the interface address). */
  readonly address: number;
}

/** ARP input and output for one device. */
export class ArpProtocol {
  readonly #host: ArpHost;
  readonly #view = new ArpView();
  /** One ARP frame, reused for every request, reply and announcement. */
  readonly #tx = new Uint8Array(ETH_HEADER_LEN + ARP_LEN);
  /** The requester's MAC, copied out of the received frame before the reply is built. */
  readonly #peerMac = new Uint8Array(6);

  /** ARP over `host.device`. */
  constructor(host: ArpHost) {
    this.#host = host;
  }

  /**
   * Handles one ARP packet `buf[off .. off+len)` (the Ethernet payload). Malformed packets are
   * counted by their wire reason; each valid one ends as "arp.rx_requests" or "arp.rx_replies".
   */
  input(buf: Uint8Array, off: number, len: number): void {
    const host = this.#host;
    const counters = host.counters;
    const v = this.#view.wrap(buf, off, len);
    const reason = v.check();
    if (reason !== null) {
      counters.drop(reason);
      return;
    }
    const op = v.op;
    if (op !== ARP_OP_REQUEST && op !== ARP_OP_REPLY) {
      counters.count("drop.arp_bad_op");
      return;
    }
    const senderIp = v.senderIp;
    const targetIp = v.targetIp;
    const macOff = v.senderMacOffset;
    const ourMac = host.device.mac;
    const owns = host.answersArp === undefined
      ? host.hasAddress(senderIp)
      : host.answersArp(senderIp);
    if (owns) {
      // Someone else claims one of our addresses (RFC 5227 2.4 conflict); or our own frame
      // looped back. Either way it teaches the cache nothing.
      if (!sameMac(buf, macOff, ourMac)) counters.count("arp.conflict");
      counters.count(op === ARP_OP_REQUEST ? "arp.rx_requests" : "arp.rx_replies");
      return;
    }
    const targetsUs = host.answersArp === undefined
      ? host.hasAddress(targetIp)
      : host.answersArp(targetIp);
    host.arp.update(senderIp, buf, macOff, op === ARP_OP_REPLY, targetsUs);
    if (op === ARP_OP_REPLY) {
      counters.count("arp.rx_replies");
      return;
    }
    counters.count("arp.rx_requests");
    // A request from sender 0.0.0.0 is an RFC 5227 probe for an address; the owner answers it
    // like any request, which is how the prober learns of the conflict (RFC 5227 2.1.1).
    if (!targetsUs) return;
    // RFC 826: swap sender and target, put our address in, answer the requester directly.
    const peer = this.#peerMac;
    for (let i = 0; i < 6; i++) peer[i] = buf[macOff + i];
    const tx = this.#tx;
    writeEthernetHeader(tx, 0, peer, ourMac, ETH_TYPE_ARP);
    writeArp(tx, ETH_HEADER_LEN, ARP_OP_REPLY, ourMac, targetIp, peer, senderIp);
    if (host.device.send(tx, 0, tx.length)) counters.count("arp.tx_replies");
    else counters.count("drop.tx_device");
  }

  /** Sends a request for `targetIp`: broadcast, or unicast to `dstMac` (revalidation). */
  sendArpRequest(targetIp: number, dstMac: Uint8Array | null): void {
    const host = this.#host;
    const tx = this.#tx;
    writeEthernetHeader(tx, 0, dstMac ?? BROADCAST_MAC, host.device.mac, ETH_TYPE_ARP);
    writeArp(tx, ETH_HEADER_LEN, ARP_OP_REQUEST, host.device.mac, host.address, ZERO_MAC, targetIp);
    if (!host.device.send(tx, 0, tx.length)) host.counters.count("drop.tx_device");
  }

  /**
   * Announces `addr` (RFC 5227 section 3, "ARP Announcement"): a broadcast request whose sender
   * and target address are both `addr`, so every neighbour holding an entry for it updates it.
   */
  announce(addr: number): void {
    const host = this.#host;
    const tx = this.#tx;
    writeEthernetHeader(tx, 0, BROADCAST_MAC, host.device.mac, ETH_TYPE_ARP);
    writeArp(tx, ETH_HEADER_LEN, ARP_OP_REQUEST, host.device.mac, addr, ZERO_MAC, addr);
    if (host.device.send(tx, 0, tx.length)) host.counters.count("arp.tx_announcements");
    else host.counters.count("drop.tx_device");
  }
}

function sameMac(buf: Uint8Array, off: number, mac: Uint8Array): boolean {
  return buf[off] === mac[0] && buf[off + 1] === mac[1] && buf[off + 2] === mac[2] &&
    buf[off + 3] === mac[3] && buf[off + 4] === mac[4] && buf[off + 5] === mac[5];
}
