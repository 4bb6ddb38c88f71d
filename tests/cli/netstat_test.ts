import { assertEquals } from "../assert.ts";
import {
  formatDetail,
  formatG,
  formatNetstat,
  NETSTAT_HEADER,
  type NetstatRow,
} from "../../cli/format/netstat.ts";

const est: NetstatRow = {
  local: "10.0.0.2:80",
  remote: "10.0.0.1:41234",
  state: "ESTABLISHED",
  recvQ: 0,
  sendQ: 1448,
  cwnd: 10,
  ssthresh: 7,
  srttMs: 1.25,
  rttvarMs: 0.625,
  rtoMs: 204,
  retransmits: 3,
  mss: 1448,
  wscale: "7,7",
};
const listen: NetstatRow = {
  local: "0.0.0.0:80",
  remote: "0.0.0.0:*",
  state: "LISTEN",
  recvQ: 0,
  sendQ: 128,
};

Deno.test("netstat: the header is net-tools' byte for byte (trailing padding trimmed)", () => {
  // net-tools netstat.c: "Proto Recv-Q Send-Q Local Address           Foreign Address
  // State      " -- columns of 5, 6, 6, 23, 23 characters separated by one space.
  assertEquals(NETSTAT_HEADER.indexOf("Local Address"), 20);
  assertEquals(NETSTAT_HEADER.indexOf("Foreign Address"), 44);
  assertEquals(NETSTAT_HEADER.indexOf("State"), 68);
});

Deno.test('netstat: rows follow printf "%-5s %6ld %6ld %-23s %-23s %-12s"; listeners first', () => {
  const out = formatNetstat([est, listen]);
  assertEquals(
    out,
    [
      "Active Internet connections (servers and established)",
      "Proto Recv-Q Send-Q Local Address           Foreign Address         State",
      "tcp        0    128 0.0.0.0:80              0.0.0.0:*               LISTEN",
      "tcp        0   1448 10.0.0.2:80             10.0.0.1:41234          ESTABLISHED",
    ].join("\n"),
  );
  // The columns line up with the header, as in netstat.
  const lines = out.split("\n");
  assertEquals(lines[3].indexOf("10.0.0.1:41234"), lines[1].indexOf("Foreign Address"));
  assertEquals(lines[3].indexOf("ESTABLISHED"), lines[1].indexOf("State"));
});

Deno.test("netstat: connections sort numerically by local then remote address", () => {
  const row = (local: string, remote: string): NetstatRow => ({
    local,
    remote,
    state: "TIME_WAIT",
    recvQ: 0,
    sendQ: 0,
  });
  const out = formatNetstat([
    row("10.0.0.2:80", "10.0.0.10:5"),
    row("10.0.0.2:80", "10.0.0.9:5"),
    row("10.0.0.2:7", "10.0.0.9:6"),
  ]).split("\n").slice(2).map((l) => l.split(/\s+/)[4]);
  assertEquals(out, ["10.0.0.9:6", "10.0.0.9:5", "10.0.0.10:5"]);
});

Deno.test("netstat -e: an ss -ti detail line under each connection, none under listeners", () => {
  const lines = formatNetstat([listen, est], true).split("\n");
  assertEquals(lines.length, 5);
  assertEquals(
    lines[4],
    "\t wscale:7,7 rto:204 rtt:1.25/0.625 mss:1448 cwnd:10 ssthresh:7 retrans:3",
  );
  assertEquals(
    formatDetail({ ...est, congestion: "cubic", retransOut: 1, ssthresh: 2 ** 31 - 1 }),
    "\t cubic wscale:7,7 rto:204 rtt:1.25/0.625 mss:1448 cwnd:10 retrans:1/3",
  );
  assertEquals(formatDetail({ ...est, ssthresh: -1 }).includes("ssthresh"), false);
  // BBR's model and a reordering estimate other than 3, as ss -ti prints them.
  assertEquals(
    formatDetail({
      ...est,
      congestion: "bbr",
      reordering: 9,
      bbr: { bwMbps: 141.5, mrttMs: 10.25, pacingGain: 1.25, cwndGain: 2 },
    }),
    "\t bbr wscale:7,7 rto:204 rtt:1.25/0.625 mss:1448 cwnd:10 ssthresh:7 retrans:3 " +
      "bbr:(bw:141.5Mbps,mrtt:10.25,pacing_gain:1.25,cwnd_gain:2) reordering:9",
  );
  // Rows with only the columns still print (older or partial snapshots).
  assertEquals(formatDetail({ ...listen, state: "SYN_SENT" }), "\t ");
});

Deno.test("formatG: printf's %g for the values ss prints", () => {
  assertEquals(formatG(0.05), "0.05");
  assertEquals(formatG(204), "204");
  assertEquals(formatG(1.2345678), "1.23457");
  assertEquals(formatG(200.0), "200");
});
