/**
 * The balancer's tables against ipvsadm's printf formats (ipvsadm.c print_title,
 * print_service_entry, print_largenum, list_conn, print_conn), written out by hand here.
 */
import { assertEquals } from "../../assert.ts";
import {
  formatConns,
  formatRates,
  formatServices,
  formatStats,
  largeNum,
} from "../../../cli/format/ipvs_tables.ts";
import type { BalancerSnapshot, RealSnapshot } from "../../../lb/balancer.ts";

function real(address: string, port: number, method: string, extra: Partial<RealSnapshot> = {}) {
  return {
    address,
    port,
    weight: 1,
    method,
    activeConns: 0,
    inactiveConns: 0,
    conns: 0,
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    ...extra,
  };
}

const zero = { conns: 0, packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0 };

const snap: BalancerSnapshot = {
  capacity: 4096,
  connections: 3,
  embryonic: 0,
  table: {},
  counters: {},
  services: [
    {
      protocol: "udp",
      vip: "10.0.0.100",
      port: 53,
      scheduler: "mh",
      flags: "mh-port",
      ...zero,
      reals: [real("10.0.0.21", 53, "tun")],
    },
    {
      protocol: "tcp",
      vip: "10.0.0.100",
      port: 80,
      scheduler: "wrr",
      flags: "",
      conns: 1234,
      packetsIn: 123456789,
      packetsOut: 0,
      bytesIn: 98765432101,
      bytesOut: 0,
      reals: [
        real("10.0.0.12", 8080, "nat", { weight: 2, inactiveConns: 7, conns: 600 }),
        real("10.0.0.11", 80, "dr", { weight: 3, activeConns: 12, inactiveConns: 1, conns: 634 }),
      ],
    },
  ],
};

Deno.test("list: ipvsadm -L -n", () => {
  assertEquals(
    formatServices(snap),
    [
      "IP Virtual Server version 1.2.1 (size=4096)",
      "Prot LocalAddress:Port Scheduler Flags",
      "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
      "TCP  10.0.0.100:80 wrr",
      "  -> 10.0.0.11:80                 Route   3      12         1         ",
      "  -> 10.0.0.12:8080               Masq    2      0          7         ",
      "UDP  10.0.0.100:53 mh (mh-port)",
      "  -> 10.0.0.21:53                 Tunnel  1      0          0         ",
    ].join("\n"),
  );
});

Deno.test('list: persistence prints as ipvsadm\'s "persistent N" after scheduler flags', () => {
  const [tcp, udp] = [snap.services[1], snap.services[0]];
  const persistent: BalancerSnapshot = {
    ...snap,
    services: [{ ...tcp, scheduler: "rr", persistence: 300 }, { ...udp, persistence: 60 }],
  };
  const lines = formatServices(persistent).split("\n");
  assertEquals(lines[3], "TCP  10.0.0.100:80 rr persistent 300");
  assertEquals(lines[6], "UDP  10.0.0.100:53 mh (mh-port) persistent 60");
});

Deno.test("list --stats: ipvsadm -L -n --stats, with K/M/G suffixes", () => {
  assertEquals(
    formatStats(snap),
    [
      "IP Virtual Server version 1.2.1 (size=4096)",
      "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
      "  -> RemoteAddress:Port",
      "TCP  10.0.0.100:80                    1234  123456K        0   98765M        0",
      "  -> 10.0.0.11:80                      634        0        0        0        0",
      "  -> 10.0.0.12:8080                    600        0        0        0        0",
      "UDP  10.0.0.100:53                       0        0        0        0        0",
      "  -> 10.0.0.21:53                        0        0        0        0        0",
    ].join("\n"),
  );
  assertEquals(
    [0, 99_999_999, 100_000_000, 1e9, 1e11, 1e14].map(largeNum),
    ["        0", " 99999999", "  100000K", "    1000M", "     100G", "     100T"],
  );
});

Deno.test("list: a server a health check took down is marked after the ipvsadm columns", () => {
  const down: BalancerSnapshot = {
    ...snap,
    services: [{ ...snap.services[1], reals: [real("10.0.0.11", 80, "dr", { available: false })] }],
  };
  assertEquals(
    formatServices(down).split("\n").slice(3),
    [
      "TCP  10.0.0.100:80 wrr",
      "  -> 10.0.0.11:80                 Route   1      0          0          DOWN",
    ],
  );
});

Deno.test("list --rate: ipvsadm -L -n --rate", () => {
  const rates = (cps: number, inPps: number, outPps: number, inBps: number, outBps: number) => ({
    rates: { cps, inPps, outPps, inBps, outBps },
  });
  const withRates: BalancerSnapshot = {
    ...snap,
    services: [{
      ...snap.services[1],
      ...rates(12, 3400, 0, 123_456_789, 0),
      reals: [
        real("10.0.0.11", 80, "dr", rates(5, 100, 90, 6000, 5000)),
        real("10.0.0.12", 80, "dr"),
      ],
    }],
  };
  assertEquals(
    formatRates(withRates),
    [
      "IP Virtual Server version 1.2.1 (size=4096)",
      "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS",
      "  -> RemoteAddress:Port",
      "TCP  10.0.0.100:80                      12     3400        0  123456K        0",
      "  -> 10.0.0.11:80                        5      100       90     6000     5000",
      "  -> 10.0.0.12:80                        0        0        0        0        0",
    ].join("\n"),
  );
});

Deno.test("conns: ipvsadm -L -n -c", () => {
  assertEquals(
    formatConns({
      capacity: 4096,
      size: 2,
      table: {},
      entries: [
        {
          protocol: "tcp",
          state: "ESTABLISHED",
          expiresInMs: 899_500,
          client: "10.78.0.10:54321",
          virtual: "10.0.0.100:80",
          real: "10.0.0.11:80",
          method: "dr",
        },
        {
          protocol: "udp",
          state: "UDP",
          expiresInMs: 61_000,
          client: "10.78.0.10:40000",
          virtual: "10.0.0.100:53",
          real: "10.0.0.21:53",
          method: "tun",
        },
      ],
    }),
    [
      "IPVS connection entries",
      "pro expire state       source             virtual            destination",
      "UDP 01:01  UDP         10.78.0.10:40000   10.0.0.100:53      10.0.0.21:53",
      "TCP 14:59  ESTABLISHED 10.78.0.10:54321   10.0.0.100:80      10.0.0.11:80",
    ].join("\n"),
  );
});

Deno.test("list and stats: IPv6 services and servers in brackets, after IPv4, sorted by bytes", () => {
  const dual: BalancerSnapshot = {
    ...snap,
    services: [
      {
        protocol: "tcp",
        vip: "2001:db8::100",
        port: 80,
        scheduler: "rr",
        flags: "",
        ...zero,
        reals: [real("2001:db8::a", 8080, "nat"), real("2001:db8::9", 8080, "nat")],
      },
      { ...snap.services[1], reals: [] },
    ],
  };
  assertEquals(
    formatServices(dual).split("\n").slice(3),
    [
      "TCP  10.0.0.100:80 wrr",
      "TCP  [2001:db8::100]:80 rr",
      "  -> [2001:db8::9]:8080           Masq    1      0          0         ",
      "  -> [2001:db8::a]:8080           Masq    1      0          0         ",
    ],
  );
  // A name longer than ipvsadm's IPv4 columns is printed whole, not cut.
  const long = formatStats({
    ...snap,
    services: [{
      protocol: "udp",
      vip: "2001:db8:1234:5678:9abc:def0:1234:5678",
      port: 53,
      scheduler: "rr",
      flags: "",
      ...zero,
      reals: [],
    }],
  });
  assertEquals(
    long.split("\n")[3],
    "UDP  [2001:db8:1234:5678:9abc:def0:1234:5678]:53" + "        0".repeat(5),
  );
});
