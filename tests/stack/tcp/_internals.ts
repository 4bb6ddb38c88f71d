/**
 * White-box access for the TCP tests: `conn.tcb`, the control block under a connection. The
 * public class hides it (a private field); this test-only accessor is installed on its prototype
 * and declared here, so the state-machine tests read the control block as before without it
 * being part of the library's API.
 *
 * @module
 */

import { tcbOf, TcpConn } from "../../../stack/tcp/conn.ts";
import type { Tcb } from "../../../stack/tcp/tcb.ts";

declare module "../../../stack/tcp/conn.ts" {
  interface TcpConn {
    /** The control block (tests only). */
    readonly tcb: Tcb;
  }
}

Object.defineProperty(TcpConn.prototype, "tcb", {
  get(this: TcpConn): Tcb {
    return tcbOf(this);
  },
  configurable: true,
});
