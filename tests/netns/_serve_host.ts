/**
 * An HTTP server for the namespace tests: the handlers of _serve_app.ts on `stack.serve` over a
 * TAP, or on `Deno.serve` with a kernel socket (the comparison).
 *
 *   deno run -A tests/netns/_serve_host.ts stack --tap NAME --ip 10.0.0.2/24 --app plain|hono|express
 *   deno run -A tests/netns/_serve_host.ts kernel --host 10.0.0.3 --app plain|hono
 *   deno run -A tests/netns/_serve_host.ts undici --tap NAME --ip 10.0.0.2/24 --url URL --count N
 *   deno run -A tests/netns/_serve_host.ts fetch --tap NAME --ip 10.0.0.2/24 --url URL --count N
 *
 * The servers print "READY" once listening on port 80 and exit on SIGTERM. "express" runs the
 * Express app as a `node:http` server on the stack's listener (stack/node/http_server.ts).
 * "undici" sends N GETs of URL with undici's `Client` dialing through the stack (one
 * connection, kept alive) and prints "UNDICI <status> <sha256 of the last body> <connections>".
 * "fetch" does the same with `stack.fetch` (its pool) and prints "FETCH <status> <sha256 of the
 * last body> <connections to the server in the stack's table>".
 *
 * @module
 */
import { TapDevice } from "../../stack/link/tap.ts";
import { Stack } from "../../stack/net/stack.ts";
import { parseCidr } from "../../stack/wire/address.ts";
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { Client } from "undici";
import { StackSocket } from "../../stack/node/net_socket.ts";
import { serveNodeHttp } from "../../stack/node/http_server.ts";
import { expressApp, honoApp, plain } from "./_serve_app.ts";

const args = [...Deno.args];
function flag(name: string): string | undefined {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
}
const mode = args[0];
const app = flag("--app") ?? "plain";
const handler = app === "hono" ? honoApp().fetch : plain;
const ac = new AbortController();
Deno.addSignalListener("SIGTERM", () => ac.abort());
const onListen = () => console.log("READY");

if (mode === "undici") {
  const cidr = parseCidr(flag("--ip")!)!;
  const stack = new Stack({
    device: TapDevice.open({ name: flag("--tap")! }),
    address: cidr.addr,
    prefix: cidr.prefix,
  });
  const running = stack.start();
  const url = new URL(flag("--url")!);
  let connections = 0;
  const client = new Client(url.origin, {
    connect: (opts, callback) => {
      connections++;
      stack.connect({ hostname: opts.hostname, port: Number(opts.port) || 80 }).then(
        (conn) => callback(null, new StackSocket(conn) as never),
        (e) => callback(e, null),
      );
    },
  });
  let status = 0;
  let digest = "";
  for (let i = 0; i < Number(flag("--count") ?? "1"); i++) {
    const r = await client.request({ path: url.pathname, method: "GET" });
    const h = createHash("sha256");
    for await (const piece of r.body) h.update(piece);
    status = r.statusCode;
    digest = h.digest("hex");
  }
  await client.close();
  console.log(`UNDICI ${status} ${digest} ${connections}`);
  stack.close();
  await running;
} else if (mode === "fetch") {
  const cidr = parseCidr(flag("--ip")!)!;
  const stack = new Stack({
    device: TapDevice.open({ name: flag("--tap")! }),
    address: cidr.addr,
    prefix: cidr.prefix,
  });
  const running = stack.start();
  const url = new URL(flag("--url")!);
  let status = 0;
  let digest = "";
  for (let i = 0; i < Number(flag("--count") ?? "1"); i++) {
    const r = await stack.fetch(url);
    const h = createHash("sha256");
    for await (const piece of r.body!) h.update(piece);
    status = r.status;
    digest = h.digest("hex");
  }
  // One connection kept alive for all: one row to the server in the table, idle in the pool.
  const rows = stack.tcpSnapshot().filter((s) => s.remote === `${url.hostname}:80`);
  console.log(`FETCH ${status} ${digest} ${rows.length} ${rows.map((r) => r.state).join(",")}`);
  stack.close();
  await running;
} else if (mode === "stack" && app === "express") {
  const cidr = parseCidr(flag("--ip")!)!;
  const stack = new Stack({
    device: TapDevice.open({ name: flag("--tap")! }),
    address: cidr.addr,
    prefix: cidr.prefix,
  });
  const running = stack.start();
  const server = serveNodeHttp(stack.listen({ port: 80 }), createServer(expressApp()));
  onListen();
  ac.signal.addEventListener("abort", () => server.close());
  await server.finished;
  stack.close();
  await running;
} else if (mode === "stack") {
  const cidr = parseCidr(flag("--ip")!)!;
  const stack = new Stack({
    device: TapDevice.open({ name: flag("--tap")! }),
    address: cidr.addr,
    prefix: cidr.prefix,
  });
  const running = stack.start();
  const server = stack.serve({ port: 80, signal: ac.signal, onListen }, handler);
  await server.finished;
  stack.close();
  await running;
} else {
  const server = Deno.serve(
    { hostname: flag("--host"), port: 80, signal: ac.signal, onListen },
    handler,
  );
  await server.finished;
}
