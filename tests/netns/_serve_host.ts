/**
 * An HTTP server for the namespace tests: the handlers of _serve_app.ts on `stack.serve` over a
 * TAP, or on `Deno.serve` with a kernel socket (the comparison).
 *
 *   deno run -A tests/netns/_serve_host.ts stack --tap NAME --ip 10.0.0.2/24 --app plain|hono
 *   deno run -A tests/netns/_serve_host.ts kernel --host 10.0.0.3 --app plain|hono
 *
 * Prints "READY" once listening on port 80; exits on SIGTERM.
 *
 * @module
 */
import { TapDevice } from "../../stack/link/tap.ts";
import { Stack } from "../../stack/net/stack.ts";
import { parseCidr } from "../../stack/wire/address.ts";
import { honoApp, plain } from "./_serve_app.ts";

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

if (mode === "stack") {
  const cidr = parseCidr(flag("--tap") === undefined ? "" : flag("--ip")!)!;
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
