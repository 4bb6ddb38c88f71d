/**
 * `lb.ts run --metrics ADDR:PORT`: the Prometheus endpoint, `GET /metrics` on the KERNEL network
 * (Deno.serve), not on the userspace stack: a monitoring system scrapes the balancer host as it
 * scrapes any other. Opt-in, so `lb.ts run` needs `--allow-net=ADDR:PORT` only when it is given.
 * The same address serves the status page: `GET /` (cli/status/page.ts) and the document it
 * polls, `GET /status.json` (lb/status.ts; schema docs/status.schema.json). All of it is
 * read-only: GET and HEAD only.
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

/** What the endpoint serves. */
export interface MetricsRoutes {
  /** The Prometheus text for `/metrics`. */
  metrics: () => string;
  /** The status page's HTML for `/`; absent: 404. */
  page?: () => string;
  /** The status document for `/status.json` (given the request's query); absent: 404. */
  status?: (query: URLSearchParams) => unknown;
}

/** Serves `routes` (see {@link MetricsRoutes}); other paths are 404, other methods 405. */
export function startMetricsServer(addr: MetricsAddr, routes: MetricsRoutes): MetricsServer {
  let bound: Deno.NetAddr | null = null;
  const server = Deno.serve({
    hostname: addr.hostname,
    port: addr.port,
    onListen: (a) => bound = a as Deno.NetAddr,
  }, (req) => {
    const url = new URL(req.url);
    let body: () => string;
    let type: string;
    if (url.pathname === "/metrics") {
      body = routes.metrics;
      type = METRICS_CONTENT_TYPE;
    } else if (url.pathname === "/" && routes.page !== undefined) {
      body = routes.page;
      type = "text/html; charset=utf-8";
    } else if (url.pathname === "/status.json" && routes.status !== undefined) {
      const status = routes.status;
      body = () => JSON.stringify(status(url.searchParams));
      type = "application/json";
    } else {
      return new Response("not found\n", { status: 404 });
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    return new Response(req.method === "HEAD" ? null : body(), {
      // The page polls: a cached answer would show stale state.
      headers: { "content-type": type, "cache-control": "no-store" },
    });
  });
  return {
    addr: bound ?? server.addr as Deno.NetAddr,
    shutdown: () => server.shutdown(),
  };
}
