import { assertEquals } from "../../assert.ts";
import {
  ACTIVE_ESTABLISHED_ONLY,
  ACTIVE_WITH_HANDSHAKE,
  ConnState as S,
  DEFAULT_TIMEOUTS_MS,
  nextTcpState,
  STATE_NAMES,
  TABLE_INPUT,
  TABLE_INPUT_ONLY,
  TABLE_OUTPUT,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  tcpFlagRow,
} from "../../../lb/conntrack/tcp_states.ts";

Deno.test("tcp states: flag rows in IPVS priority (rst > syn > fin > ack)", () => {
  assertEquals(tcpFlagRow(TCP_RST | TCP_SYN | TCP_ACK), 3);
  assertEquals(tcpFlagRow(TCP_SYN | TCP_ACK), 0);
  assertEquals(tcpFlagRow(TCP_SYN | TCP_FIN), 0);
  assertEquals(tcpFlagRow(TCP_FIN | TCP_ACK), 1);
  assertEquals(tcpFlagRow(TCP_ACK | 0x08 /* PSH */), 2);
  assertEquals(tcpFlagRow(0x08), -1);
  assertEquals(tcpFlagRow(0), -1);
});

Deno.test("tcp states: names and timeouts are IPVS's", () => {
  assertEquals(STATE_NAMES[S.ESTABLISHED], "ESTABLISHED");
  assertEquals(STATE_NAMES[S.SYNACK], "SYNACK");
  assertEquals(STATE_NAMES[S.UDP], "UDP");
  assertEquals(DEFAULT_TIMEOUTS_MS, {
    NONE: 2000,
    ESTABLISHED: 900000,
    SYN_SENT: 120000,
    SYN_RECV: 60000,
    FIN_WAIT: 120000,
    TIME_WAIT: 120000,
    CLOSE: 10000,
    CLOSE_WAIT: 60000,
    LAST_ACK: 30000,
    LISTEN: 120000,
    SYNACK: 120000,
    UDP: 300000,
  });
});

Deno.test("tcp states: cells of ip_vs_proto_tcp.c's tcp_states", () => {
  const cases: [number, number, number, number][] = [
    // [table, state, flags, expected]
    [TABLE_INPUT, S.NONE, TCP_SYN, S.SYN_RECV],
    [TABLE_INPUT, S.NONE, TCP_ACK, S.ESTABLISHED], // mainline: sloppy pick-up mid-stream
    [TABLE_INPUT, S.SYN_RECV, TCP_ACK, S.ESTABLISHED],
    [TABLE_INPUT, S.ESTABLISHED, TCP_FIN | TCP_ACK, S.CLOSE_WAIT],
    [TABLE_INPUT, S.LAST_ACK, TCP_ACK, S.CLOSE],
    [TABLE_INPUT, S.SYN_RECV, TCP_RST, S.SYN_RECV],
    [TABLE_INPUT, S.TIME_WAIT, TCP_SYN, S.SYN_RECV],
    [TABLE_OUTPUT, S.NONE, TCP_SYN, S.SYN_SENT],
    [TABLE_OUTPUT, S.ESTABLISHED, TCP_FIN, S.FIN_WAIT],
    [TABLE_OUTPUT, S.CLOSE_WAIT, TCP_FIN, S.TIME_WAIT],
    [TABLE_OUTPUT, S.LISTEN, TCP_ACK, S.ESTABLISHED],
    [TABLE_OUTPUT, S.TIME_WAIT, TCP_RST, S.TIME_WAIT],
    [TABLE_INPUT_ONLY, S.ESTABLISHED, TCP_FIN, S.FIN_WAIT],
    [TABLE_INPUT_ONLY, S.SYNACK, TCP_RST, S.CLOSE],
    [TABLE_INPUT_ONLY, S.SYN_RECV, TCP_FIN, S.TIME_WAIT],
    [TABLE_INPUT, S.ESTABLISHED, 0, S.CLOSE], // no flags: IPVS goes to CLOSE
  ];
  for (const [table, state, flags, want] of cases) {
    assertEquals(
      STATE_NAMES[nextTcpState(table, state, flags)],
      STATE_NAMES[want],
      `table ${table} ${STATE_NAMES[state]} flags ${flags}`,
    );
  }
});

Deno.test("tcp states: which states count as active", () => {
  const names = (t: Readonly<Uint8Array>) => STATE_NAMES.filter((_, i) => t[i] === 1);
  assertEquals(names(ACTIVE_ESTABLISHED_ONLY), ["ESTABLISHED"]);
  assertEquals(names(ACTIVE_WITH_HANDSHAKE), ["ESTABLISHED", "SYN_SENT", "SYN_RECV", "SYNACK"]);
});
