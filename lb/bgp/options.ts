/**
 * `--bgp PEER_IP[,as=N][,local-as=N][,bfd]` (and the config file's `"bgp"`): the router this
 * instance announces its VIPs to. Pure parsing and validation; every problem is a reason string.
 *
 * The peer must be on the link of the instance's `--ip`: the session is a directly connected
 * eBGP one (RFC 4271) and BFD is single hop (RFC 5881), so the router is one hop away.
 *
 * @module
 */
import { formatIpv4, parseIpv4, prefixMask } from "../../stack/wire/address.ts";

/** The peer's AS when `as=` is not given (a private AS, RFC 6996). */
export const DEFAULT_PEER_AS = 65000;
/** The instance's own AS when `local-as=` is not given (a private AS, RFC 6996). */
export const DEFAULT_LOCAL_AS = 65001;

/** One BGP neighbour of the instance. */
export interface BgpOptions {
  /** The router's address (u32). */
  peer: number;
  /** The router's AS (`as=`). */
  peerAs: number;
  /** This instance's AS (`local-as=`). */
  localAs: number;
  /** Run BFD (RFC 5880/5881) on the session. */
  bfd: boolean;
}

/** An AS number (RFC 6793: four octets; 0 and 4294967295 are reserved, RFC 7607, RFC 7300). */
function asNumber(text: string, what: string): number | string {
  if (!/^[0-9]{1,10}$/.test(text)) return `${what}="${text}" is not an AS number`;
  const n = Number(text);
  if (n < 1 || n > 4294967294) return `${what}=${n} is outside 1..4294967294`;
  return n;
}

/** Parses `PEER_IP[,as=N][,local-as=N][,bfd]`; a reason string on bad input. */
export function parseBgpSpec(text: string): BgpOptions | string {
  const [ip, ...rest] = text.split(",");
  const peer = parseIpv4(ip);
  if (peer === null) return `--bgp: "${ip}" is not an IPv4 address`;
  const out: BgpOptions = { peer, peerAs: DEFAULT_PEER_AS, localAs: DEFAULT_LOCAL_AS, bfd: false };
  const seen = new Set<string>();
  for (const part of rest) {
    const [key, value, extra] = part.split("=");
    if (seen.has(key)) return `--bgp: "${key}" given twice`;
    seen.add(key);
    if (key === "bfd" && value === undefined) {
      out.bfd = true;
      continue;
    }
    if ((key === "as" || key === "local-as") && value !== undefined && extra === undefined) {
      const n = asNumber(value, key);
      if (typeof n === "string") return `--bgp: ${n}`;
      if (key === "as") out.peerAs = n;
      else out.localAs = n;
      continue;
    }
    return `--bgp: "${part}" is not as=N, local-as=N or bfd`;
  }
  return out;
}

/** The config file's `"bgp"` value: the same text as the flag, or an object with its fields. */
export function bgpFromJson(value: unknown): BgpOptions | string {
  if (typeof value === "string") return parseBgpSpec(value);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return `"bgp" must be a string like the flag or an object {"peer", "as", "local-as", "bfd"}`;
  }
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!["peer", "as", "local-as", "bfd"].includes(k)) return `"bgp": unknown field "${k}"`;
  }
  if (typeof o.peer !== "string") return `"bgp": "peer" must be an IPv4 address string`;
  const parts = [o.peer];
  for (const k of ["as", "local-as"]) {
    if (o[k] === undefined) continue;
    if (typeof o[k] !== "number") return `"bgp": "${k}" must be a number`;
    parts.push(`${k}=${o[k]}`);
  }
  if (o.bfd !== undefined && typeof o.bfd !== "boolean") {
    return `"bgp": "bfd" must be true or false`;
  }
  if (o.bfd === true) parts.push("bfd");
  return parseBgpSpec(parts.join(","));
}

/** Checks the peer against the instance's address: on its link, not itself. */
export function checkBgpPeer(bgp: BgpOptions, address: number, prefix: number): string | null {
  const p = formatIpv4(bgp.peer);
  if (bgp.peer === address) return `--bgp: the peer ${p} is this instance's own --ip`;
  const mask = prefixMask(prefix);
  if (((bgp.peer & mask) >>> 0) !== ((address & mask) >>> 0)) {
    return `--bgp: the peer ${p} is not on the link of --ip ${formatIpv4(address)}/${prefix} ` +
      `(the session is directly connected and BFD single hop)`;
  }
  return null;
}

/** `PEER_IP,as=N,local-as=N[,bfd]`: the spec back as text (for `save` and the logs). */
export function formatBgpSpec(b: BgpOptions): string {
  return `${formatIpv4(b.peer)},as=${b.peerAs},local-as=${b.localAs}${b.bfd ? ",bfd" : ""}`;
}

/** Why `--bgp` and NAT do not mix, for `what` (a service). */
export function natRefusal(what: string): string {
  return `--bgp cannot announce NAT service ${what}: a NAT real server's replies must return ` +
    `through the instance that translated them, and ECMP does not keep a flow on one instance ` +
    `(use dr or tun real servers, which every instance can serve alike with mh)`;
}
