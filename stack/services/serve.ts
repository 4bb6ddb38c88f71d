/**
 * Starting built-in services from specs such as `http:80` or `echo:7` (the `--serve SPEC` flag of
 * `lb.ts stack`) on anything that listens like Deno: the userspace {@link Stack}, or Deno itself
 * (`{ listen: Deno.listen }`).
 *
 * @module
 */

import {
  type AnyAddr,
  type DatagramSocketLike,
  type Service,
  type ServiceConn,
  type ServiceListener,
} from "./conn.ts";
import { serveEcho, serveUdpEcho } from "./echo.ts";
import { serveDiscard, serveUdpDiscard } from "./discard.ts";
import { serveChargen } from "./chargen.ts";
import { type HttpOptions, serveHttp } from "./http.ts";

/** The built-in services. */
export type ServiceName = "echo" | "discard" | "chargen" | "http";

/** One `--serve` spec: a service on a port, over TCP and/or UDP. */
export interface ServeSpec {
  /** Which service. */
  name: ServiceName;
  /** Its port. */
  port: number;
  /** Served over TCP. */
  tcp: boolean;
  /** Served over UDP. */
  udp: boolean;
}

/** Which transports each service speaks, and the default when the spec names none. */
const TRANSPORTS: Record<ServiceName, { tcp: boolean; udp: boolean; defaultUdp: boolean }> = {
  // RFC 862 and 863 define TCP and UDP variants; both are served unless one is named.
  echo: { tcp: true, udp: true, defaultUdp: true },
  discard: { tcp: true, udp: true, defaultUdp: true },
  // UDP chargen answers a small datagram with a large one (a reflection amplifier): TCP only.
  chargen: { tcp: true, udp: false, defaultUdp: false },
  http: { tcp: true, udp: false, defaultUdp: false },
};

/**
 * Parses `NAME:PORT[/tcp|/udp]` (e.g. `http:80`, `echo:7`, `echo:7/udp`) into a
 * {@link ServeSpec}, or returns a reason string. Echo and discard serve TCP and UDP unless a
 * transport is named; chargen and http are TCP only.
 */
export function parseServeSpec(text: string): ServeSpec | string {
  const m = /^([a-z]+):([0-9]+)(?:\/(tcp|udp))?$/.exec(text);
  const names = Object.keys(TRANSPORTS).join(", ");
  if (m === null) return `"${text}" is not NAME:PORT[/tcp|/udp] (e.g. http:80; services: ${names})`;
  const name = m[1];
  if (!(name in TRANSPORTS)) return `unknown service "${name}" (known: ${names})`;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return `port ${m[2]} of "${text}" is not in 1..65535`;
  }
  const t = TRANSPORTS[name as ServiceName];
  const proto = m[3];
  if (proto === "udp" && !t.udp) return `${name} is served over TCP only`;
  return {
    name: name as ServiceName,
    port,
    tcp: proto !== "udp",
    udp: proto === "udp" || (proto === undefined && t.defaultUdp),
  };
}

/** Why `specs` clash (the same port and transport twice), or null. */
export function checkServeSpecs(specs: ServeSpec[]): string | null {
  const used = new Map<string, ServiceName>();
  for (const s of specs) {
    for (const [on, proto] of [[s.tcp, "tcp"], [s.udp, "udp"]] as const) {
      if (!on) continue;
      const key = `${s.port}/${proto}`;
      const other = used.get(key);
      if (other !== undefined) return `${s.name} and ${other} both want port ${key}`;
      used.set(key, s.name);
    }
  }
  return null;
}

/** `echo:7/tcp+udp`-style label of a spec. */
export function formatServeSpec(s: ServeSpec): string {
  const protos = [s.tcp ? "tcp" : "", s.udp ? "udp" : ""].filter((p) => p !== "").join("+");
  return `${s.name}:${s.port}/${protos}`;
}

/** An IP endpoint (`Deno.NetAddr`'s shape). */
export interface IpAddr extends AnyAddr {
  /** The IP address. */
  readonly hostname: string;
  /** The port. */
  readonly port: number;
}

/** Anything that listens like Deno: the userspace Stack, or `{ listen: Deno.listen }`. */
export interface ServiceHost {
  /** Listens for stream connections, as `Deno.listen`. */
  listen(options: { port: number; hostname?: string }): ServiceListener<ServiceConn>;
  /** Binds a datagram socket, as `Deno.listenDatagram` (services over UDP need it). */
  listenDatagram?(
    options: { port: number; hostname?: string; transport: "udp" },
  ): DatagramSocketLike<IpAddr>;
}

/** Options of {@link startServices}. */
export interface StartServicesOptions extends HttpOptions {
  /** Address to bind (default every address, "0.0.0.0"). */
  hostname?: string;

  /** Called with errors that are not disconnects (default: ignored). */
  onError?: (service: string, e: unknown) => void;
}

/** Services started together; `close()` stops them all. */
export interface RunningServices {
  /** The services, in the order of their specs. */
  readonly services: Service[];
  /** Stops every service. Idempotent. */
  close(): void;
  /** Resolves when every service has stopped. */
  readonly done: Promise<void>;
}

/**
 * Starts every spec on `host`. If one cannot bind (the port is taken), the ones already started
 * are closed again and the error is thrown.
 */
export function startServices(
  host: ServiceHost,
  specs: ServeSpec[],
  options: StartServicesOptions = {},
): RunningServices {
  const clash = checkServeSpecs(specs);
  if (clash !== null) throw new RangeError(clash);
  const services: Service[] = [];
  const hostname = options.hostname;
  try {
    for (const s of specs) {
      const onError = options.onError === undefined
        ? undefined
        : (e: unknown) => options.onError!(s.name, e);
      if (s.tcp) {
        if (typeof host.listen !== "function") {
          throw new TypeError(`${s.name}:${s.port}/tcp: this host has no TCP sockets`);
        }
        const l = host.listen({ port: s.port, hostname });
        if (s.name === "echo") services.push(serveEcho(l, onError));
        else if (s.name === "discard") services.push(serveDiscard(l, onError));
        else if (s.name === "chargen") services.push(serveChargen(l, onError));
        else services.push(serveHttp(l, options, onError));
      }
      if (s.udp) {
        if (host.listenDatagram === undefined) {
          throw new TypeError(`${s.name}:${s.port}/udp: this host has no UDP sockets`);
        }
        const sock = host.listenDatagram({
          port: s.port,
          hostname,
          transport: "udp",
        });
        if (s.name === "echo") services.push(serveUdpEcho(sock, onError));
        else services.push(serveUdpDiscard(sock, onError));
      }
    }
  } catch (e) {
    for (const s of services) s.close();
    throw e;
  }
  return {
    services,
    close() {
      for (const s of services) s.close();
    },
    done: Promise.all(services.map((s) => s.done)).then(() => {}),
  };
}
