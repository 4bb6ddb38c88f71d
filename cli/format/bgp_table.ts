/**
 * The BGP part of `lb.ts list`: the sessions laid out like `birdc show protocols` and each VIP's
 * announce state, printed after the ipvsadm table when the instance runs with `--bgp`.
 *
 * @module
 */
import type { BgpStatus } from "../../lb/bgp/announcer.ts";

/** Left-aligned columns. */
function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
}

/** The text. */
export function formatBgp(s: BgpStatus): string {
  const sessions = [["Peer", "AS", "Local AS", "BFD", "State", "Since", "Info"]];
  for (const p of s.sessions) {
    sessions.push([
      p.peer,
      String(p.peerAs),
      String(p.localAs),
      p.bfd ? "on" : "off",
      p.state,
      p.since || "-",
      p.info || "-",
    ]);
  }
  const vips = [["Prefix", "State", "Since", "Reason"]];
  for (const v of s.vips) {
    vips.push([v.prefix, v.announced ? "announced" : "withdrawn", v.since, v.reason]);
  }
  return [
    `BGP (BIRD ${s.birdPid === 0 ? "restarting" : `pid ${s.birdPid}`}` +
    `${s.birdRestarts > 0 ? `, restarted ${s.birdRestarts} time(s)` : ""}, ${s.runDir})` +
    `${s.draining ? ", draining" : ""}`,
    ...table(sessions),
    "",
    ...table(vips),
  ].join("\n");
}
