/**
 * Handshakes for the state-machine tests, on top of the hand-driven peer.
 *
 * @module
 */
import { assertEquals } from "../../assert.ts";
import type { TcpConn } from "../../../stack/tcp/conn.ts";
import type { TcpListener } from "../../../stack/tcp/listener.ts";
import { ACK, Peer, SYN } from "./_peer.ts";

/** A passive open on port 80 from peer port 40000, peer ISN 1000. */
export interface Opened {
  p: Peer;
  listener: TcpListener;
  conn: TcpConn;
  /** The stack's ISS. */
  iss: number;
  /** Next sequence number the peer sends (its ISN + 1). */
  peerSeq: number;
  /** Next sequence number the stack sends. */
  localSeq: number;
}

/** Options of the peer's SYN. */
export interface SynOptions {
  mss?: number;
  ws?: number;
  sackPerm?: boolean;
  ts?: boolean;
  win?: number;
  /** Milliseconds between the stack's SYN-ACK and the final ACK (the first RTT sample). */
  rttMs?: number;
}

/**
 * Opens a connection passively: SYN (with `o`), the stack's SYN-ACK, the final ACK; returns the
 * accepted connection. Timestamps: the peer's TSval starts at 100 and the test keeps TSecr.
 */
export async function openPassive(
  p: Peer,
  o: SynOptions = { mss: 1460, ws: 7, sackPerm: true, ts: true },
): Promise<Opened> {
  const listener = p.stack.listen({ port: 80 });
  p.send({
    sport: 40000,
    dport: 80,
    seq: 1000,
    ack: 0,
    flags: SYN,
    win: o.win ?? 65535,
    mss: o.mss,
    ws: o.ws,
    sackPerm: o.sackPerm,
    ts: o.ts ? [100, 0] : undefined,
  });
  const synAck = p.one();
  assertEquals(synAck.flags, SYN | ACK);
  assertEquals(synAck.ack, 1001);
  if (o.rttMs !== undefined) p.clock.advance(o.rttMs);
  p.send({
    sport: 40000,
    dport: 80,
    seq: 1001,
    ack: (synAck.seq + 1) >>> 0,
    flags: ACK,
    win: o.win ?? 65535,
    ts: o.ts ? [101, synAck.ts![0]] : undefined,
  });
  const conn = await listener.accept();
  return {
    p,
    listener,
    conn,
    iss: synAck.seq,
    peerSeq: 1001,
    localSeq: (synAck.seq + 1) >>> 0,
  };
}
