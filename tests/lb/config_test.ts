/** Balancer configuration from flags: service groups in order, defaults, and every error. */
import { assertEquals, assertMatch, assertThrows } from "../assert.ts";
import {
  balancerConfigFromFlags,
  buildServices,
  checkAgainstHost,
  ConfigError,
  type FlagOccurrence,
  parseRealSpec,
  parseServiceSpec,
} from "../../lb/config.ts";
import { ip } from "../stack/net/_frames.ts";

/** ["--service", "x", "--real", "y"] -> occurrences. */
function flags(...args: string[]): FlagOccurrence[] {
  const out: FlagOccurrence[] = [];
  for (let i = 0; i < args.length; i += 2) out.push({ name: args[i].slice(2), value: args[i + 1] });
  return out;
}

function error(fn: () => unknown): string {
  return assertThrows(fn, ConfigError).message;
}

Deno.test("service and real specs", () => {
  assertEquals(parseServiceSpec("tcp:10.0.0.100:80"), {
    protocol: "tcp",
    vip: ip("10.0.0.100"),
    port: 80,
  });
  assertEquals(parseServiceSpec("udp:10.0.0.100:53").protocol, "udp");
  assertEquals(parseRealSpec("10.0.0.11"), { address: ip("10.0.0.11"), port: 0, weight: 1 });
  assertEquals(parseRealSpec("10.0.0.11:8080,weight=5"), {
    address: ip("10.0.0.11"),
    port: 8080,
    weight: 5,
  });
  assertEquals(parseRealSpec("10.0.0.11,weight=0").weight, 0);
  for (
    const bad of [
      "tcp:10.0.0.100",
      "sctp:10.0.0.1:80",
      "tcp:10.0.0.300:80",
      "tcp:1.2.3.4:0",
      "tcp:127.0.0.1:80",
      "tcp:224.0.0.1:80",
    ]
  ) {
    assertMatch(error(() => parseServiceSpec(bad)), /^--service: /, bad);
  }
  for (
    const bad of ["", "x", "10.0.0.1:99999", "10.0.0.1,weight=70000", "10.0.0.1,w=1", "10.0.0.1:"]
  ) {
    assertMatch(error(() => parseRealSpec(bad)), /^--real: /, bad);
  }
});

Deno.test("each --service starts a group; the flags after it belong to it", () => {
  const c = balancerConfigFromFlags(flags(
    "--service",
    "tcp:10.0.0.100:80",
    "--scheduler",
    "rr",
    "--real",
    "10.0.0.11",
    "--method",
    "dr",
    "--real",
    "10.0.0.12,weight=3",
    "--max-conns",
    "1000",
    "--service",
    "udp:10.0.0.100:53",
    "--method",
    "nat",
    "--real",
    "10.0.0.13:5353",
    "--timeout-tcp",
    "60",
    "--timeout-tcpfin",
    "10",
    "--timeout-udp",
    "5",
  ));
  assertEquals(c.services.map((s) => [s.protocol, s.port, s.scheduler, s.method, s.reals.length]), [
    ["tcp", 80, "rr", "dr", 2],
    ["udp", 53, "wlc", "nat", 1], // ipvsadm's default scheduler
  ]);
  assertEquals(c.maxConns, 1000);
  assertEquals(c.timeouts, { ESTABLISHED: 60_000, FIN_WAIT: 10_000, UDP: 5_000 });
  const services = buildServices(c);
  assertEquals(services[0].scheduler.name, "rr");
  assertEquals(services[0].reals.map((r) => [r.weight, r.method]), [[1, "dr"], [3, "dr"]]);
  assertEquals(services[1].realPort(services[1].reals[0]), 5353);
  // Without --method: ipvsadm's default, direct routing.
  const d = balancerConfigFromFlags(flags("--service", "tcp:10.0.0.100:80", "--real", "10.0.0.11"));
  assertEquals([d.services[0].method, d.services[0].scheduler], ["dr", "wlc"]);
});

Deno.test("no --service: an empty director (services come later with add-service)", () => {
  assertEquals(balancerConfigFromFlags([]).services, []);
});

Deno.test("every configuration error names the flag", () => {
  const cases: [string[], RegExp][] = [
    [["--real", "10.0.0.11"], /^--real 10\.0\.0\.11: comes before any --service/],
    [["--scheduler", "rr", "--service", "tcp:10.0.0.1:80"], /^--scheduler rr: comes before/],
    [["--service", "tcp:10.0.0.1:80"], /has no --real server/],
    [
      ["--service", "tcp:10.0.0.1:80", "--scheduler", "xx", "--real", "10.0.0.2"],
      /^--scheduler: "xx" is not one of rr, wrr, lc, wlc, sh, mh/,
    ],
    [
      ["--service", "tcp:10.0.0.1:80", "--method", "fullnat", "--real", "10.0.0.2"],
      /^--method: "fullnat" is not one of dr, nat, tun/,
    ],
    [
      ["--service", "tcp:10.0.0.1:80", "--method", "dr", "--method", "nat"],
      /^--method: given twice/,
    ],
    [
      ["--service", "tcp:10.0.0.1:80", "--real", "10.0.0.2", "--service", "tcp:10.0.0.1:80"],
      /given twice/,
    ],
    [
      ["--service", "tcp:10.0.0.1:80", "--real", "10.0.0.2", "--real", "10.0.0.2:80"],
      /given twice for/,
    ],
    [
      ["--service", "tcp:10.0.0.1:80", "--real", "10.0.0.2:8080"],
      /method dr keeps the virtual port 80/,
    ],
    [
      ["--service", "tcp:10.0.0.1:80", "--method", "tun", "--real", "10.0.0.2:81"],
      /method tun keeps/,
    ],
    [
      ["--service", "tcp:10.0.0.1:80", "--real", "10.0.0.2", "--max-conns", "0"],
      /^--max-conns: "0"/,
    ],
    [
      ["--service", "tcp:10.0.0.1:80", "--real", "10.0.0.2", "--timeout-udp", "1.5"],
      /^--timeout-udp: "1\.5" is not whole seconds/,
    ],
  ];
  for (const [args, re] of cases) {
    assertMatch(error(() => balancerConfigFromFlags(flags(...args))), re, args.join(" "));
  }
});

Deno.test("real servers are checked against the host's address", () => {
  const host = { address: ip("10.0.0.1"), prefix: 24, gateway: ip("10.0.0.254") };
  const cfg = (method: string, real: string) =>
    balancerConfigFromFlags(
      flags("--service", "tcp:10.0.0.100:80", "--method", method, "--real", real),
    );
  checkAgainstHost(cfg("dr", "10.0.0.11"), host);
  checkAgainstHost(cfg("tun", "172.16.0.5"), host);
  checkAgainstHost(cfg("nat", "172.16.0.5:8080"), host);
  assertMatch(
    error(() => checkAgainstHost(cfg("dr", "172.16.0.5"), host)),
    /direct routing needs the real server on the balancer's link \(10\.0\.0\.0\/24\)/,
  );
  assertMatch(
    error(() => checkAgainstHost(cfg("tun", "172.16.0.5"), { address: host.address, prefix: 24 })),
    /no --gateway/,
  );
  assertMatch(error(() => checkAgainstHost(cfg("dr", "10.0.0.1"), host)), /own address or a VIP/);
  assertMatch(error(() => checkAgainstHost(cfg("dr", "10.0.0.100"), host)), /own address or a VIP/);
});
