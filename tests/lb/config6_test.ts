/**
 * IPv6 in the balancer's configuration: addresses of both families as numbers (lb/address.ts),
 * ipvsadm's bracket syntax in `lb.ts run` flags, the config file and the admin verbs, mixed
 * families refused with a message naming the problem, and what crosses the control channel.
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import {
  formatAddress,
  formatAddressPort,
  IPV6_HANDLE_BASE,
  ipv6Bytes,
  isIpv6Address,
  parseAddress,
  splitHostPort,
} from "../../lb/address.ts";
import {
  balancerConfigFromFlags,
  checkAgainstHost,
  ConfigError,
  parseRealSpec,
  parseServiceSpec,
} from "../../lb/config.ts";
import {
  ConfigFileError,
  configFromWire,
  configToWire,
  formatConfig,
  parseConfigText,
} from "../../lb/config_file.ts";
import { adminOpToWire, checkAdminOp } from "../../lb/admin.ts";
import { parseAdminArgs } from "../../cli/commands/lb_admin.ts";
import { UsageError } from "../../cli/args.ts";
import { parseIpv4 } from "../../stack/wire/address.ts";

Deno.test("addresses: IPv4 as its u32, IPv6 as a stable handle above 2^32, both as text", () => {
  assertEquals(parseAddress("10.0.0.1"), parseIpv4("10.0.0.1"));
  const h = parseAddress("2001:DB8:0::1")!;
  assert(h >= IPV6_HANDLE_BASE && isIpv6Address(h));
  assertEquals(parseAddress("2001:db8::1"), h, "the same address, the same handle");
  assert(parseAddress("2001:db8::2") !== h);
  assertEquals(formatAddress(h), "2001:db8::1");
  assertEquals(formatAddressPort(h, 80), "[2001:db8::1]:80");
  assertEquals(formatAddressPort(parseIpv4("10.0.0.1")!, 80), "10.0.0.1:80");
  assertEquals(ipv6Bytes(parseIpv4("10.0.0.1")!), null);
  for (const bad of ["", "10.0.0", "2001:db8::g", "::1::2", "host"]) {
    assertEquals(parseAddress(bad), null, bad);
  }
  assertEquals(splitHostPort("[2001:db8::1]:80"), { host: "2001:db8::1", port: "80" });
  assertEquals(splitHostPort("[2001:db8::1]"), { host: "2001:db8::1", port: undefined });
  assertEquals(splitHostPort("2001:db8::1"), { host: "2001:db8::1" });
  assertEquals(splitHostPort("10.0.0.1:80"), { host: "10.0.0.1", port: "80" });
  assertEquals(splitHostPort("[2001:db8::1]80"), null);
});

Deno.test("flags: tcp:[VIP]:PORT and [REAL]:PORT; mixed families refused by name", () => {
  const s = parseServiceSpec("tcp:[2001:db8::100]:80");
  assertEquals([formatAddress(s.vip), s.port, s.protocol], ["2001:db8::100", 80, "tcp"]);
  assertEquals(
    formatAddress(parseRealSpec("[2001:db8::10]:8080,weight=3").address),
    "2001:db8::10",
  );
  assertEquals(parseRealSpec("[2001:db8::10]:8080,weight=3").weight, 3);
  assertEquals(parseRealSpec("2001:db8::10").port, 0, "a bare IPv6 real server: no port");
  const bad: [string, string][] = [
    ["tcp:2001:db8::100:80", "is not PROTO:VIP:PORT"],
    ["tcp:[2001:db8::100]", "is not PROTO:VIP:PORT"],
    ["tcp:[ff02::1]:80", "cannot be a virtual address"],
    ["tcp:[::1]:80", "cannot be a virtual address"],
    ["tcp:[fe80::1]:80", "cannot be a virtual address"],
    ["tcp:[2001:db8::zz]:80", "is not an IPv4 or IPv6 address"],
  ];
  for (const [text, msg] of bad) {
    const e = assertThrows(() => parseServiceSpec(text), ConfigError);
    assert(e.message.includes(msg), `${text}: ${e.message}`);
  }
  const mixed = assertThrows(
    () =>
      balancerConfigFromFlags([
        { name: "service", value: "tcp:[2001:db8::100]:80" },
        { name: "real", value: "10.0.0.11" },
      ]),
    ConfigError,
  );
  assertEquals(
    mixed.message,
    "--real 10.0.0.11: real server 10.0.0.11 is IPv4 but the VIP 2001:db8::100 is IPv6: a " +
      "service's real servers must be of its VIP's family",
  );
  const mixed4 = assertThrows(
    () =>
      balancerConfigFromFlags([
        { name: "service", value: "tcp:10.0.0.100:80" },
        { name: "real", value: "[2001:db8::11]" },
      ]),
    ConfigError,
  );
  assert(mixed4.message.includes("is IPv6 but the VIP 10.0.0.100 is IPv4"), mixed4.message);
  // Dual stack: one service of each family.
  const c = balancerConfigFromFlags([
    { name: "service", value: "tcp:10.0.0.100:80" },
    { name: "real", value: "10.0.0.11" },
    { name: "service", value: "tcp:[2001:db8::100]:80" },
    { name: "method", value: "nat" },
    { name: "real", value: "[2001:db8::11]:8080" },
  ]);
  assertEquals(c.services.map((x) => formatAddressPort(x.vip, x.port)), [
    "10.0.0.100:80",
    "[2001:db8::100]:80",
  ]);
  const host = { address: parseIpv4("10.0.0.1")!, prefix: 24 };
  const noV6 = assertThrows(() => checkAgainstHost(c, host), ConfigError);
  assert(noV6.message.includes("needs an IPv6 address on the balancer"), noV6.message);
  checkAgainstHost(c, { ...host, ipv6: ["2001:db8::1/64"] });
});

Deno.test("config file: IPv6 services read, saved and read back; mixed families refused", () => {
  const text = JSON.stringify({
    services: [{
      protocol: "udp",
      vip: "2001:db8::100",
      port: 53,
      method: "nat",
      reals: [{ address: "2001:db8::11", port: 5353 }, { address: "2001:db8::12" }],
    }],
  });
  const c = parseConfigText(text, "v6.json");
  assertEquals(formatAddress(c.services[0].vip), "2001:db8::100");
  const saved = formatConfig(c);
  assert(saved.includes('"vip": "2001:db8::100"') && saved.includes('"address": "2001:db8::12"'));
  assertEquals(parseConfigText(saved, "again.json"), c);
  // The control channel carries IPv6 as text and gives the same config back.
  const wire = JSON.parse(JSON.stringify(configToWire(c)));
  assertEquals(wire.services[0].vip, "2001:db8::100");
  assertEquals(configFromWire(wire), c);
  const mixed = text.replace('"2001:db8::12"', '"10.0.0.12"');
  const e = assertThrows(() => parseConfigText(mixed, "m.json"), ConfigFileError);
  assert(e.message.includes("$.services[0].reals[1].address: real server 10.0.0.12 is IPv4"));
});

Deno.test("admin verbs: -t [VIP]:PORT -r [IP]:PORT; IPv6 crosses the control channel as text", () => {
  const { op } = parseAdminArgs("add-server", [
    "-t",
    "[2001:db8::100]:80",
    "-r",
    "[2001:db8::11]:8080",
    "-m",
  ]);
  assert(op.op === "add-server");
  assertEquals(formatAddressPort(op.service.vip, op.service.port), "[2001:db8::100]:80");
  assertEquals(formatAddressPort(op.address, op.port), "[2001:db8::11]:8080");
  const wire = JSON.parse(JSON.stringify(adminOpToWire(op)));
  assertEquals([wire.service.vip, wire.address], ["2001:db8::100", "2001:db8::11"]);
  assertEquals(checkAdminOp(wire), JSON.parse(JSON.stringify(op)), "the same request back");
  assertEquals(
    parseAdminArgs("del-server", ["-t", "[2001:db8::100]:80", "-r", "2001:db8::11"]).op,
    { op: "del-server", service: op.service, address: op.address, port: 0 },
  );
  for (
    const args of [
      ["-t", "2001:db8::100:80"],
      ["-t", "[2001:db8::100]"],
      ["-t", "[2001:db8::1g]:80"],
    ]
  ) {
    assertThrows(() => parseAdminArgs("add-service", args), UsageError);
  }
});

Deno.test("host checks: an IPv6 DR real server on the link, others routed, none the balancer", () => {
  const host = { address: parseIpv4("10.0.0.1")!, prefix: 24, ipv6: ["2001:db8::1/64"] };
  const svc = (method: string, real: string) =>
    balancerConfigFromFlags([
      { name: "service", value: "tcp:[2001:db8::100]:80" },
      { name: "method", value: method },
      { name: "real", value: real },
    ]);
  checkAgainstHost(svc("dr", "2001:db8::11"), host);
  const cases: [string, string, string][] = [
    ["dr", "2001:db8:1::11", "direct routing needs the real server on the balancer's link"],
    ["nat", "2001:db8:1::11", "not on the balancer's link and no IPv6 --gateway"],
    ["nat", "2001:db8::1", "is the balancer's own address or a VIP"],
    ["tun", "2001:db8::100", "is the balancer's own address or a VIP"],
  ];
  for (const [method, real, msg] of cases) {
    const e = assertThrows(() => checkAgainstHost(svc(method, real), host), ConfigError);
    assert(e.message.includes(msg), `${method} ${real}: ${e.message}`);
  }
  checkAgainstHost(svc("tun", "2001:db8:1::11"), { ...host, gateway6: "2001:db8::fe" });
});
