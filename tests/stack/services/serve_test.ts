import { assertEquals, assertMatch, assertThrows } from "../../assert.ts";
import {
  checkServeSpecs,
  formatServeSpec,
  parseServeSpec,
  type ServeSpec,
  startServices,
} from "../../../stack/services/serve.ts";
import { dec, enc, readAll, writeAllTo } from "./_util.ts";

Deno.test("parseServeSpec: services, ports and transports", () => {
  assertEquals(parseServeSpec("http:80"), { name: "http", port: 80, tcp: true, udp: false });
  assertEquals(parseServeSpec("echo:7"), { name: "echo", port: 7, tcp: true, udp: true });
  assertEquals(parseServeSpec("echo:7/udp"), { name: "echo", port: 7, tcp: false, udp: true });
  assertEquals(parseServeSpec("discard:9/tcp"), {
    name: "discard",
    port: 9,
    tcp: true,
    udp: false,
  });
  assertEquals(parseServeSpec("chargen:19"), {
    name: "chargen",
    port: 19,
    tcp: true,
    udp: false,
  });
  assertMatch(parseServeSpec("gopher:70") as string, /unknown service "gopher"/);
  assertMatch(parseServeSpec("http:0") as string, /not in 1\.\.65535/);
  assertMatch(parseServeSpec("http:70000") as string, /not in 1\.\.65535/);
  assertMatch(parseServeSpec("http") as string, /NAME:PORT/);
  assertMatch(parseServeSpec("http:80/sctp") as string, /NAME:PORT/);
  assertMatch(parseServeSpec("chargen:19/udp") as string, /TCP only/);
  assertEquals(formatServeSpec(parseServeSpec("echo:7") as ServeSpec), "echo:7/tcp+udp");
});

Deno.test("checkServeSpecs: the same port and transport twice is refused", () => {
  const s = (t: string) => parseServeSpec(t) as ServeSpec;
  assertEquals(checkServeSpecs([s("http:80"), s("echo:7"), s("discard:80/udp")]), null);
  assertMatch(
    checkServeSpecs([s("http:80"), s("echo:80")])!,
    /echo and http both want port 80\/tcp/,
  );
});

Deno.test("startServices: runs on Deno's own sockets (the API is Deno's shape)", async () => {
  // Kernel-chosen free ports are not known in advance: find two by binding and releasing.
  const free = () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = l.addr.port;
    l.close();
    return port;
  };
  const httpPort = free();
  const echoPort = free();
  const host = { listen: (o: { port: number }) => Deno.listen({ hostname: "127.0.0.1", ...o }) };
  const running = startServices(host, [
    parseServeSpec(`http:${httpPort}`) as ServeSpec,
    parseServeSpec(`echo:${echoPort}/tcp`) as ServeSpec,
  ], { hostName: "svc-test" });
  try {
    assertEquals(running.services.map((s) => `${s.name}/${s.transport}`), ["http/tcp", "echo/tcp"]);
    assertEquals(
      await (await fetch(`http://127.0.0.1:${httpPort}/`)).text(),
      "lb.ts host svc-test\n",
    );
    const c = await Deno.connect({ hostname: "127.0.0.1", port: echoPort });
    await writeAllTo(c, enc.encode("ping"));
    await c.closeWrite();
    assertEquals(dec.decode(await readAll(c)), "ping");
    c.close();
    // A second start on the same ports fails and leaves nothing behind.
    assertThrows(() => startServices(host, [parseServeSpec(`http:${httpPort}`) as ServeSpec]));
    // UDP asked of a host without listenDatagram: refused, and the TCP half is closed again.
    const spare = free();
    assertThrows(() => startServices(host, [parseServeSpec(`echo:${spare}`) as ServeSpec]));
    // Deno releases a listener's port once its pending accept has been cancelled: a turn later.
    await new Promise((r) => setTimeout(r, 10));
    const again = Deno.listen({ hostname: "127.0.0.1", port: spare });
    again.close();
  } finally {
    running.close();
    await running.done;
  }
});
