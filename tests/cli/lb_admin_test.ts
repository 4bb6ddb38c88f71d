/** The ipvsadm-like verbs' argument parsing (cli/commands/lb_admin.ts), without an instance. */
import { assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { parseAdminArgs } from "../../cli/commands/lb_admin.ts";
import { UsageError } from "../../cli/args.ts";

const VIP = 0x0a000064; // 10.0.0.100

Deno.test("service verbs: -t/-u VIP:PORT, -s, -p", () => {
  assertEquals(
    parseAdminArgs("add-service", ["-t", "10.0.0.100:80", "-s", "rr", "-p", "300"]),
    {
      op: {
        op: "add-service",
        service: { protocol: "tcp", vip: VIP, port: 80 },
        scheduler: "rr",
        persistence: 300,
      },
      control: "/run/lbts.sock",
    },
  );
  assertEquals(
    parseAdminArgs("del-service", ["-u", "10.0.0.100:53", "--control", "/tmp/x.sock"]),
    {
      op: { op: "del-service", service: { protocol: "udp", vip: VIP, port: 53 } },
      control: "/tmp/x.sock",
    },
  );
  assertEquals(parseAdminArgs("clear", []).op, { op: "clear" });
});

Deno.test("server verbs: -r IP[:PORT], -g|-m|-i, -w", () => {
  assertEquals(
    parseAdminArgs("add-server", ["-t", "10.0.0.100:80", "-r", "10.0.0.11:8080", "-m", "-w", "3"])
      .op,
    {
      op: "add-server",
      service: { protocol: "tcp", vip: VIP, port: 80 },
      address: 0x0a00000b,
      port: 8080,
      method: "nat",
      weight: 3,
    },
  );
  assertEquals(
    parseAdminArgs("edit-server", ["-t", "10.0.0.100:80", "-r", "10.0.0.11", "-w", "0"]).op,
    {
      op: "edit-server",
      service: { protocol: "tcp", vip: VIP, port: 80 },
      address: 0x0a00000b,
      port: 0,
      method: undefined,
      weight: 0,
    },
  );
  assertEquals(
    parseAdminArgs("del-server", ["-t", "10.0.0.100:80", "-r", "10.0.0.11"]).op,
    {
      op: "del-server",
      service: { protocol: "tcp", vip: VIP, port: 80 },
      address: 0x0a00000b,
      port: 0,
    },
  );
});

const BAD: [string, string[], RegExp][] = [
  ["add-service", ["-s", "rr"], /give exactly one of -t VIP:PORT or -u VIP:PORT/],
  ["add-service", ["-t", "a:1", "-u", "b:2"], /exactly one/],
  ["add-service", ["-t", "10.0.0.100"], /"10.0.0.100" is not VIP:PORT/],
  ["add-service", ["-t", "10.0.0.100:80", "-s", "fast"], /-s "fast" is not one of/],
  ["add-service", ["-t", "10.0.0.100:80", "-p", "x"], /-p: "x" is not a whole number/],
  ["add-server", ["-t", "10.0.0.100:80"], /-r IP\[:PORT\] is required/],
  ["add-server", ["-t", "10.0.0.100:80", "-r", "10.0.0.11", "-g", "-m"], /only one of -g, -m, -i/],
  ["add-server", ["-t", "10.0.0.100:80", "-r", "10.0.0.11", "-w", "70000"], /70000 is outside/],
  ["del-service", ["-t", "10.0.0.100:80", "-s", "rr"], /Unknown option '-s'/],
  ["clear", ["-t", "10.0.0.100:80"], /Unknown option/],
];

for (const [cmd, args, re] of BAD) {
  Deno.test(`${cmd} ${args.join(" ")}: usage error`, () => {
    const e = assertThrows(() => parseAdminArgs(cmd, args), UsageError);
    assertMatch(e.message, re);
  });
}

Deno.test("zero [-t|-u VIP:PORT] and set --tcp/--tcpfin/--udp", () => {
  assertEquals(parseAdminArgs("zero", []).op, { op: "zero" });
  assertEquals(parseAdminArgs("zero", ["-t", "10.0.0.100:80"]).op, {
    op: "zero",
    service: { protocol: "tcp", vip: VIP, port: 80 },
  });
  assertEquals(parseAdminArgs("set", ["--tcp", "900", "--udp", "0"]).op, {
    op: "set",
    tcp: 900,
    tcpfin: undefined,
    udp: 0,
  });
  assertEquals(parseAdminArgs("set", ["--max-conns", "5000"]).op, {
    op: "set",
    tcp: undefined,
    tcpfin: undefined,
    udp: undefined,
    maxConns: 5000,
  });
  for (
    const [args, re] of [
      [[], /set: give at least one of --tcp S, --tcpfin S, --udp S, --max-conns N/],
      [["--max-conns", "0"], /set --max-conns: 0 is outside 1\.\.67108864/],
      [["--max-conns", "many"], /set --max-conns: "many" is not a whole number/],
      [["--tcp=-5"], /set --tcp/],
      [["--tcpfin", "soon"], /set --tcpfin/],
      [["--udp", "99999999"], /set --udp/],
    ] as const
  ) {
    const e = assertThrows(() => parseAdminArgs("set", [...args]), UsageError);
    assertMatch(e.message, re);
  }
});
