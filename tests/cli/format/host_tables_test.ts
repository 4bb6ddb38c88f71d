/** `lb.ts neigh`'s layout, as iproute2's `ip -6 neigh` prints its cache. */
import { assertEquals } from "../../assert.ts";
import { formatNeigh6, formatRoutes6 } from "../../../cli/format/host_tables.ts";

Deno.test("neigh: ip -6 neigh lines; no lladdr while INCOMPLETE; routers say so", () => {
  assertEquals(
    formatNeigh6([
      { address: "2001:db8::1", mac: "02:00:00:00:00:09", state: "REACHABLE", router: false },
      { address: "fe80::1", mac: "02:00:00:00:00:fe", state: "STALE", router: true },
      { address: "2001:db8::7", mac: "", state: "INCOMPLETE", router: false },
    ], "tap0"),
    "2001:db8::1 dev tap0 lladdr 02:00:00:00:00:09 REACHABLE\n" +
      "fe80::1 dev tap0 lladdr 02:00:00:00:00:fe router STALE\n" +
      "2001:db8::7 dev tap0 INCOMPLETE",
  );
  assertEquals(formatNeigh6([], "tap0"), "");
});

Deno.test("route -6: net-tools' route -n -A inet6 layout", () => {
  assertEquals(
    formatRoutes6([
      { destination: "2001:db8:88::/64", nextHop: "::", flags: "U", metric: 256 },
      { destination: "::/0", nextHop: "fe80::1", flags: "UG", metric: 1024 },
    ], "tap0"),
    "Kernel IPv6 routing table\n" +
      "Destination                    Next Hop                   Flag Met Ref Use If\n" +
      "2001:db8:88::/64               ::                         U    256 1     0 tap0\n" +
      "::/0                           fe80::1                    UG   1024 1     0 tap0",
  );
});
