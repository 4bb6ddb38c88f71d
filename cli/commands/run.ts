/**
 * `lb.ts run --tap NAME --ip ADDR/PREFIX [--gateway IP] --service tcp:VIP:PORT --scheduler NAME
 * --method dr|nat|tun --real IP[:PORT][,weight=N] ... [--max-conns N] [--timeout-tcp S]
 * [--timeout-tcpfin S] [--timeout-udp S] [--check tcp|http[:PATH[:STATUS]] [--check-interval S]
 * [--check-timeout S] [--rise N] [--fall N]] [--log-format json|plain] [--no-offload]`: the
 * load balancer on a TAP until SIGINT/SIGTERM. The TAP is opened with virtio-net headers unless
 * `--no-offload`, so TCP super-frames (64 KB) are forwarded whole in DR and NAT and segmented in
 * software for TUN (stack/link/offload.ts; cli/host_flags.ts says why it is the default). The
 * health-check flags before any `--service` are global: they apply to every real server of every
 * TCP service (lb/health/); inside a `--service` group they override the global ones for that
 * service. A config file's `"health"` (top level and per service) gives the same settings
 * instead (both at once is a usage error); `save` prints the checks that run.
 *
 * `--bgp PEER_IP[,as=N][,local-as=N][,bfd]` (or the file's `"bgp"`) announces each VIP with a
 * healthy real server to that router over the instance's own BIRD (lb/bgp/speaker.ts); SIGTERM
 * and `lb.ts drain --all` then withdraw first and stop once the router has stopped sending
 * (lb/bgp/drain.ts). NAT services are refused with it: their replies must come back through the
 * instance that translated them, which ECMP does not promise.
 *
 * `--metrics ADDR:PORT` serves Prometheus's `/metrics`, and on the same address the read-only
 * status page `/` and its `/status.json` (cli/metrics_server.ts, lb/status.ts).
 *
 * Each `--service` starts a group; the `--scheduler`, `--method` and `--real` flags after it
 * belong to it (lb/config.ts), so the flags are parsed with `tokens: true` to keep their order.
 * Everything is validated before anything is opened: bad input is one line and exit code 2.
 * `--config FILE` (lb/config_file.ts; needs `--allow-read=FILE`) replaces the balancer flags;
 * `lb.ts reload` or SIGHUP re-reads it and applies it as a diff (an invalid file is refused and
 * the running configuration kept). The admin verbs (cli/commands/lb_admin.ts) change the
 * running balancer through the `lb.admin`, `lb.save` and `lb.reload` control commands.
 * A running balancer answers `lb.ts list`, `list --stats` and `conns` (cli/commands/lb_inspect.ts)
 * besides the host's `arp`, `route`, `stats` and `ping`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type Flags, UsageError } from "../args.ts";
import { HOST_FLAG_SPEC, type HostOptions, hostOptions, OFFLOAD_FLAG_SPEC } from "../host_flags.ts";
import { readyLine, runUntilSignal, startInstance } from "../instance.ts";
import { LB_CONNS, LB_DRAIN, LB_LIST } from "./lb_inspect.ts";
import { type BgpOptions, checkBgpPeer, natRefusal, parseBgpSpec } from "../../lb/bgp/options.ts";
import { BgpSpeaker } from "../../lb/bgp/speaker.ts";
import { renderBgpMetrics } from "../../lb/bgp/metrics.ts";
import { DEFAULT_DRAIN_TIMEOUT_MS, drainInstance } from "../../lb/bgp/drain.ts";
import { Balancer } from "../../lb/balancer.ts";
import type { VirtualService } from "../../lb/service.ts";
import {
  BALANCER_FLAGS,
  type BalancerConfig,
  balancerConfigFromFlags,
  buildServices,
  checkAgainstHost,
  ConfigError,
  type FlagOccurrence,
} from "../../lb/config.ts";
import { formatAddressPort } from "../../lb/address.ts";
import { LB_ADMIN, LB_RELOAD, LB_SAVE } from "./lb_admin.ts";
import {
  applyAdmin,
  applyConfig,
  checkAdminAgainstHost,
  checkAdminOp,
  runningConfig,
} from "../../lb/admin.ts";
import {
  ConfigFileError,
  configToWire,
  type FileConfig,
  formatCheckSpec,
  loadConfigFile,
} from "../../lb/config_file.ts";
import { HEALTH_FLAGS, healthFromOccurrences } from "../../lb/health/flags.ts";
import { type HealthConfig, startHealthChecks } from "../../lb/health/monitor.ts";
import { HealthSettings } from "../../lb/health/settings.ts";
import { formatHealthEvent, healthEventMessage } from "../../lb/health/checker.ts";
import { formatLogLine, RecentEvents } from "../../lb/log.ts";
import { RATE_PERIOD_MS, RateEstimator, rateItems, withRates } from "../../lb/rates.ts";
import { renderMetrics } from "../../lb/metrics.ts";
import { buildStatus, pageParam, StatusHistory } from "../../lb/status.ts";
import { statusPageHtml } from "../status/page.ts";
import {
  type MetricsAddr,
  type MetricsServer,
  parseMetricsAddr,
  startMetricsServer,
} from "../metrics_server.ts";

const SPEC = {
  ...HOST_FLAG_SPEC,
  ...OFFLOAD_FLAG_SPEC,
  service: { type: "string", multiple: true },
  scheduler: { type: "string", multiple: true },
  method: { type: "string", multiple: true },
  real: { type: "string", multiple: true },
  "max-conns": { type: "string" },
  "timeout-tcp": { type: "string" },
  "timeout-tcpfin": { type: "string" },
  "timeout-udp": { type: "string" },
  // Repeatable: global before any --service, per service inside a group (lb/health/flags.ts).
  check: { type: "string", multiple: true },
  "check-interval": { type: "string", multiple: true },
  "check-timeout": { type: "string", multiple: true },
  rise: { type: "string", multiple: true },
  fall: { type: "string", multiple: true },
  "log-format": { type: "string" },
  metrics: { type: "string" },
  config: { type: "string" },
  bgp: { type: "string" },
} as const;

const BALANCER_FLAG_SET: ReadonlySet<string> = new Set(BALANCER_FLAGS);
const HEALTH_FLAG_SET: ReadonlySet<string> = new Set(HEALTH_FLAGS);

/** The validated command line of `lb.ts run`; every problem is a UsageError. */
export function parseRunArgs(
  args: string[],
): {
  host: HostOptions;
  config: BalancerConfig;
  /** The global health check (flags before any `--service`), or null. */
  health: HealthConfig | null;
  /** Services' own checks, by index in `config.services`. */
  serviceHealth: Map<number, HealthConfig>;
  logFormat: "json" | "plain";
  configFile?: string;
  /** `--metrics ADDR:PORT`, or null. */
  metrics: MetricsAddr | null;
  /** `--bgp`, or null (the config file may still give one). */
  bgp: BgpOptions | null;
} {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: SPEC,
      strict: true,
      allowPositionals: false,
      tokens: true,
    });
  } catch (e) {
    // node's messages go on ("... To specify a positional argument ..."): keep the first sentence.
    throw new UsageError(`run: ${e instanceof Error ? e.message.split(". ")[0] : e}`);
  }
  const host = hostOptions("run", parsed.values as Flags);
  const healthFlags: FlagOccurrence[] = [];
  const logFormat = parsed.values["log-format"] ?? "plain";
  if (logFormat !== "json" && logFormat !== "plain") {
    throw new UsageError(`run: --log-format ${JSON.stringify(logFormat)}: expected json or plain`);
  }
  const metricsText = parsed.values.metrics;
  const metrics = metricsText === undefined ? null : parseMetricsAddr(metricsText);
  if (typeof metrics === "string") throw new UsageError(`run: ${metrics}`);
  const bgpText = parsed.values.bgp;
  const bgp = bgpText === undefined ? null : parseBgpSpec(bgpText);
  if (typeof bgp === "string") throw new UsageError(`run: ${bgp}`);
  if (bgp !== null) {
    const bad = checkBgpPeer(bgp, host.address, host.prefix);
    if (bad !== null) throw new UsageError(`run: ${bad}`);
  }
  const occurrences: FlagOccurrence[] = [];
  for (const t of parsed.tokens) {
    if (t.kind !== "option") continue;
    const balancer = BALANCER_FLAG_SET.has(t.name);
    if (!balancer && !HEALTH_FLAG_SET.has(t.name)) continue;
    if (t.value === undefined) throw new UsageError(`run: --${t.name} needs a value`);
    if (balancer) occurrences.push({ name: t.name, value: t.value });
    // The health flags and the group starts, in order: a check belongs to its --service.
    if (!balancer || t.name === "service") healthFlags.push({ name: t.name, value: t.value });
  }
  const hf = healthFromOccurrences(healthFlags);
  if (typeof hf === "string") throw new UsageError(`run: ${hf}`);
  const health = hf.global;
  const serviceHealth = hf.services;
  const configFile = (parsed.values as Flags).config;
  if (typeof configFile === "string") {
    if (occurrences.length > 0) {
      throw new UsageError(
        `run: --config replaces --${occurrences[0].name} (give one or the other)`,
      );
    }
    return {
      host,
      config: { services: [], timeouts: {} },
      health,
      serviceHealth,
      logFormat,
      configFile,
      metrics,
      bgp,
    };
  }
  try {
    const config = balancerConfigFromFlags(occurrences);
    checkAgainstHost(config, host);
    if (bgp !== null) {
      const nat = config.services.find((s) => s.method === "nat");
      if (nat !== undefined) {
        throw new UsageError(`run: ${natRefusal(`${formatAddressPort(nat.vip, nat.port)}`)}`);
      }
    }
    return { host, config, health, serviceHealth, logFormat, metrics, bgp };
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`run: ${e.message}`);
    throw e;
  }
}

/**
 * Reads and validates a config file, including the host checks of lb/config.ts (a DR real server
 * on the link...). Every problem is a ConfigFileError naming the file.
 */
export async function loadRunConfig(file: string, host: HostOptions): Promise<FileConfig> {
  const fc = await loadConfigFile(file);
  // checkAgainstHost checks per service method; the file has a method per real: one service each.
  const split: BalancerConfig = {
    services: fc.services.flatMap((s) =>
      s.reals.map((r) => ({ ...s, method: r.method, reals: [r] }))
    ),
    timeouts: {},
  };
  try {
    checkAgainstHost(split, host);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigFileError(`${file}: ${e.message}`);
    throw e;
  }
  return fc;
}

/** One line per service: what the balancer does, for the operator and the test logs. */
function describe(config: BalancerConfig): string[] {
  return config.services.map((s) =>
    `lb.ts: service ${s.protocol} ${formatAddressPort(s.vip, s.port)} ${s.scheduler} ` +
    `${s.method} -> ` +
    s.reals.map((r) => `${formatAddressPort(r.address, r.port || s.port)} w${r.weight}`).join(", ")
  );
}

/** True when the file configures any health check (top level or a service's own). */
function fileHasHealth(fc: FileConfig): boolean {
  return fc.health !== undefined || fc.services.some((s) => s.health !== undefined);
}

/** Runs `lb.ts run`; returns the exit code. */
export async function runCommand(args: string[]): Promise<number> {
  const { host, config, health, serviceHealth, logFormat, configFile, metrics, bgp: bgpFlag } =
    parseRunArgs(args);
  let fileConfig: FileConfig | undefined;
  if (configFile !== undefined) {
    try {
      fileConfig = await loadRunConfig(configFile, host);
    } catch (e) {
      if (e instanceof ConfigFileError) throw new UsageError(`run: ${e.message}`);
      throw e;
    }
  }
  if (bgpFlag !== null && fileConfig?.bgp !== undefined) {
    throw new UsageError(`run: --bgp and "bgp" in ${configFile} (give one or the other)`);
  }
  const bgp = bgpFlag ?? fileConfig?.bgp ?? null;
  if (bgp !== null && fileConfig !== undefined) {
    const bad = checkBgpPeer(bgp, host.address, host.prefix);
    if (bad !== null) throw new UsageError(`run: ${configFile}: ${bad}`);
    const nat = fileConfig.services.find((s) => s.reals.some((r) => r.method === "nat"));
    if (nat !== undefined) {
      throw new UsageError(
        `run: ${configFile}: ${natRefusal(`${formatAddressPort(nat.vip, nat.port)}`)}`,
      );
    }
  }
  // Health checks from the flags or from the file (never both: one would be ignored).
  const flagHealth = health !== null || serviceHealth.size > 0;
  if (flagHealth && fileConfig !== undefined && fileHasHealth(fileConfig)) {
    throw new UsageError(`run: --check and "health" in ${configFile} (give one or the other)`);
  }
  const checks = new HealthSettings(
    health,
    [...serviceHealth].map(([i, h]) => [config.services[i], h]),
  );
  if (fileConfig !== undefined) checks.applyFile(fileConfig);
  // The recent events for the status page, and the log on stderr.
  const recent = new RecentEvents();
  const log = (event: string, message: string, fields?: Record<string, unknown>) => {
    recent.add(event, message);
    console.error(formatLogLine(logFormat, event, message, fields));
  };
  const inst = startInstance(host);
  const balancer = new Balancer(inst.stack, {
    maxConns: fileConfig?.maxConns ?? config.maxConns,
    timeouts: fileConfig?.timeouts ?? config.timeouts,
    // Packet-path state changes (no real server left, and back): one line each.
    onEvent: log,
  });
  for (const service of buildServices(config)) balancer.addService(service);
  if (fileConfig !== undefined) applyConfig(balancer, fileConfig);
  balancer.attach();
  inst.handle(LB_ADMIN, (req) => {
    const op = checkAdminOp(req.change);
    if (
      bgp !== null && (op.op === "add-server" || op.op === "edit-server") && op.method === "nat"
    ) {
      throw new Error(natRefusal(`${formatAddressPort(op.service.vip, op.service.port)}`));
    }
    // The host checks --config runs (a DR server on the link...), before anything changes.
    checkAdminAgainstHost(balancer, op, host);
    const done = applyAdmin(balancer, op);
    log("config", done, { change: op });
    return done;
  });
  inst.handle(LB_SAVE, () => ({
    ...configToWire(runningConfig(balancer, checks.global, (s) => checks.ownOf(s))),
    ...(bgp !== null ? { bgp } : {}),
  }));
  // One monitor for the whole run: it follows `checks` (and the services) on every tick. State
  // changes go to stderr, one line each (a JSON object with --log-format json).
  const monitor = startHealthChecks(balancer, (s) => checks.configOf(s), (event) => {
    const at = new Date();
    recent.add("health", healthEventMessage(event), at);
    console.error(formatHealthEvent(event, logFormat, at));
  });
  const reload = async (): Promise<string[]> => {
    if (configFile === undefined) throw new Error("this instance was not started with --config");
    // Validated completely before anything changes: an invalid file leaves the old config.
    let next;
    try {
      next = await loadRunConfig(configFile, host);
    } catch (e) {
      log("reload_refused", e instanceof Error ? e.message : String(e), { file: configFile });
      throw e;
    }
    if (bgp !== null && next.services.some((s) => s.reals.some((r) => r.method === "nat"))) {
      const msg = `${configFile}: ${natRefusal("a service")}`;
      log("reload_refused", msg, { file: configFile });
      throw new Error(msg);
    }
    if (JSON.stringify(next.bgp) !== JSON.stringify(fileConfig?.bgp)) {
      const msg = `${configFile}: "bgp" changed (it is read at start only: restart the instance)`;
      log("reload_refused", msg, { file: configFile });
      throw new Error(msg);
    }
    if (flagHealth && fileHasHealth(next)) {
      const msg = `${configFile}: "health" while --check flags are given (give one or the other)`;
      log("reload_refused", msg, { file: configFile });
      throw new Error(msg);
    }
    const changes = applyConfig(balancer, next);
    // Health checks from the file follow the file; flag-given ones stay as they are.
    if (!flagHealth) changes.push(...checks.applyFile(next));
    log("reloaded", `${configFile}: ${changes.length} change(s)`, { file: configFile, changes });
    return changes;
  };
  inst.handle(LB_RELOAD, () => reload());
  const onHup = () => {
    // Both outcomes are logged by reload() itself.
    reload().catch(() => {});
  };
  if (configFile !== undefined) Deno.addSignalListener("SIGHUP", onHup);
  // ipvsadm --rate: the kernel estimator's 2 s EWMA, sampled on the tick (lb/rates.ts); each
  // sample is also kept for the status page's charts (lb/status.ts).
  const rates = new RateEstimator(inst.stack.clock);
  const history = new StatusHistory(RATE_PERIOD_MS);
  inst.stack.onTick(() => {
    if (rates.maybeSample(rateItems(balancer.services.list()))) {
      history.record(balancer.services.list(), rates);
    }
  });
  // --bgp: the instance's own BIRD, confined and supervised (lb/bgp/speaker.ts).
  let speaker: BgpSpeaker | null = null;
  if (bgp !== null) {
    try {
      speaker = await BgpSpeaker.start({
        stack: inst.stack,
        prefix: host.prefix,
        bgp,
        runDir: bgpRunDir(host.control),
        snapshot: () => balancer.snapshot(),
        log,
      });
    } catch (e) {
      monitor.stop();
      inst.close();
      await inst.done.catch(() => {});
      throw e;
    }
  }
  inst.handle(LB_LIST, () => {
    const snap = withRates(balancer.snapshot(), balancer.services.list(), rates);
    return speaker === null ? snap : { ...snap, bgp: speaker.status() };
  });
  let metricsServer: MetricsServer | null = null;
  if (metrics !== null) {
    const status = (query: URLSearchParams) => {
      // UDP services are never checked, whatever the global setting says.
      const check = (s: VirtualService) => {
        const c = s.protocol === "tcp" ? checks.configOf(s) : null;
        return c === null ? null : formatCheckSpec(c.check);
      };
      return buildStatus({
        snapshot: balancer.snapshot(),
        services: balancer.services.list(),
        estimator: rates,
        history,
        stackCounters: inst.stack.counters.snapshot(),
        events: recent.list(),
        checkOf: check,
        now: Date.now(),
      }, pageParam(query.get("page")));
    };
    const page = statusPageHtml();
    try {
      metricsServer = startMetricsServer(metrics, {
        metrics: () =>
          renderMetrics(balancer.snapshot(), inst.stack.counters.snapshot()) +
          (speaker === null ? "" : renderBgpMetrics(speaker.status())),
        page: () => page,
        status,
      });
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
        throw new Error(
          `--metrics needs --allow-net=${metrics.hostname}:${metrics.port} (deno run ...)`,
        );
      }
      throw e;
    }
    console.log(`lb.ts: metrics on http://${metrics.hostname}:${metricsServer.addr.port}/metrics`);
    console.log(`lb.ts: status page on http://${metrics.hostname}:${metricsServer.addr.port}/`);
  }
  inst.handle(LB_CONNS, (req) => {
    const limit = req.limit;
    return balancer.connections(
      typeof limit === "number" && Number.isInteger(limit) && limit > 0 ? limit : undefined,
    );
  });
  for (const line of describe(config)) console.log(line);
  if (fileConfig !== undefined) {
    console.log(`lb.ts: config ${configFile}: ${fileConfig.services.length} service(s)`);
  }
  console.log(readyLine("balancer", host, inst));
  // A graceful stop: withdraw, wait for the router to stop sending, then close (lb/bgp/drain.ts).
  let draining: Promise<void> | null = null;
  const drain = (timeoutMs: number): Promise<void> => {
    draining ??= drainInstance({
      withdraw: speaker === null ? null : () => speaker!.withdrawAll(),
      snapshot: () => balancer.snapshot(),
      log,
      timeoutMs,
    }).finally(async () => {
      // The session ends before the stack it runs on.
      await speaker?.close();
      inst.close();
    });
    return draining;
  };
  inst.handle(LB_DRAIN, (req) => {
    const t = req.timeoutMs;
    drain(typeof t === "number" && t > 0 ? t : DEFAULT_DRAIN_TIMEOUT_MS);
    return { draining: true, bgp: speaker !== null };
  });
  // With --bgp, SIGTERM/SIGINT drain first; a second signal stops at once.
  const onStop = () => {
    if (draining !== null) inst.close();
    else drain(DEFAULT_DRAIN_TIMEOUT_MS);
  };
  if (speaker !== null) {
    Deno.addSignalListener("SIGTERM", onStop);
    Deno.addSignalListener("SIGINT", onStop);
  }
  try {
    if (speaker === null) await runUntilSignal(inst);
    else await inst.done;
  } finally {
    if (speaker !== null) {
      Deno.removeSignalListener("SIGTERM", onStop);
      Deno.removeSignalListener("SIGINT", onStop);
      await speaker.close();
    }
    monitor.stop();
    if (configFile !== undefined) Deno.removeSignalListener("SIGHUP", onHup);
    await metricsServer?.shutdown();
  }
  console.log("lb.ts: balancer stopped");
  return 0;
}

/**
 * BIRD's directory (config, control socket, pid file, log): next to the instance's control
 * socket, so two instances never share one, and never the system's /run/bird.
 */
export function bgpRunDir(control: string | null): string {
  return control === null ? `/run/lbts-${Deno.pid}.bgp` : `${control}.bgp`;
}
