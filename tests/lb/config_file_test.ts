/**
 * The JSON config file: a good file parses to the expected model, `formatConfig` round-trips,
 * and a set of bad files each gives one error naming the file, the JSON path and the problem.
 */
import { assertEquals, assertMatch, assertThrows } from "../assert.ts";
import {
  ConfigFileError,
  formatConfig,
  loadConfigFile,
  parseConfigText,
} from "../../lb/config_file.ts";
import { parseIpv4 } from "../../stack/wire/address.ts";

const ip = (s: string) => parseIpv4(s)!;

Deno.test("examples/lb.json parses to the model with defaults filled in", async () => {
  const c = await loadConfigFile(new URL("../../examples/lb.json", import.meta.url).pathname);
  assertEquals(c.maxConns, 262144);
  assertEquals(c.timeouts, { ESTABLISHED: 900_000, FIN_WAIT: 120_000, UDP: 300_000 });
  assertEquals(c.health, {
    check: { kind: "http", path: "/", status: 200 },
    timing: { intervalMs: 2000, rise: 2, fall: 3 },
    timeoutMs: 2000,
  });
  assertEquals(c.services.length, 2);
  assertEquals(c.services[0], {
    protocol: "tcp",
    vip: ip("10.0.0.100"),
    port: 80,
    scheduler: "wlc",
    persistence: 0,
    reals: [
      { address: ip("10.0.0.11"), port: 0, weight: 1, method: "dr" },
      { address: ip("10.0.0.12"), port: 0, weight: 2, method: "dr" },
    ],
  });
  // The service's method is the default of its reals; ports other than the VIP's need NAT.
  assertEquals(c.services[1].reals[0], {
    address: ip("10.0.0.11"),
    port: 8443,
    weight: 1,
    method: "nat",
  });
  assertEquals(c.services[1].persistence, 300);
  assertEquals(parseConfigText(formatConfig(c), "again.json"), c);
});

Deno.test("minimal file: services only, everything else ipvsadm's defaults", () => {
  const c = parseConfigText(
    '{"services":[{"protocol":"udp","vip":"10.1.1.1","port":53,' +
      '"reals":[{"address":"10.1.1.2","port":53}]}]}',
    "min.json",
  );
  assertEquals(c.timeouts, {});
  assertEquals(c.maxConns, undefined);
  assertEquals(c.health, undefined, "no health key: no health checks");
  assertEquals(c.services[0].scheduler, "wlc");
  // port equal to the virtual port is stored as 0 ("the virtual port").
  assertEquals(c.services[0].reals[0], {
    address: ip("10.1.1.2"),
    port: 0,
    weight: 1,
    method: "dr",
  });
});

Deno.test("health: defaults as the run flags, fractions of seconds, and a save round trip", () => {
  const c = parseConfigText(
    '{"services":[],"health":{"check":"http:/healthz:204","interval":0.5,"fall":5}}',
    "h.json",
  );
  // The timeout defaults to the interval, rise to 2 (lb/health/flags.ts, DEFAULT_TIMING).
  assertEquals(c.health, {
    check: { kind: "http", path: "/healthz", status: 204 },
    timing: { intervalMs: 500, rise: 2, fall: 5 },
    timeoutMs: 500,
  });
  const saved = formatConfig(c);
  assertEquals(JSON.parse(saved).health, {
    check: "http:/healthz:204",
    interval: 0.5,
    timeout: 0.5,
    rise: 2,
    fall: 5,
  });
  assertEquals(parseConfigText(saved, "saved.json"), c);
  const tcp = parseConfigText('{"services":[],"health":{"check":"tcp"}}', "t.json");
  assertEquals(tcp.health?.check, { kind: "tcp" });
  assertEquals(JSON.parse(formatConfig(tcp)).health.check, "tcp");
});

const svc = (extra: string, reals = '[{"address":"10.0.0.11"}]') =>
  `{"services":[{"protocol":"tcp","vip":"10.0.0.100","port":80${extra},"reals":${reals}}]}`;

const BAD: [string, string][] = [
  ["{", "bad.json: $: not valid JSON"],
  ["[]", "bad.json: $: not an object"],
  ["{}", "bad.json: $: missing key services"],
  ['{"services":{}}', "bad.json: $.services: not an array"],
  ['{"services":[],"colour":1}', "bad.json: $.colour: unknown key"],
  [svc(',"sched":"rr"'), "bad.json: $.services[0].sched: unknown key"],
  [svc("").replace('"10.0.0.100"', '"10.0.0.300"'), '$.services[0].vip: "10.0.0.300" is not'],
  [svc("").replace('"10.0.0.100"', '"127.0.0.1"'), "$.services[0].vip: 127.0.0.1 cannot be"],
  [svc("").replace('"port":80', '"port":0'), "$.services[0].port: 0 is not an integer in 1..65535"],
  [svc("").replace('"tcp"', '"sctp"'), '$.services[0].protocol: "sctp" is not one of tcp, udp'],
  [svc(',"scheduler":"fast"'), '$.services[0].scheduler: "fast" is not one of rr, wrr'],
  [svc(',"persistence":-1'), "$.services[0].persistence: -1 is not an integer"],
  [svc("", '[{"address":"10.0.0.11","weight":70000}]'), "$.services[0].reals[0].weight: 70000"],
  [svc("", '[{"address":"10.0.0.11","weight":1.5}]'), "$.services[0].reals[0].weight: 1.5"],
  [svc("", '[{"address":"10.0.0.11","method":"gre"}]'), '$.services[0].reals[0].method: "gre"'],
  [
    svc("", '[{"address":"x"}]'),
    '$.services[0].reals[0].address: "x" is not an IPv4 or IPv6 address',
  ],
  [svc("", '[{"weight":1}]'), "$.services[0].reals[0]: missing key address"],
  [svc("", '[{"address":"10.0.0.11","port":8080}]'), "reals[0].port: method dr keeps"],
  [
    svc("", '[{"address":"10.0.0.11"},{"address":"10.0.0.11","port":80}]'),
    "$.services[0].reals[1]: real server 10.0.0.11 is given twice",
  ],
  [
    '{"services":[' + JSON.parse(svc("")).services.map(JSON.stringify).join() + "," +
    JSON.parse(svc("")).services.map(JSON.stringify).join() + "]}",
    "bad.json: $.services[1]: duplicate service tcp 10.0.0.100:80 (also $.services[0])",
  ],
  ['{"services":[],"maxConns":0}', "$.maxConns: 0 is not an integer"],
  ['{"services":[],"timeouts":{"tcp":"9"}}', '$.timeouts.tcp: "9" is not an integer'],
  ['{"services":[],"timeouts":{"syn":9}}', "$.timeouts.syn: unknown key"],
  ['{"services":[],"health":1}', "bad.json: $.health: not an object"],
  ['{"services":[],"health":{}}', "bad.json: $.health: missing key check"],
  ['{"services":[],"health":{"check":7}}', "$.health.check: not a string"],
  ['{"services":[],"health":{"check":"icmp"}}', '$.health.check: "icmp": expected tcp or http'],
  ['{"services":[],"health":{"check":"http:/:999"}}', '$.health.check: status "999" is not'],
  ['{"services":[],"health":{"check":"tcp","every":2}}', "$.health.every: unknown key"],
  [
    '{"services":[],"health":{"check":"tcp","interval":0}}',
    "$.health.interval: 0 is not a number of seconds in 0.01..86400",
  ],
  ['{"services":[],"health":{"check":"tcp","timeout":"2"}}', '$.health.timeout: "2" is not'],
  ['{"services":[],"health":{"check":"tcp","rise":0}}', "$.health.rise: 0 is not an integer"],
  ['{"services":[],"health":{"check":"tcp","fall":1.5}}', "$.health.fall: 1.5 is not an integer"],
  [
    '{"services":[{"protocol":"tcp","vip":"10.0.0.100","port":80,"health":{"fall":2}}]}',
    "bad.json: $.services[0].health: missing key check",
  ],
  [
    '{"services":[{"protocol":"udp","vip":"10.0.0.100","port":53,"health":{"check":"tcp"}}]}',
    "$.services[0].health: health checks are for TCP services",
  ],
  [
    '{"health":{"check":"tcp"},"services":[{"protocol":"tcp","vip":"10.0.0.100","port":80,' +
    '"health":{"rise":0}}]}',
    "$.services[0].health.rise: 0 is not an integer",
  ],
];

for (const [text, message] of BAD) {
  Deno.test(`bad config: ${message}`, () => {
    const e = assertThrows(() => parseConfigText(text, "bad.json"), ConfigFileError);
    assertMatch(e.message, /^bad\.json: \$/);
    if (!e.message.includes(message)) {
      throw new Error(`message ${JSON.stringify(e.message)} lacks ${JSON.stringify(message)}`);
    }
  });
}

Deno.test("an unreadable file is a ConfigFileError naming it", async () => {
  let err: unknown = null;
  try {
    await loadConfigFile("/nonexistent/lb.json");
  } catch (e) {
    err = e;
  }
  assertEquals(err instanceof ConfigFileError, true);
  assertMatch((err as Error).message, /^\/nonexistent\/lb\.json: cannot read/);
});

Deno.test("a service's health overrides the top-level one key by key; save round-trips it", () => {
  const text = JSON.stringify({
    health: { check: "http:/:200", interval: 1, timeout: 0.5, fall: 4 },
    services: [
      { protocol: "tcp", vip: "10.0.0.100", port: 80 },
      { protocol: "tcp", vip: "10.0.0.100", port: 81, health: { check: "tcp" } },
      { protocol: "tcp", vip: "10.0.0.100", port: 82, health: { interval: 3 } },
    ],
  });
  const c = parseConfigText(text, "t.json");
  assertEquals(c.health, {
    check: { kind: "http", path: "/", status: 200 },
    timing: { intervalMs: 1000, rise: 2, fall: 4 },
    timeoutMs: 500,
  });
  assertEquals(c.services.map((s) => s.health), [
    undefined, // follows the top level
    // Only the check differs: the top level's timing and timeout stay.
    { check: { kind: "tcp" }, timing: { intervalMs: 1000, rise: 2, fall: 4 }, timeoutMs: 500 },
    // A new interval without a timeout: the timeout follows the interval, as at the top level.
    {
      check: { kind: "http", path: "/", status: 200 },
      timing: { intervalMs: 3000, rise: 2, fall: 4 },
      timeoutMs: 3000,
    },
  ]);
  const saved = formatConfig(c);
  assertEquals(JSON.parse(saved).services[1].health, {
    check: "tcp",
    interval: 1,
    timeout: 0.5,
    rise: 2,
    fall: 4,
  });
  assertEquals(parseConfigText(saved, "saved.json"), c);
  // Without a top-level health, a service's own needs its check and has the run defaults.
  const own = parseConfigText(
    '{"services":[{"protocol":"tcp","vip":"10.0.0.100","port":80,"health":{"check":"tcp"}}]}',
    "t.json",
  );
  assertEquals(own.health, undefined);
  assertEquals(own.services[0].health, {
    check: { kind: "tcp" },
    timing: { intervalMs: 2000, rise: 2, fall: 3 },
    timeoutMs: 2000,
  });
});
