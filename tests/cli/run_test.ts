/**
 * `lb.ts run` argument handling: groups in order, host flags, and bad input as one line with exit
 * code 2 before anything is opened (the TAP names here do not exist: reaching the TAP would fail
 * differently, with exit code 1).
 */
import { assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { UsageError } from "../../cli/args.ts";
import { main } from "../../cli/main.ts";
import { parseRunArgs } from "../../cli/commands/run.ts";
import { ip } from "../stack/net/_frames.ts";
import { formatAddressPort } from "../../lb/address.ts";

const base = ["--tap", "lbt-none0", "--ip", "10.0.0.1/24", "--gateway", "10.0.0.254"];

Deno.test("parseRunArgs keeps the order of service groups and reads the host flags", () => {
  const { host, config } = parseRunArgs([
    ...base,
    "--service",
    "tcp:10.0.0.100:80",
    "--real",
    "10.0.0.11",
    "--scheduler",
    "mh",
    "--service",
    "tcp:10.0.0.100:443",
    "--method",
    "tun",
    "--real",
    "172.16.0.9",
    "--max-conns",
    "5000",
  ]);
  assertEquals([host.tap, host.address, host.prefix, host.gateway], [
    "lbt-none0",
    ip("10.0.0.1"),
    24,
    ip("10.0.0.254"),
  ]);
  assertEquals(config.services.map((s) => [s.port, s.scheduler, s.method]), [
    [80, "mh", "dr"],
    [443, "wlc", "tun"],
  ]);
  assertEquals(config.maxConns, 5000);
});

Deno.test("bad input is a UsageError naming the problem", () => {
  const cases: [string[], RegExp][] = [
    [[...base, "--real", "10.0.0.11"], /^run: --real 10\.0\.0\.11: comes before any --service/],
    [
      [...base, "--service", "tcp:10.0.0.100:80", "--real", "10.0.0.11", "--bogus", "1"],
      /^run: Unknown option '--bogus'/,
    ],
    [
      [...base, "--service", "tcp:10.0.0.100:80", "--real", "192.168.9.9"],
      /^run: --real 192\.168\.9\.9: direct routing needs/,
    ],
    [
      ["--ip", "10.0.0.1/24", "--service", "tcp:10.0.0.100:80", "--real", "10.0.0.11"],
      /--tap NAME is required/,
    ],
    [
      [...base, "--service", "tcp:10.0.0.100:80", "--real", "10.0.0.11", "--service"],
      /^run: Option '--service <value>' argument missing/,
    ],
    [
      [...base, "--service", "tcp:[2001:db8::100]:80", "--real", "[2001:db8::11]"],
      /^run: --service tcp:\[2001:db8::100\]:80: an IPv6 service needs an IPv6 address/,
    ],
    [
      [
        ...base,
        "--ip",
        "2001:db8::1/64",
        "--service",
        "tcp:[2001:db8::100]:80",
        "--real",
        "10.0.0.11",
      ],
      /^run: --real 10\.0\.0\.11: real server 10\.0\.0\.11 is IPv4 but the VIP 2001:db8::100 is IPv6/,
    ],
    [
      [...base, "--service", "tcp:2001:db8::100:80", "--real", "10.0.0.11"],
      /^run: --service: "tcp:2001:db8::100:80" is not PROTO:VIP:PORT/,
    ],
  ];
  for (const [args, re] of cases) {
    assertMatch(assertThrows(() => parseRunArgs(args), UsageError).message, re, args.join(" "));
  }
});

Deno.test("lb.ts run with bad input: one line on stderr, exit code 2, nothing started", async () => {
  const lines: string[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    const code = await main([
      "run",
      ...base,
      "--service",
      "tcp:10.0.0.100:80",
      "--scheduler",
      "xx",
      "--real",
      "10.0.0.11",
    ]);
    assertEquals(code, 2);
  } finally {
    console.error = orig;
  }
  assertEquals(lines, [
    'lb.ts: run: --scheduler: "xx" is not one of rr, wrr, lc, wlc, sh, mh',
  ]);
});

Deno.test("parseRunArgs: health, log format and metrics flags", () => {
  const svc = ["--service", "tcp:10.0.0.100:80", "--real", "10.0.0.11"];
  const r = parseRunArgs([
    ...base,
    ...svc,
    "--check",
    "http:/healthz:204",
    "--check-interval",
    "0.5",
    "--fall",
    "4",
    "--log-format",
    "json",
    "--metrics",
    "127.0.0.1:9100",
  ]);
  // Given inside the --service group: that service's own check (no global one).
  assertEquals(r.health, null);
  assertEquals(r.serviceHealth.get(0), {
    check: { kind: "http", path: "/healthz", status: 204 },
    timing: { intervalMs: 500, rise: 2, fall: 4 },
    timeoutMs: 500,
  });
  assertEquals(r.logFormat, "json");
  assertEquals(r.metrics, { hostname: "127.0.0.1", port: 9100 });
  // Before any --service: global.
  assertEquals(parseRunArgs([...base, "--check", "tcp", ...svc]).health?.check, { kind: "tcp" });
  const plain = parseRunArgs([...base, ...svc]);
  assertEquals([plain.health, plain.logFormat, plain.metrics], [null, "plain", null]);
  for (
    const [extra, re] of [
      [["--check", "icmp"], /--check "icmp"/],
      [["--rise", "2"], /--rise needs --check/],
      [["--check", "tcp", "--check", "tcp"], /--check is given twice in one --service group/],
      [["--log-format", "xml"], /--log-format "xml"/],
      [["--metrics", "localhost:9100"], /--metrics "localhost:9100"/],
    ] as const
  ) {
    const args = [...base, ...svc, ...extra];
    assertMatch(assertThrows(() => parseRunArgs(args), UsageError).message, re);
  }
});

Deno.test("parseRunArgs: --check flags inside a --service group override the global ones", () => {
  const r = parseRunArgs([
    ...base,
    "--check",
    "http:/a:200",
    "--fall",
    "5",
    "--service",
    "tcp:10.0.0.100:80",
    "--real",
    "10.0.0.11",
    "--service",
    "tcp:10.0.0.100:81",
    "--real",
    "10.0.0.11",
    "--check",
    "tcp",
    "--check-interval",
    "0.5",
    "--service",
    "tcp:10.0.0.100:82",
    "--real",
    "10.0.0.11",
    "--rise",
    "7",
  ]);
  assertEquals(r.health, {
    check: { kind: "http", path: "/a", status: 200 },
    timing: { intervalMs: 2000, rise: 2, fall: 5 },
    timeoutMs: 2000,
  });
  // Service 0 has no flags of its own: it follows the global check.
  assertEquals([...r.serviceHealth.keys()], [1, 2]);
  assertEquals(r.serviceHealth.get(1), {
    check: { kind: "tcp" },
    timing: { intervalMs: 500, rise: 2, fall: 5 },
    timeoutMs: 500,
  });
  assertEquals(r.serviceHealth.get(2), {
    check: { kind: "http", path: "/a", status: 200 },
    timing: { intervalMs: 2000, rise: 7, fall: 5 },
    timeoutMs: 2000,
  });
  // A group's --fall with no --check anywhere has nothing to apply to.
  const e = assertThrows(
    () =>
      parseRunArgs([
        ...base,
        "--service",
        "tcp:10.0.0.100:80",
        "--real",
        "10.0.0.11",
        "--fall",
        "2",
      ]),
    UsageError,
  );
  assertMatch(e.message, /^run: --fall needs --check$/);
});

Deno.test("parseRunArgs: a dual-stack balancer, IPv6 service in brackets", () => {
  const { host, config } = parseRunArgs([
    ...base,
    "--ip",
    "2001:db8::1/64",
    "--service",
    "tcp:10.0.0.100:80",
    "--real",
    "10.0.0.11",
    "--service",
    "udp:[2001:db8::100]:53",
    "--method",
    "nat",
    "--real",
    "[2001:db8::11]:5353,weight=2",
  ]);
  assertEquals(host.ipv6, ["2001:db8::1/64"]);
  assertEquals(
    config.services.map((s) => [s.protocol, formatAddressPort(s.vip, s.port), s.method]),
    [["tcp", "10.0.0.100:80", "dr"], ["udp", "[2001:db8::100]:53", "nat"]],
  );
  const r = config.services[1].reals[0];
  assertEquals([formatAddressPort(r.address, r.port), r.weight], ["[2001:db8::11]:5353", 2]);
});
