/**
 * A kernel HTTP/1.0 server in python for the namespace tests: `/` is a short page, `/big/N`
 * streams N bytes (a random 1 MiB block repeated) and prints "SENT <sha256> <N>" when done, so a
 * download through the userspace stack is checked end to end. It listens on IPv4 or, for an
 * address with a colon ("::"), IPv6.
 *
 * @module
 */
import type { Proc, Topology } from "./topology.ts";

const PY_SERVER = `
import hashlib, http.server, os, socket, sys
BLOCK = os.urandom(1 << 20)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def log_message(self, *a):
        pass
    def do_GET(self):
        if self.path == "/":
            body = b"hello from the kernel\\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path.startswith("/big/"):
            n = int(self.path[5:])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            h = hashlib.sha256()
            left = n
            while left > 0:
                chunk = BLOCK if left >= len(BLOCK) else BLOCK[:left]
                self.wfile.write(chunk)
                h.update(chunk)
                left -= len(chunk)
            print("SENT", h.hexdigest(), n, flush=True)
        else:
            self.send_error(404)
class Server(http.server.HTTPServer):
    address_family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
srv = Server((sys.argv[1], int(sys.argv[2])), H)
print("READY", flush=True)
srv.serve_forever()
`;

/** Starts the server in namespace `ns` on `host:port`; resolves once it listens. */
export async function startKernelHttp(
  t: Topology,
  ns: string,
  host: string,
  port: number,
): Promise<Proc> {
  const script = t.tempPath("kernel_http.py");
  await Deno.writeTextFile(script, PY_SERVER);
  const p = t.spawn(ns, ["/usr/bin/python3", script, host, String(port)]);
  await p.waitFor("READY", 15_000);
  return p;
}

/** The SHA-256 the server printed for its `nth` (1-based) response of exactly `n` bytes. */
export async function sentHash(p: Proc, n: number, nth = 1): Promise<string> {
  const re = new RegExp(`SENT ([0-9a-f]{64}) ${n}(?!\\d)`, "g");
  const deadline = Date.now() + 30_000;
  for (;;) {
    const all = [...p.output().matchAll(re)];
    if (all.length >= nth) return all[nth - 1][1];
    if (Date.now() > deadline) throw new Error(`no SENT line ${nth} for ${n}:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
