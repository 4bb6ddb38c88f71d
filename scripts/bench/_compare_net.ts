/**
 * The side-by-side benchmark's network (scripts/bench/lb_compare.ts), one topology for every
 * balancer:
 *
 *   client 10.78.0.10-.17 ── br2 ── router ── br1 ──┬── kernel balancer ns "kb": 10.77.0.2 + VIP
 *   (namespace "cl")        10.78.0.254   10.77.0.254 ├── lb.ts run on a TAP: 10.77.0.2, VIP
 *                                                    ├── real server r1 10.77.0.11 (nginx)
 *                                                    └── real server r2 10.77.0.12 (nginx)
 *
 * The balancer's place (10.77.0.2, answering ARP for the VIP 10.77.0.100) is held either by the
 * "kb" namespace (the kernel datapaths, nginx, haproxy) or by `lb.ts` on a TAP, never both: the
 * one not in use has its link down, and the router's and real servers' neighbour caches are
 * flushed at every switch. Real servers are set up for direct routing (VIP on `lo`, arp_ignore=1,
 * arp_announce=2) and their default route is switched between the router (DR, proxies, direct)
 * and the balancer (NAT, where replies must come back through it).
 *
 * Each real server runs Debian's nginx (one worker, access log off) serving `/small` (100 bytes)
 * and `/1m` (1 MiB), and `iperf3 -s`. Everything is made with this run's unique suffix and torn
 * down by {@link Topology.destroy}, also on SIGINT/SIGTERM.
 *
 * @module
 */

import { type Proc, Topology } from "../../tests/netns/topology.ts";
import {
  buildRoutedLinks,
  LB_IP,
  LB_MAC,
  makeDrReal,
  ROUTER,
  VIP,
} from "../../tests/netns/_lb_net.ts";

// The addresses are the balancer tests' (VIP, the balancer's own address held by kb or lb.ts,
// lb.ts's MAC, the router on the balancer's link).
export { LB_IP, LB_MAC, ROUTER, VIP };
/** The client's first address; more follow (.11, .12, ...) for the concurrency runs. */
export const CLIENT_IPS = Array.from({ length: 8 }, (_, i) => `10.78.0.${10 + i}`);
/** HTTP port of every service; iperf3's is 5201 (one real server behind it). */
export const HTTP_PORT = 80;
export const IPERF_PORT = 5201;

/** A real server. */
export interface Real {
  name: string;
  ns: string;
  ip: string;
  mac: string;
}

/** The network of one benchmark run. */
export interface CompareNet {
  t: Topology;
  hub: string;
  router: string;
  client: string;
  /** The kernel balancers' namespace. */
  kb: string;
  /** The MAC of kb's interface (the source of frames the DR stand-in forwards). */
  kbMac: string;
  /** lb.ts's TAP (in hub, on br1). */
  tap: string;
  reals: Real[];
  /** Scratch directory (configs, served files), removed by {@link destroyNet}. */
  dir: string;
  /** The real servers' nginx processes (restarted with more workers for concurrency runs). */
  nginx: Proc[];
  /** Every other server process (iperf3). */
  procs: Proc[];
}

/** nginx's dynamic stream module as Debian installs it (package libnginx-mod-stream). */
const STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";

/** Builds the network and starts nginx and iperf3 on `reals` real servers. */
export async function buildCompareNet(t: Topology, reals = 2): Promise<CompareNet> {
  const dir = await Deno.makeTempDir({ prefix: `lbts-compare-${t.suffix}-` });
  // nginx's workers run as an unprivileged user: the served files must be world-readable.
  Deno.chmodSync(dir, 0o755);
  const { hub, router, client, br1 } = await buildRoutedLinks(t, CLIENT_IPS);
  const kb = await t.netns("kb");
  // Many short connections and, for the concurrency runs, 64 k ports per source address.
  await t.execOk(client, [
    "sysctl",
    "-qw",
    "net.ipv4.ip_local_port_range=1024 65535",
    "net.ipv4.tcp_tw_reuse=1",
  ]);
  const kbMac = await t.attach(kb, hub, br1, "eth0", `${LB_IP}/24`);
  await t.execOk(kb, ["ip", "addr", "add", `${VIP}/32`, "dev", "eth0"]);
  await t.execOk(kb, ["ip", "route", "add", "default", "via", ROUTER]);
  await t.execOk(kb, [
    "sysctl",
    "-qw",
    "net.ipv4.ip_forward=1",
    "net.ipv4.ip_local_port_range=1024 65535",
    "net.ipv4.tcp_tw_reuse=1",
  ]);

  await writeFiles(dir);
  const hosts: Real[] = [];
  const procs: Proc[] = [];
  for (let i = 1; i <= reals; i++) {
    const ns = await t.netns(`r${i}`);
    const ip = `10.77.0.${10 + i}`;
    const mac = await t.attach(ns, hub, br1, "eth0", `${ip}/24`);
    await makeDrReal(t, ns, ["net.core.somaxconn=65535", "net.ipv4.tcp_max_syn_backlog=65535"]);
    procs.push(t.spawn(ns, ["iperf3", "-s", "-p", String(IPERF_PORT)]));
    hosts.push({ name: `r${i}`, ns, ip, mac });
  }
  const tap = await t.tap(hub, br1);
  // The kernel queues frames for the userspace reader here; bursts (200 k connections opening
  // or answering at once) outrun one reader for a moment, and 1000 frames (the default) is a
  // few hundred microseconds of them. Operators raise it the same way for any TAP-based host.
  await t.execOk(hub, ["ip", "link", "set", tap, "txqueuelen", "10000"]);
  await t.execOk(hub, ["ip", "link", "set", tap, "down"]);
  const net: CompareNet = {
    t,
    hub,
    router,
    client,
    kb,
    kbMac,
    tap,
    reals: hosts,
    dir,
    nginx: [],
    procs,
  };
  await startRealNginx(net, 1);
  for (const r of hosts) await waitListening(t, r.ns, IPERF_PORT);
  return net;
}

/** Removes the scratch directory (the topology removes the rest). */
export function destroyNet(net: CompareNet): void {
  try {
    Deno.removeSync(net.dir, { recursive: true });
  } catch { /* already gone */ }
}

async function writeFiles(dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/www`, { recursive: true, mode: 0o755 });
  Deno.writeTextFileSync(`${dir}/www/small`, "x".repeat(99) + "\n");
  const mb = new Uint8Array(1 << 20);
  for (let off = 0; off < mb.length; off += 65536) {
    crypto.getRandomValues(mb.subarray(off, off + 65536));
  }
  Deno.writeFileSync(`${dir}/www/1m`, mb);
}

/**
 * (Re)starts every real server's nginx with `workers` workers: one for the rate and throughput
 * runs (the same for every balancer compared); for held concurrency as many as the per-process
 * file-descriptor limit asks for (`listen ... reuseport` spreads connections over them).
 */
export async function startRealNginx(net: CompareNet, workers: number): Promise<void> {
  await Promise.all(net.nginx.map((p) => p.stop("SIGTERM", 10_000)));
  net.nginx = net.reals.map((r) => {
    const conf = `${net.dir}/${r.name}.conf`;
    Deno.writeTextFileSync(conf, realNginxConf(net.dir, r.name, workers));
    return net.t.spawn(r.ns, ["nginx", "-c", conf, "-g", "daemon off;"]);
  });
  for (const r of net.reals) await waitListening(net.t, r.ns, HTTP_PORT);
}

/** A real server's nginx; idle connections are kept 10 minutes (the concurrency runs hold them). */
function realNginxConf(dir: string, name: string, workers: number): string {
  return `
worker_processes ${workers};
worker_rlimit_nofile ${hardFdLimit()};
pid ${dir}/${name}.pid;
error_log stderr warn;
events { worker_connections ${workerConnections()}; multi_accept on; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  client_header_timeout 600s;
  client_body_temp_path ${dir}/${name}-body;
  proxy_temp_path ${dir}/${name}-proxy;
  fastcgi_temp_path ${dir}/${name}-fcgi;
  uwsgi_temp_path ${dir}/${name}-uwsgi;
  scgi_temp_path ${dir}/${name}-scgi;
  default_type application/octet-stream;
  server {
    listen ${HTTP_PORT} reuseport backlog=65535;
    root ${dir}/www;
    location / { }
  }
}
`;
}

/**
 * This process's hard limit on open files (/proc/self/limits), which the servers it starts
 * inherit. Raising it needs CAP_SYS_RESOURCE, which a sandbox may lack even as root.
 */
export function hardFdLimit(): number {
  const line = Deno.readTextFileSync("/proc/self/limits").split("\n")
    .find((l) => l.startsWith("Max open files"));
  const hard = line?.trim().split(/\s+/)[4];
  return hard === undefined || hard === "unlimited" ? 1 << 20 : Number(hard);
}

/**
 * nginx's `worker_connections`: what one worker can really open (its descriptor limit). nginx
 * preallocates this many connection structures per worker, so a larger figure only costs memory.
 */
function workerConnections(): number {
  return hardFdLimit() - 100;
}

/** Waits (bounded) until something listens on TCP `port` in `ns`. */
export async function waitListening(t: Topology, ns: string, port: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const r = await t.exec(ns, ["ss", "-Hltn", `sport = :${port}`]);
    if (r.stdout.trim() !== "") return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`nothing listens on port ${port} in ${ns}`);
}

/** Points every real server's default route at `via` (the router, or the balancer for NAT). */
export async function routeRealsVia(net: CompareNet, via: string): Promise<void> {
  for (const r of net.reals) {
    await net.t.execOk(r.ns, ["ip", "route", "replace", "default", "via", via]);
  }
}

/**
 * Hands the balancer's place to the kb namespace (`kernel` true) or to lb.ts's TAP, and flushes
 * the neighbour caches that remember the other one's MAC.
 */
export async function placeBalancer(net: CompareNet, kernel: boolean): Promise<void> {
  const t = net.t;
  await t.execOk(net.kb, ["ip", "link", "set", "eth0", kernel ? "up" : "down"]);
  await t.execOk(net.hub, ["ip", "link", "set", net.tap, kernel ? "down" : "up"]);
  for (const ns of [net.router, ...net.reals.map((r) => r.ns)]) {
    await t.execOk(ns, ["ip", "neigh", "flush", "all"]);
  }
  if (kernel) await t.execOk(net.kb, ["ip", "route", "replace", "default", "via", ROUTER]);
}

/** Removes every nftables table of the kb namespace. */
export async function flushNft(net: CompareNet): Promise<void> {
  await net.t.execOk(net.kb, ["nft", "flush", "ruleset"]);
}

/**
 * The IPVS-DR stand-in: a netdev ingress rule on kb's eth0 that rewrites the destination MAC of
 * packets to VIP:80 to a real server's (picked by a hash of the client's address and port, so a
 * flow stays on one server, as IPVS's connection table keeps it) and sends the frame back out of
 * the same interface; packets to VIP:5201 go to r1. Nothing reaches kb's IP stack. The source MAC
 * becomes kb's own, as IPVS's DR transmit does: otherwise the bridge would learn the client-side
 * router's MAC on kb's port and send the real servers' replies to kb.
 */
export async function nftDr(net: CompareNet): Promise<void> {
  const r1 = net.reals[0];
  const macs = net.reals.map((r, i) => `${i} : ${r.mac}`).join(", ");
  const n = net.reals.length;
  const rules = `
table netdev lbdr {
  chain ingress {
    type filter hook ingress device "eth0" priority 0; policy accept;
    ip daddr ${VIP} tcp dport ${HTTP_PORT} ether saddr set ${net.kbMac} ether daddr set jhash ip saddr . tcp sport mod ${n} map { ${macs} } fwd to "eth0"
    ip daddr ${VIP} tcp dport ${IPERF_PORT} ether saddr set ${net.kbMac} ether daddr set ${r1.mac} fwd to "eth0"
  }
}
`;
  await loadNft(net, rules);
}

/**
 * The IPVS-NAT stand-in: `dnat` with `numgen inc` (round robin) on VIP:80, r1 for VIP:5201;
 * conntrack un-NATs the replies, which come back because the real servers route through kb.
 */
export async function nftNat(net: CompareNet): Promise<void> {
  const ips = net.reals.map((r, i) => `${i} : ${r.ip}`).join(", ");
  const n = net.reals.length;
  const rules = `
table ip lbnat {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${VIP} tcp dport ${HTTP_PORT} dnat to numgen inc mod ${n} map { ${ips} }
    ip daddr ${VIP} tcp dport ${IPERF_PORT} dnat to ${net.reals[0].ip}
  }
}
`;
  await loadNft(net, rules);
}

async function loadNft(net: CompareNet, rules: string): Promise<void> {
  const file = `${net.dir}/rules.nft`;
  Deno.writeTextFileSync(file, rules);
  await net.t.execOk(net.kb, ["nft", "-f", file]);
}

/**
 * kb's extra source addresses for proxies holding many connections: one source address reaches
 * a real server's port from at most ~64 k ports, so past that a proxy needs more (nginx
 * `proxy_bind` over `split_clients`; operators do the same).
 */
export const PROXY_SOURCES = Array.from({ length: 8 }, (_, i) => `10.77.0.${3 + i}`);

/** Adds {@link PROXY_SOURCES} to kb's interface. */
export async function addProxySources(net: CompareNet): Promise<void> {
  for (const a of PROXY_SOURCES) {
    await net.t.execOk(net.kb, ["ip", "addr", "add", `${a}/24`, "dev", "eth0"]);
  }
}

/** `split_clients` spreading upstream connections over {@link PROXY_SOURCES} (by client port). */
function proxySourceSplit(): string {
  const share = (100 / PROXY_SOURCES.length).toFixed(2);
  const lines = PROXY_SOURCES.map((a, i) =>
    i === PROXY_SOURCES.length - 1 ? `* ${a};` : `${share}% ${a};`
  );
  return `split_clients "$remote_addr$remote_port" $lbsrc { ${lines.join(" ")} }`;
}

/** Proxy settings: one worker for the rate runs; more and a source pool for held concurrency. */
export interface ProxyOptions {
  workers: number;
  /** Bind upstream connections to {@link PROXY_SOURCES}. */
  sourcePool: boolean;
}

/** nginx as an HTTP reverse proxy (L7) in kb, upstream keep-alive on. */
export function nginxL7Conf(net: CompareNet, o: ProxyOptions): string {
  const servers = net.reals.map((r) => `server ${r.ip}:${HTTP_PORT};`).join(" ");
  return `
worker_processes ${o.workers};
worker_rlimit_nofile ${hardFdLimit()};
pid ${net.dir}/l7.pid;
error_log stderr error;
events { worker_connections ${workerConnections()}; multi_accept on; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  client_body_temp_path ${net.dir}/l7-body;
  proxy_temp_path ${net.dir}/l7-proxy;
  fastcgi_temp_path ${net.dir}/l7-fcgi;
  uwsgi_temp_path ${net.dir}/l7-uwsgi;
  scgi_temp_path ${net.dir}/l7-scgi;
  upstream be { ${servers} keepalive 256; }
  ${o.sourcePool ? proxySourceSplit() : ""}
  client_header_timeout 600s;
  server {
    listen ${VIP}:${HTTP_PORT} reuseport backlog=65535;
    location / {
      proxy_pass http://be;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering on;
      ${o.sourcePool ? "proxy_bind $lbsrc;" : ""}
    }
  }
}
`;
}

/** nginx `stream` (an L4 proxy that still terminates TCP). */
export function nginxStreamConf(net: CompareNet, o: ProxyOptions): string {
  const servers = net.reals.map((r) => `server ${r.ip}:${HTTP_PORT};`).join(" ");
  return `
load_module ${STREAM_MODULE};
worker_processes ${o.workers};
worker_rlimit_nofile ${hardFdLimit()};
pid ${net.dir}/stream.pid;
error_log stderr error;
events { worker_connections ${workerConnections()}; multi_accept on; }
stream {
  upstream be { ${servers} }
  upstream bulk { server ${net.reals[0].ip}:${IPERF_PORT}; }
  ${o.sourcePool ? proxySourceSplit() : ""}
  proxy_timeout 600s;
  server {
    listen ${VIP}:${HTTP_PORT} reuseport backlog=65535;
    proxy_pass be;
    ${o.sourcePool ? "proxy_bind $lbsrc;" : ""}
  }
  server { listen ${VIP}:${IPERF_PORT}; proxy_pass bulk; }
}
`;
}

/**
 * haproxy `mode tcp`, one thread. `maxconn` must fit the process's file-descriptor hard limit
 * (two descriptors per proxied connection), which haproxy cannot raise without
 * CAP_SYS_RESOURCE: it refuses to start otherwise.
 */
export function haproxyConf(net: CompareNet, fdLimit: number): string {
  const servers = net.reals.map((r) => `  server ${r.name} ${r.ip}:${HTTP_PORT}`).join("\n");
  return `
global
  maxconn ${Math.floor((fdLimit - 100) / 2)}
  nbthread 1
  log stderr format raw local0 emerg
defaults
  mode tcp
  timeout connect 5s
  timeout client 600s
  timeout server 600s
frontend web
  bind ${VIP}:${HTTP_PORT}
  default_backend web
backend web
  balance roundrobin
${servers}
frontend bulk
  bind ${VIP}:${IPERF_PORT}
  default_backend bulk
backend bulk
  server r1 ${net.reals[0].ip}:${IPERF_PORT}
`;
}
