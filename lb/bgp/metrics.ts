/**
 * The BGP part of `/metrics` (Prometheus text format): the session's state and each VIP's
 * announce state, from the same {@link BgpStatus} `lb.ts list` prints.
 *
 * @module
 */
import type { BgpStatus } from "./announcer.ts";

/** Escapes a label value (Prometheus text format). */
function label(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Lines to append to `/metrics`. */
export function renderBgpMetrics(s: BgpStatus): string {
  const out: string[] = [
    "# HELP lb_bgp_session_up 1 while the BGP session with the peer is established.",
    "# TYPE lb_bgp_session_up gauge",
  ];
  for (const p of s.sessions) {
    const up = p.state === "up" && p.info.startsWith("Established") ? 1 : 0;
    out.push(
      `lb_bgp_session_up{peer="${label(p.peer)}",state="${label(p.info || p.state)}"} ${up}`,
    );
  }
  out.push(
    "# HELP lb_bgp_vip_announced 1 while the VIP is announced to the router, 0 when withdrawn.",
    "# TYPE lb_bgp_vip_announced gauge",
  );
  for (const v of s.vips) {
    out.push(`lb_bgp_vip_announced{vip="${label(v.prefix)}"} ${v.announced ? 1 : 0}`);
  }
  out.push(
    "# HELP lb_bgp_announcements_total VIP announcements made.",
    "# TYPE lb_bgp_announcements_total counter",
    `lb_bgp_announcements_total ${s.announcements}`,
    "# HELP lb_bgp_withdrawals_total VIP withdrawals made.",
    "# TYPE lb_bgp_withdrawals_total counter",
    `lb_bgp_withdrawals_total ${s.withdrawals}`,
    "# HELP lb_bgp_bird_restarts_total Times the instance started BIRD again after it died.",
    "# TYPE lb_bgp_bird_restarts_total counter",
    `lb_bgp_bird_restarts_total ${s.birdRestarts}`,
    "# HELP lb_bgp_draining 1 while the instance drains (withdrawn, letting flows end).",
    "# TYPE lb_bgp_draining gauge",
    `lb_bgp_draining ${s.draining ? 1 : 0}`,
    "",
  );
  return out.join("\n");
}
