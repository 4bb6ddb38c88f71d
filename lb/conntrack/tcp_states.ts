/**
 * Connection states and their transitions, from IPVS `ip_vs_proto_tcp.c` (`tcp_states`,
 * `tcp_timeouts`, `set_tcp_state`) and `ip_vs_proto_udp.c` (one state, "UDP").
 *
 * IPVS tracks a TCP flow from the flags of the packets it forwards, not from sequence numbers. The
 * table used depends on what the balancer sees: with NAT both directions pass through it (the
 * INPUT table for client->server packets, OUTPUT for server->client); with DR and TUN the
 * server answers the client directly, so only client->server packets are seen and the INPUT-ONLY
 * table applies (IPVS flag `IP_VS_CONN_F_NOOUTPUT`, cleared if an output packet ever shows up).
 *
 * The rows are mainline Linux's (since the sloppy-TCP change, an ACK in NONE leads to
 * ESTABLISHED, so a flow picked up mid-stream, e.g. after a balancer restart, becomes active).
 *
 * @module
 */

/** State numbers, in IPVS order (`IP_VS_TCP_S_*`), plus the UDP state after them. */
export const ConnState = {
  NONE: 0,
  ESTABLISHED: 1,
  SYN_SENT: 2,
  SYN_RECV: 3,
  FIN_WAIT: 4,
  TIME_WAIT: 5,
  CLOSE: 6,
  CLOSE_WAIT: 7,
  LAST_ACK: 8,
  LISTEN: 9,
  SYNACK: 10,
  UDP: 11,
} as const;

/** A state's name, as `ipvsadm -L -c` prints it. */
export type ConnStateName = keyof typeof ConnState;

/** Number of states (TCP's eleven and UDP's one). */
export const STATE_COUNT = 12;

/** Number of TCP states, the columns of a transition table. */
const TCP_STATE_COUNT = 11;

/** State names indexed by state number. */
export const STATE_NAMES: readonly ConnStateName[] = [
  "NONE",
  "ESTABLISHED",
  "SYN_SENT",
  "SYN_RECV",
  "FIN_WAIT",
  "TIME_WAIT",
  "CLOSE",
  "CLOSE_WAIT",
  "LAST_ACK",
  "LISTEN",
  "SYNACK",
  "UDP",
];

/** Which way a packet goes: client -> server (INPUT) or server -> client (OUTPUT). */
export const Direction = { INPUT: 0, OUTPUT: 1 } as const;

/** Table offsets: INPUT, OUTPUT and, for flows whose server answers directly, INPUT_ONLY. */
export const TABLE_INPUT = 0;
/** Offset of the OUTPUT table (server -> client packets, NAT only). */
export const TABLE_OUTPUT = 1;
/** Offset of the INPUT-ONLY table (DR and TUN: the balancer never sees the answers). */
export const TABLE_INPUT_ONLY = 2;

/** TCP header flag bits (RFC 9293 section 3.1), as in byte 13 of the header. */
export const TCP_FIN = 0x01;
/** SYN flag bit. */
export const TCP_SYN = 0x02;
/** RST flag bit. */
export const TCP_RST = 0x04;
/** ACK flag bit. */
export const TCP_ACK = 0x10;

/**
 * Default timeouts in milliseconds, indexed by state (IPVS `tcp_timeouts`, `udp_timeouts`):
 * ESTABLISHED 15 min, SYN_SENT 2 min, SYN_RECV 1 min, FIN_WAIT 2 min, TIME_WAIT 2 min, CLOSE
 * 10 s, CLOSE_WAIT 60 s, LAST_ACK 30 s, LISTEN 2 min, SYNACK 2 min, NONE 2 s, UDP 5 min.
 */
export const DEFAULT_TIMEOUTS_MS: Readonly<Record<ConnStateName, number>> = {
  NONE: 2_000,
  ESTABLISHED: 900_000,
  SYN_SENT: 120_000,
  SYN_RECV: 60_000,
  FIN_WAIT: 120_000,
  TIME_WAIT: 120_000,
  CLOSE: 10_000,
  CLOSE_WAIT: 60_000,
  LAST_ACK: 30_000,
  LISTEN: 120_000,
  SYNACK: 120_000,
  UDP: 300_000,
};

/** A per-state 0/1 table with 1 for the named states. */
function stateSet(...names: ConnStateName[]): Readonly<Uint8Array> {
  const t = new Uint8Array(STATE_COUNT);
  for (const n of names) t[ConnState[n]] = 1;
  return t;
}

/**
 * Which states count as active (IPVS `activeconns`) by the classic rule: ESTABLISHED only. Every
 * other state, and UDP, counts as inactive.
 */
export const ACTIVE_ESTABLISHED_ONLY: Readonly<Uint8Array> = stateSet("ESTABLISHED");

/**
 * Mainline Linux's rule (`tcp_state_active_table`, since "ipvs: count pre-established TCP states
 * as active"): SYN_SENT, SYN_RECV and SYNACK count as active too, so a burst of new connections
 * weighs on (w)lc as much as established ones.
 */
export const ACTIVE_WITH_HANDSHAKE: Readonly<Uint8Array> = stateSet(
  "ESTABLISHED",
  "SYN_SENT",
  "SYN_RECV",
  "SYNACK",
);

// Short names for the table below (NONE and SYNACK never appear as a next state in it).
const sES = 1, sSS = 2, sSR = 3, sFW = 4, sTW = 5, sCL = 6, sCW = 7, sLA = 8, sLI = 9;

// deno-fmt-ignore
/**
 * Next state by [table][flag row][current state], flattened: rows syn, fin, ack, rst (IPVS
 * `tcp_states`, mainline). Columns: NONE ES SS SR FW TW CL CW LA LI SA.
 */
const TRANSITIONS = new Uint8Array([
  /* INPUT */
  /*syn*/ sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR,
  /*fin*/ sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW,
  /*ack*/ sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES,
  /*rst*/ sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR,
  /* OUTPUT */
  /*syn*/ sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR,
  /*fin*/ sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW,
  /*ack*/ sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES,
  /*rst*/ sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL,
  /* INPUT-ONLY */
  /*syn*/ sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR,
  /*fin*/ sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW,
  /*ack*/ sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES,
  /*rst*/ sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL,
]);

/**
 * The row a packet's flags select (IPVS `tcp_state_idx`): RST wins over SYN, SYN over FIN, FIN
 * over ACK; -1 when none is set.
 */
export function tcpFlagRow(flags: number): number {
  if (flags & TCP_RST) return 3;
  if (flags & TCP_SYN) return 0;
  if (flags & TCP_FIN) return 1;
  if (flags & TCP_ACK) return 2;
  return -1;
}

/**
 * The TCP state after a packet with `flags` in `state`, using table `table` (TABLE_INPUT,
 * TABLE_OUTPUT or TABLE_INPUT_ONLY). A packet with none of SYN, FIN, ACK, RST leads to CLOSE, as
 * in IPVS `set_tcp_state`.
 */
export function nextTcpState(table: number, state: number, flags: number): number {
  const row = tcpFlagRow(flags);
  if (row < 0) return sCL;
  return TRANSITIONS[(table * 4 + row) * TCP_STATE_COUNT + state];
}
