/**
 * `lb.ts run --metrics ADDR:PORT`: the Prometheus endpoint, `GET /metrics` on the KERNEL network
 * (Deno.serve), not on the userspace stack: a monitoring system scrapes the balancer host as it
 * scrapes any other. Opt-in, so `lb.ts run` needs `--allow-net=ADDR:PORT` only when it is given.
 *
 * @module
 */

import { parseIpv4 } from "../stack/wire/address.ts";
import { METRICS_CONTENT_TYPE } from "../lb/metrics.ts";

/** A parsed `--metrics` value. */
export interface MetricsAddr {
  /** IPv4 literal to bind ("0.0.0.0" for every address). */
  hostname: string;
  /** TCP port, 0..65535 (0: the kernel picks one; tests use it). */
  port: number;
}

/** Parses `ADDR:PORT` (IPv4 literal and port); a reason string on bad input. */
export function parseMetricsAddr(text: string): MetricsAddr | string {
  const i = text.lastIndexOf(":");
  const host = i < 0 ? "" : text.slice(0, i);
  const portText = i < 0 ? "" : text.slice(i + 1);
  if (parseIpv4(host) === null) {
    return `--metrics ${JSON.stringify(text)}: expected IPV4:PORT, e.g. 127.0.0.1:9100`;
  }
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) {
    return `--metrics ${JSON.stringify(text)}: port is not an integer in 0..65535`;
  }
  return { hostname: host, port: Number(portText) };
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The bound address (the real port when 0 was asked). */
  readonly addr: Deno.NetAddr;
  /** Stops listening. */
  shutdown(): Promise<void>;
}

/** Serves `render()` at `GET /metrics`; other paths are 404, other methods 405. */
export function startMetricsServer(addr: MetricsAddr, render: () => string): MetricsServer {
  let bound: Deno.NetAddr | null = null;
  const server = Deno.serve({
    hostname: addr.hostname,
    port: addr.port,
    onListen: (a) => bound = a as Deno.NetAddr,
  }, (req) => {
    const url = new URL(req.url);
    if (url.pathname !== "/metrics") return new Response("not found\n", { status: 404 });
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    return new Response(req.method === "HEAD" ? null : render(), {
      headers: { "content-type": METRICS_CONTENT_TYPE },
    });
  });
  return {
    addr: bound ?? server.addr as Deno.NetAddr,
    shutdown: () => server.shutdown(),
  };
}
