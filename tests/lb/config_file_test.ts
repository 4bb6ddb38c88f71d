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
  assertEquals(c.services[0].scheduler, "wlc");
  // port equal to the virtual port is stored as 0 ("the virtual port").
  assertEquals(c.services[0].reals[0], {
    address: ip("10.1.1.2"),
    port: 0,
    weight: 1,
    method: "dr",
  });
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
  [svc("", '[{"address":"x"}]'), '$.services[0].reals[0].address: "x" is not an IPv4 address'],
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
