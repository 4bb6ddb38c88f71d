/**
 * Live changes on a Balancer over a memory device (lb/admin.ts): add/edit/delete services and
 * real servers take effect for the next new flow, established flows keep their server unless it
 * is deleted, `runningConfig` round-trips through `applyConfig`, and a reload applies only the
 * difference. Persistence with a FakeClock: the same client stays on one server for the
 * timeout, then is scheduled again.
 */
import { assert, assertEquals, assertMatch, assertThrows } from "../assert.ts";
import {
  AdminError,
  applyAdmin,
  applyConfig,
  checkAdminAgainstHost,
  checkAdminOp,
  runningConfig,
} from "../../lb/admin.ts";
import { formatConfig, parseConfigText } from "../../lb/config_file.ts";
import { ACK, frame, ip, SYN, tcpPacket } from "./_packets.ts";
import { CLIENT, CLIENT_MAC, LB_MAC, REAL1, REAL2, REAL3, REAL_MACS, rig, VIP } from "./_rig.ts";

const MAC_TO_REAL = new Map([...REAL_MACS].map(([ip, m]) => [m.join(","), ip]));
const SVC = { protocol: "tcp" as const, vip: VIP, port: 80 };

/** Sends a client segment to VIP:dport; returns the real server it went to, or null. */
function seg(r: ReturnType<typeof rig>, sport: number, flags: number, src = CLIENT, dport = 80) {
  r.send(frame(LB_MAC, CLIENT_MAC, tcpPacket({ src, dst: VIP, sport, dport, flags })));
  const out = r.sent();
  if (out.length === 0) return null;
  assertEquals(out.length, 1);
  return MAC_TO_REAL.get(out[0].subarray(0, 6).join(",")) ?? -1;
}

const twoRr = () =>
  rig({
    services: [{ scheduler: "rr", method: "dr", reals: [{ address: REAL1 }, { address: REAL2 }] }],
  });

Deno.test("add-service then add-server: new flows are balanced at once", () => {
  const r = rig();
  assertEquals(seg(r, 40001, SYN), null); // no service yet: nothing is forwarded
  applyAdmin(r.balancer, { op: "add-service", service: SVC, scheduler: "rr" });
  // A service without servers answers ICMP port unreachable to the client, not a real server.
  assertEquals(seg(r, 40002, SYN), -1);
  assertEquals(r.stack.counters.get("lb.no_real_unreachable_sent"), 1);
  applyAdmin(r.balancer, { op: "add-server", service: SVC, address: REAL1, port: 80 });
  applyAdmin(r.balancer, { op: "add-server", service: SVC, address: REAL2, port: 0, weight: 2 });
  assertEquals([seg(r, 40003, SYN), seg(r, 40004, SYN)], [REAL1, REAL2]);
  const e = assertThrows(
    () => applyAdmin(r.balancer, { op: "add-server", service: SVC, address: REAL3, port: 8080 }),
    AdminError,
  );
  assertEquals(e.message, "port 8080 differs from the virtual port: it needs -m (nat)");
  const snap = r.balancer.snapshot();
  assertEquals(snap.services[0].reals.map((x) => [x.address, x.port, x.weight]), [
    ["10.0.0.11", 80, 1],
    ["10.0.0.12", 80, 2],
  ]);
  assert(r.stack.hasAddress(VIP));
});

Deno.test("edit-server weight 0: established flows stay, new flows avoid it", () => {
  const r = twoRr();
  assertEquals([seg(r, 40001, SYN), seg(r, 40002, SYN)], [REAL1, REAL2]);
  applyAdmin(r.balancer, { op: "edit-server", service: SVC, address: REAL1, port: 80, weight: 0 });
  assertEquals(seg(r, 40001, ACK), REAL1); // its flow keeps its server
  assertEquals([seg(r, 40003, SYN), seg(r, 40004, SYN)], [REAL2, REAL2]);
});

Deno.test("del-server removes its flows; the other server's flows are untouched", () => {
  const r = twoRr();
  assertEquals([seg(r, 40001, SYN), seg(r, 40002, SYN)], [REAL1, REAL2]);
  assertEquals(r.balancer.conns.size, 2);
  applyAdmin(r.balancer, { op: "del-server", service: SVC, address: REAL1, port: 0 });
  assertEquals(r.balancer.conns.size, 1);
  assertEquals(seg(r, 40001, ACK), null); // its flow is gone: dropped (no flow)
  assertEquals(seg(r, 40002, ACK), REAL2);
  assertEquals(seg(r, 40005, SYN), REAL2);
  const e = assertThrows(
    () => applyAdmin(r.balancer, { op: "del-server", service: SVC, address: REAL1, port: 0 }),
    AdminError,
  );
  assertEquals(e.message, "no real server 10.0.0.11 in tcp 10.0.0.100:80");
});

Deno.test("edit-service changes the scheduler; del-service and clear remove everything", () => {
  const r = twoRr();
  seg(r, 40001, SYN);
  applyAdmin(r.balancer, { op: "edit-service", service: SVC, scheduler: "mh" });
  assertEquals(r.balancer.snapshot().services[0].scheduler, "mh");
  assertEquals(seg(r, 40001, ACK), REAL1); // the flow is kept
  applyAdmin(r.balancer, { op: "del-service", service: SVC });
  assertEquals(r.balancer.services.size, 0);
  assertEquals(r.balancer.conns.size, 0);
  assertThrows(() => applyAdmin(r.balancer, { op: "del-service", service: SVC }), AdminError);
  assertThrows(
    () => applyAdmin(r.balancer, { op: "edit-service", service: SVC, scheduler: "rr" }),
    AdminError,
  );
  applyAdmin(r.balancer, { op: "add-service", service: SVC });
  applyAdmin(r.balancer, { op: "add-service", service: { ...SVC, port: 443 } });
  assertThrows(() => applyAdmin(r.balancer, { op: "add-service", service: SVC }), AdminError);
  assertEquals(applyAdmin(r.balancer, { op: "clear" }), "cleared 2 services");
  assertEquals(r.balancer.services.size, 0);
});

Deno.test("runningConfig -> file text -> applyConfig on a fresh balancer gives the same list", () => {
  const r = twoRr();
  applyAdmin(r.balancer, { op: "add-service", service: { ...SVC, port: 443 }, persistence: 60 });
  applyAdmin(r.balancer, {
    op: "add-server",
    service: { ...SVC, port: 443 },
    address: REAL3,
    port: 8443,
    method: "nat",
    weight: 5,
  });
  const text = formatConfig(runningConfig(r.balancer));
  const fresh = rig();
  const changes = applyConfig(fresh.balancer, parseConfigText(text, "saved.json"));
  assertEquals(changes.slice(0, 2), [
    "added service tcp 10.0.0.100:80",
    "added service tcp 10.0.0.100:443",
  ]);
  const strip = (b: typeof r.balancer) => b.snapshot().services;
  assertEquals(strip(fresh.balancer), strip(r.balancer));
  assertEquals(formatConfig(runningConfig(fresh.balancer)), text);
  assertEquals(fresh.stack.forwarding, true); // a NAT server turns forwarding on
});

Deno.test("runningConfig carries the health checks the instance runs, so save keeps them", () => {
  const r = twoRr();
  assertEquals(runningConfig(r.balancer).health, undefined);
  const health = {
    check: { kind: "http" as const, path: "/up", status: 200 },
    timing: { intervalMs: 1500, rise: 3, fall: 2 },
    timeoutMs: 1000,
  };
  const text = formatConfig(runningConfig(r.balancer, health));
  assertEquals(parseConfigText(text, "saved.json").health, health);
});

Deno.test("applyConfig as a reload: only the difference changes, flows of kept servers stay", () => {
  const r = twoRr();
  assertEquals([seg(r, 40001, SYN), seg(r, 40002, SYN)], [REAL1, REAL2]);
  const next = runningConfig(r.balancer);
  next.services[0].reals = [
    { address: REAL1, port: 0, weight: 3, method: "dr" },
    { address: REAL3, port: 0, weight: 1, method: "dr" },
  ];
  assertEquals(applyConfig(r.balancer, next), [
    "deleted server 10.0.0.12 from tcp 10.0.0.100:80",
    "edited server 10.0.0.11 in tcp 10.0.0.100:80",
    "added server 10.0.0.13 to tcp 10.0.0.100:80",
  ]);
  assertEquals(seg(r, 40001, ACK), REAL1);
  assertEquals(seg(r, 40002, ACK), null);
  assertEquals(applyConfig(r.balancer, next), []); // nothing left to change
});

Deno.test("persistence: one client stays on one server for the timeout, then is rescheduled", () => {
  const r = rig({
    services: [{
      scheduler: "rr",
      method: "dr",
      reals: [{ address: REAL1 }, { address: REAL2 }, { address: REAL3 }],
    }],
  });
  applyAdmin(r.balancer, { op: "edit-service", service: SVC, persistence: 30 });
  assertEquals(r.balancer.snapshot().services[0].persistence, 30);
  const other = CLIENT + 1;
  const first = seg(r, 41000, SYN);
  assertEquals(first, REAL1);
  assertEquals(seg(r, 41000, SYN, other), REAL2); // another client is scheduled normally
  for (let p = 41001; p < 41010; p++) assertEquals(seg(r, p, SYN), first);
  r.clock.advance(29_000);
  assertEquals(seg(r, 41020, SYN), first); // refreshed by each new flow
  r.clock.advance(31_000);
  r.stack.tick();
  assertEquals(seg(r, 41030, SYN), REAL3); // the template expired: rr goes on
  // A deleted server's clients are scheduled anew.
  applyAdmin(r.balancer, { op: "del-server", service: SVC, address: REAL3, port: 0 });
  const again = seg(r, 41040, SYN);
  assert(again === REAL1 || again === REAL2);
  assertEquals(seg(r, 41041, SYN), again);
  // Persistence off: plain rr.
  applyAdmin(r.balancer, { op: "edit-service", service: SVC, persistence: 0 });
  assertEquals(runningConfig(r.balancer).services[0].persistence, 0);
  assertEquals(r.balancer.snapshot().services[0].persistence, undefined);
  assert(seg(r, 41050, SYN) !== seg(r, 41051, SYN));
});

Deno.test("checkAdminOp: a malformed control request is refused with a reason", () => {
  const cases: [unknown, string][] = [
    [null, "change: not an object"],
    [{ op: "drop-table" }, 'change: op "drop-table" is not one of add-service'],
    [{ op: "del-service", service: { protocol: "sctp", vip: 1, port: 1 } }, "service is not"],
    [{ op: "del-service", service: { protocol: "tcp", vip: "10.0.0.1", port: 1 } }, "service"],
    [{ op: "del-server", service: SVC, address: 1 }, "needs numeric address and port"],
    [{ op: "edit-service", service: SVC, persistence: -1 }, "persistence is not a number"],
  ];
  for (const [v, msg] of cases) {
    const e = assertThrows(() => checkAdminOp(v), AdminError);
    assert(e.message.includes(msg), `${e.message} lacks ${msg}`);
  }
  assertEquals(checkAdminOp({ op: "clear", extra: 1 }), { op: "clear" });
  const ok = { op: "add-server" as const, service: SVC, address: REAL1, port: 0, weight: 2 };
  assertEquals(checkAdminOp(ok), ok);
});

Deno.test("zero clears traffic counters (one service or all); set changes timeouts live", () => {
  const r = twoRr();
  applyAdmin(r.balancer, { op: "add-service", service: { ...SVC, port: 443 }, scheduler: "rr" });
  applyAdmin(r.balancer, {
    op: "add-server",
    service: { ...SVC, port: 443 },
    address: REAL1,
    port: 0,
  });
  seg(r, 41001, SYN);
  seg(r, 41001, ACK);
  seg(r, 41002, SYN, CLIENT, 443);
  const [web, tls] = r.balancer.services.list();
  assertEquals([web.packetsIn, tls.packetsIn], [2, 1]);
  assertEquals(
    applyAdmin(r.balancer, { op: "zero", service: SVC }),
    "zeroed the counters of tcp 10.0.0.100:80",
  );
  assertEquals([web.packetsIn, web.conns, tls.packetsIn], [0, 0, 1]);
  assertEquals(web.reals[0].activeConns, 1, "live connection counts are state, not statistics");
  applyAdmin(r.balancer, { op: "zero" });
  assertEquals(tls.packetsIn, 0);
  assertThrows(
    () => applyAdmin(r.balancer, { op: "zero", service: { ...SVC, port: 1 } }),
    AdminError,
  );

  assertEquals(
    applyAdmin(r.balancer, checkAdminOp({ op: "set", tcp: 60, tcpfin: 0, udp: 30 })),
    "timeouts set: tcp 60 s, udp 30 s",
  );
  assertEquals(
    [
      r.balancer.conns.timeout("ESTABLISHED"),
      r.balancer.conns.timeout("FIN_WAIT"),
      r.balancer.conns.timeout("UDP"),
    ],
    [60_000, 120_000, 30_000],
  );
  // The next packet of the established flow takes the new timeout.
  seg(r, 41001, ACK);
  r.clock.advance(60_000);
  assertEquals(seg(r, 41001, ACK), null, "expired after the new 60 s");
  assertThrows(() => checkAdminOp({ op: "set", tcp: -1 }), AdminError);
});

Deno.test("set maxConns: live, flows over a smaller bound stay; a reload sets it too", () => {
  const r = twoRr();
  for (let p = 42001; p <= 42003; p++) {
    seg(r, p, SYN);
    seg(r, p, ACK);
  }
  assertEquals(r.balancer.conns.size, 3);
  assertEquals(
    applyAdmin(r.balancer, checkAdminOp({ op: "set", maxConns: 2 })),
    "maxConns 262144 -> 2 (3 flows now: new flows are refused until fewer than 2 remain); " +
      "timeouts unchanged",
  );
  // The established flows still go through; a new one is refused (no embryonic entry to evict).
  assertEquals([seg(r, 42001, ACK), seg(r, 42002, ACK), seg(r, 42003, ACK)], [REAL1, REAL2, REAL1]);
  assertEquals(seg(r, 42004, SYN), null);
  assertEquals(r.balancer.snapshot().table.refused, 1);
  assertEquals(r.stack.counters.get("lb.drop_table_full"), 1);
  // A reload with a larger maxConns lets it in.
  const next = runningConfig(r.balancer);
  assertEquals(next.maxConns, 2);
  next.maxConns = 100;
  assertEquals(applyConfig(r.balancer, next), ["maxConns 2 -> 100"]);
  assert([REAL1, REAL2].includes(seg(r, 42004, SYN) ?? 0));
  for (const bad of [0, -1, 1.5, (1 << 26) + 1, "9"]) {
    assertThrows(() => checkAdminOp({ op: "set", maxConns: bad }), AdminError);
  }
});

Deno.test("admin verbs run the host checks --config runs (a DR server on the link...)", () => {
  const r = twoRr();
  const host = { address: ip("10.0.0.1"), prefix: 24, gateway: ip("10.0.0.254") };
  const add = (address: number, method?: "dr" | "nat" | "tun") => ({
    op: "add-server" as const,
    service: SVC,
    address,
    port: 0,
    method,
  });
  const refused = (op: Parameters<typeof checkAdminAgainstHost>[1]) =>
    assertThrows(() => checkAdminAgainstHost(r.balancer, op, host), AdminError).message;
  assertMatch(
    refused(add(ip("172.16.0.5"))),
    /^add-server: real server 172\.16\.0\.5: direct routing needs the real server on the balancer's link \(10\.0\.0\.0\/24\); use --method tun$/,
  );
  assertMatch(refused(add(ip("10.0.0.1"), "nat")), /10\.0\.0\.1: is the balancer's own address/);
  assertMatch(refused(add(VIP, "nat")), /is the balancer's own address or a VIP/);
  // Off the link by TUN or NAT through the gateway, or DR on the link: fine.
  checkAdminAgainstHost(r.balancer, add(ip("172.16.0.5"), "tun"), host);
  checkAdminAgainstHost(r.balancer, add(REAL3), host);
  // edit-server to DR for a server off the link is refused too; its current method counts.
  applyAdmin(r.balancer, add(ip("172.16.0.5"), "tun"));
  const edit = { op: "edit-server" as const, service: SVC, address: ip("172.16.0.5"), port: 0 };
  checkAdminAgainstHost(r.balancer, { ...edit, weight: 3 }, host);
  assertMatch(
    refused({ ...edit, method: "dr" }),
    /^edit-server: real server 172\.16\.0\.5: direct/,
  );
  // No gateway: an off-link NAT server cannot be reached.
  assertThrows(
    () =>
      checkAdminAgainstHost(r.balancer, add(ip("172.16.0.6"), "nat"), {
        address: ip("10.0.0.1"),
        prefix: 24,
      }),
    AdminError,
  );
});
