/**
 * The connection table and its state machine.
 *
 * @module
 */

export {
  ConnTable,
  type ConnTableCounters,
  type ConnTableOptions,
  DEFAULT_CONN_CAPACITY,
  PROTO_TCP,
  PROTO_UDP,
  protocolNumber,
} from "./table.ts";
export { type ConnInfo, formatExpire } from "./conn_info.ts";
export {
  ACTIVE_ESTABLISHED_ONLY,
  ACTIVE_WITH_HANDSHAKE,
  ConnState,
  type ConnStateName,
  DEFAULT_TIMEOUTS_MS,
  Direction,
  nextTcpState,
  STATE_COUNT,
  STATE_NAMES,
  TABLE_INPUT,
  TABLE_INPUT_ONLY,
  TABLE_OUTPUT,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  tcpFlagRow,
} from "./tcp_states.ts";
export { RealRegistry } from "./real_registry.ts";
