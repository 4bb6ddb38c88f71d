/**
 * The fields of one arriving segment, parsed once by the layer and handed to the state machine.
 * One instance is reused for every segment (no allocation per packet); `buf` and `payloadOff`
 * point into the device's frame and are only valid during the call.
 *
 * @module
 */

import { TcpOptions } from "../wire/tcp_options.ts";
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "../wire/tcp.ts";

/** One received segment, header fields decoded. */
export class Segment {
  /** Source address (the peer); over IPv6 its address key (see `Tcb.localAddr`). */
  src = 0;
  /** Destination address (ours); over IPv6 its address key. */
  dst = 0;
  /** The segment came over IPv6: `src6`/`dst6` hold the addresses. */
  v6 = false;
  /** IPv6 source address (valid when `v6`). */
  readonly src6 = new Uint8Array(16);
  /** IPv6 destination address (valid when `v6`). */
  readonly dst6 = new Uint8Array(16);
  /** Source port. */
  srcPort = 0;
  /** Destination port. */
  dstPort = 0;
  /** SEG.SEQ. */
  seq = 0;
  /** SEG.ACK. */
  ack = 0;
  /** Flag bits (TCP_*). */
  flags = 0;
  /** The window field as received (not scaled). */
  window = 0;
  /** Buffer holding the payload. */
  buf: Uint8Array = new Uint8Array(0);
  /** Absolute offset of the payload in `buf`. */
  payloadOff = 0;
  /** Payload length, bytes. */
  payloadLen = 0;
  /**
   * For a super-frame (a TAP with offloads hands over up to 64 KB at once): the payload bytes
   * per segment it stands for (the sender's gso_size). 0 for a plain segment.
   */
  gsoSize = 0;
  /** The options (reset per segment). */
  readonly opts: TcpOptions = new TcpOptions();

  /** SYN set. */
  get syn(): boolean {
    return (this.flags & TCP_SYN) !== 0;
  }

  /** FIN set. */
  get fin(): boolean {
    return (this.flags & TCP_FIN) !== 0;
  }

  /** RST set. */
  get rst(): boolean {
    return (this.flags & TCP_RST) !== 0;
  }

  /** ACK set. */
  get hasAck(): boolean {
    return (this.flags & TCP_ACK) !== 0;
  }

  /** SEG.LEN: payload plus one for SYN and one for FIN (RFC 9293 3.4). */
  get segLen(): number {
    return this.payloadLen + ((this.flags & TCP_SYN) !== 0 ? 1 : 0) +
      ((this.flags & TCP_FIN) !== 0 ? 1 : 0);
  }
}
