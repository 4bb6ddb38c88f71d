import { assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { parseFlags, UsageError } from "../../cli/args.ts";
import { HOST_FLAG_SPEC, hostOptions, sizeArg } from "../../cli/host_flags.ts";
import { serveSpecs, vip6Addresses, vipAddresses } from "../../cli/commands/stack.ts";
import { formatIpv6 } from "../../stack/wire/address6.ts";

const SPEC = { ...HOST_FLAG_SPEC, serve: { type: "string", multiple: true } } as const;
const HOST = ["--tap", "tap0", "--ip", "10.0.0.2/24"];

Deno.test("stack --serve: repeatable specs; bad ones and clashes are usage errors", () => {
  const { flags } = parseFlags("stack", [...HOST, "--serve", "http:80", "--serve", "echo:7"], SPEC);
  assertEquals(serveSpecs(flags).map((s) => `${s.name}:${s.port}`), ["http:80", "echo:7"]);
  assertEquals(serveSpecs(parseFlags("stack", HOST, SPEC).flags), []);
  const listed = parseFlags(
    "stack",
    [...HOST, "--serve", "echo:7,discard:9,chargen:19,http:80", "--serve", "echo:8/udp"],
    SPEC,
  ).flags;
  assertEquals(serveSpecs(listed).map((s) => `${s.name}:${s.port}`), [
    "echo:7",
    "discard:9",
    "chargen:19",
    "http:80",
    "echo:8",
  ]);
  for (
    const [spec, re] of [
      ["http", /--serve: "http" is not NAME:PORT/],
      ["ftp:21", /--serve: unknown service "ftp"/],
      ["http:0", /not in 1\.\.65535/],
      ["echo:7,,http:80", /--serve: "echo:7,,http:80" has an empty item/],
      ["echo:7,ftp:21", /--serve: unknown service "ftp"/],
    ] as const
  ) {
    const e = assertThrows(
      () => serveSpecs(parseFlags("stack", [...HOST, "--serve", spec], SPEC).flags),
      UsageError,
    );
    assertMatch(e.message, re);
  }
  const clash = assertThrows(
    () =>
      serveSpecs(
        parseFlags("stack", [...HOST, "--serve", "http:80", "--serve", "chargen:80"], SPEC).flags,
      ),
    UsageError,
  );
  assertMatch(clash.message, /both want port 80\/tcp/);
  const listClash = assertThrows(
    () => serveSpecs(parseFlags("stack", [...HOST, "--serve", "http:80,chargen:80"], SPEC).flags),
    UsageError,
  );
  assertMatch(listClash.message, /both want port 80\/tcp/);
});

Deno.test("--impair: parsed into the host options; bad specs are usage errors", () => {
  const opts = hostOptions(
    "stack",
    parseFlags("stack", [...HOST, "--impair", "loss=2%,delay=5ms"], SPEC).flags,
  );
  assertEquals(opts.impair, { loss: 0.02, reorder: 0, duplicate: 0, delayMs: 5, seed: 1 });
  assertEquals(hostOptions("stack", parseFlags("stack", HOST, SPEC).flags).impair, undefined);
  const e = assertThrows(
    () => hostOptions("stack", parseFlags("stack", [...HOST, "--impair", "loss=200%"], SPEC).flags),
    UsageError,
  );
  assertMatch(e.message, /^--impair: loss: "200%" is not a probability/);
});

Deno.test("--tcp-mem, --max-time-wait, --max-orphans, --tcp-cc, --tcp-recovery; bad values are usage errors", () => {
  const o = hostOptions(
    "stack",
    parseFlags(
      "stack",
      [...HOST, "--tcp-mem", "256M", "--max-time-wait", "1000", "--max-orphans", "0"],
      SPEC,
    ).flags,
  );
  assertEquals(o.tcp, { memoryLimit: 256 * 2 ** 20, maxTimeWait: 1000, maxOrphans: 0 });
  assertEquals(hostOptions("stack", parseFlags("stack", HOST, SPEC).flags).tcp, {});
  const algos = hostOptions(
    "stack",
    parseFlags("stack", [...HOST, "--tcp-cc", "bbr", "--tcp-recovery", "rfc6675"], SPEC).flags,
  );
  assertEquals(algos.tcp, { congestion: "bbr", recovery: "rfc6675" });
  assertEquals(sizeArg("2G", "--tcp-mem", 1 << 20, 2 ** 36), 2 * 2 ** 30);
  assertEquals(sizeArg("1536k", "--tcp-mem", 1 << 20, 2 ** 36), 1536 * 1024);
  for (
    const [args, re] of [
      [["--tcp-mem", "lots"], /--tcp-mem: "lots" is not a size/],
      [["--tcp-mem", "512"], /--tcp-mem: 512 is outside 1M\.\.64G/],
      [["--max-time-wait", "-1"], /--max-time-wait/],
      [["--max-orphans", "x"], /--max-orphans/],
      [["--tcp-cc", "vegas"], /^--tcp-cc must be cubic, newreno or bbr, got "vegas"/],
      [["--tcp-recovery", "fack"], /^--tcp-recovery must be rack or rfc6675/],
    ] as const
  ) {
    const e = assertThrows(
      () => hostOptions("stack", parseFlags("stack", [...HOST, ...args], SPEC).flags),
      UsageError,
    );
    assertMatch(e.message, re);
  }
});

Deno.test("--ip repeats: one IPv4 address and IPv6 ones beside it; bad IPv6 is a usage error", () => {
  const o = hostOptions(
    "stack",
    parseFlags("stack", [...HOST, "--ip", "2001:db8::2/64", "--ip", "fd00::2/48"], SPEC).flags,
  );
  assertEquals(o.ipv6, ["2001:db8::2/64", "fd00::2/48"]);
  assertEquals(o.dad, undefined, "DAD by default");
  const nodad = hostOptions(
    "stack",
    parseFlags("stack", [...HOST, "--ip", "2001:db8::2/64", "--nodad"], SPEC).flags,
  );
  assertEquals(nodad.dad, false);
  assertEquals(hostOptions("stack", parseFlags("stack", HOST, SPEC).flags).ipv6, undefined);
  for (
    const [args, re] of [
      [["--ip", "2001:db8::2"], /^--ip: "2001:db8::2" needs a prefix length in 1\.\.128/],
      [["--ip", "2001:db8::zz/64"], /^--ip: "2001:db8::zz\/64" is not an IPv6 address\/prefix/],
      [["--ip", "10.0.0.3/24"], /^--ip: one IPv4 address per host/],
    ] as const
  ) {
    const e = assertThrows(
      () => hostOptions("stack", parseFlags("stack", [...HOST, ...args], SPEC).flags),
      UsageError,
    );
    assertMatch(e.message, re);
  }
});

Deno.test("--gateway repeats: one IPv4 and one IPv6 default gateway, each on-link", () => {
  const flags = (...args: string[]) => parseFlags("stack", [...HOST, ...args], SPEC).flags;
  const o = hostOptions(
    "stack",
    flags("--ip", "2001:db8::2/64", "--gateway", "2001:db8::1", "--gateway", "10.0.0.1"),
  );
  assertEquals([o.gateway6, o.gateway], ["2001:db8::1", 0x0a000001]);
  // A link-local router is on-link whatever the prefixes.
  assertEquals(
    hostOptions("stack", flags("--ip", "2001:db8::2/64", "--gateway", "fe80::1")).gateway6,
    "fe80::1",
  );
  for (
    const [args, re] of [
      [["--gateway", "2001:db8::1"], /^--gateway 2001:db8::1: the host has no IPv6 address/],
      [["--ip", "2001:db8::2/64", "--gateway", "2001:db9::1"], /is on none of the host's IPv6/],
      [["--ip", "2001:db8::2/64", "--gateway", "2001:db8::2"], /is the host's own address/],
      [["--ip", "2001:db8::2/64", "--gateway", "2001:db8::zz"], /is not an IPv6 address/],
      [
        ["--ip", "2001:db8::2/64", "--gateway", "fe80::1", "--gateway", "fe80::2"],
        /^--gateway: one per address family/,
      ],
    ] as const
  ) {
    const e = assertThrows(() => hostOptions("stack", flags(...args)), UsageError);
    assertMatch(e.message, re);
  }
});

Deno.test("stack --vip: IPv4 and IPv6 VIPs apart; an IPv6 one needs an IPv6 address", () => {
  const spec = { vip: { type: "string", multiple: true } } as const;
  const { flags } = parseFlags("stack", ["--vip", "10.0.0.100", "--vip", "2001:db8::100"], spec);
  assertEquals(vipAddresses(flags, 0x0a000002), [0x0a000064]);
  assertEquals(vip6Addresses(flags, true).map((a) => formatIpv6(a)), ["2001:db8::100"]);
  assertMatch(assertThrows(() => vip6Addresses(flags, false), UsageError).message, /no IPv6/);
  const bad = parseFlags("stack", ["--vip", "2001:db8::zz"], spec).flags;
  assertMatch(assertThrows(() => vip6Addresses(bad, true), UsageError).message, /not an IPv4 or/);
});
