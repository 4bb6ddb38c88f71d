import { assert, assertEquals } from "../../assert.ts";
import { HealthSettings } from "../../../lb/health/settings.ts";
import { parseConfigText } from "../../../lb/config_file.ts";
import { parseIpv4 } from "../../../stack/wire/address.ts";

const VIP = parseIpv4("10.0.0.100")!;
const svc = (port: number) => ({ protocol: "tcp", vip: VIP, port });

function file(health: unknown, own: Record<number, unknown>) {
  return parseConfigText(
    JSON.stringify({
      ...(health !== undefined ? { health } : {}),
      services: [80, 81, 82].map((port) => ({
        protocol: "tcp",
        vip: "10.0.0.100",
        port,
        ...(own[port] !== undefined ? { health: own[port] } : {}),
      })),
    }),
    "t.json",
  );
}

Deno.test("HealthSettings: a service's own check, else the global one", () => {
  const s = new HealthSettings(null);
  assertEquals([s.any, s.configOf(svc(80))], [false, null]);
  assertEquals(s.applyFile(file({ check: "tcp" }, { 81: { check: "http:/b:200" } })), [
    "health checks changed",
    "service tcp 10.0.0.100:81: health checks changed",
  ]);
  assertEquals(s.configOf(svc(80))?.check, { kind: "tcp" });
  assertEquals(s.configOf(svc(81))?.check, { kind: "http", path: "/b", status: 200 });
  assertEquals(s.ownOf(svc(80)), undefined);
  const global = s.configOf(svc(80));
  const own = s.configOf(svc(81));
  // The same file again: nothing changes, and the objects stay (the checkers go on).
  assertEquals(s.applyFile(file({ check: "tcp" }, { 81: { check: "http:/b:200" } })), []);
  assert(s.configOf(svc(80)) === global);
  assert(s.configOf(svc(81)) === own);
  // Service 82 gets its own; 81 loses its own (follows the global one); the global one goes.
  assertEquals(s.applyFile(file(undefined, { 82: { check: "tcp", fall: 1 } })), [
    "health checks removed",
    "service tcp 10.0.0.100:81: own health checks removed",
    "service tcp 10.0.0.100:82: health checks changed",
  ]);
  assertEquals([s.configOf(svc(80)), s.configOf(svc(81))], [null, null]);
  assertEquals(s.configOf(svc(82))?.timing.fall, 1);
  assertEquals(s.any, true);
});
