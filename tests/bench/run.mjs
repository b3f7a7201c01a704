// run.mjs - Remora's performance benchmark: starts the sidecars, the nginx reference chain and
// the echo apps on loopback, measures every scenario back to back in one run, stops everything
// by PID, prints one table and writes every figure to a JSON file.
//
// Scenarios: direct (client → app, the floor); remora-grpc (client → sidecar A → sidecar B →
// gRPC app); remora-grpc-obs (the same chain through its own two sidecars with metrics on and
// every request traced, spans exported to a collector sink by the exporters --exporters names:
// OTLP/HTTP alone by default, Zipkin, or both); remora-http (A → B' → HTTP app); nginx
// (nginx A → nginx B → HTTP app, the reference); remora-self (one hop: B invoking its own app
// id); internal-direct (h2load straight to B's internal gRPC API, reported apart, to split A's
// cost from B's); and the unpinned remora-grpc chain with 2 worker threads against 1. Every
// sidecar but remora-grpc-obs's runs with metrics off and no tracing exporter.
//
// Method, and why:
//   * Pinning. Both sidecars (or both nginx) run on CPU 0; the load generator and the backend
//     app on CPU 1. The proxies under test then have a core to themselves and never compete
//     with the client for it, so their cost is what CPU 0 does.
//   * CPU 1 check. /proc/stat is read around every pinned load run (busy = elapsed − idle; see
//     utilisation() in lib/procs.mjs for why); if CPU 1 was busier than 85 % the client side
//     (generator + app) may have been the bottleneck, and the run is marked invalid rather
//     than silently reported as the proxies' limit. The direct path puts everything on CPU 1,
//     so its saturation runs are expected to be marked: they are the floor, not a limit.
//   * Interleaving. Each figure comes from several rounds, and within a round the scenarios
//     are measured one after the other for each measurement (all scenarios for X, then all for
//     Y, ...), alternating their order between rounds, so drift of the machine (other load,
//     thermal, noisy neighbours) spreads over all scenarios instead of biasing one. Figures are
//     the median with min–max over the rounds; latency added over direct is taken within the
//     same round.
//   * Closed and open loop. Throughput (req/s) comes from wrk, a closed-loop generator at 50
//     and 1 connections. Latency comes from loadgen at a constant rate (open loop), which keeps
//     sending on schedule when the server slows down, so queueing shows up; its uncorrected
//     percentiles are the service time, and the corrected p99 is kept as a queueing check.
//   * Cost. CPU seconds per process come from /proc/<pid>/stat (utime + stime) around each run,
//     divided by the requests completed; memory from VmRSS (idle, before any load) and VmHWM
//     (peak, at the end), plus RSS growth over a soak (wrk c50 on remora-grpc, then on nginx;
//     growth from one minute in, or a fifth of a shorter soak, to the end).
//   * Errors. Any failed request (non-2xx, socket error, timeout) marks its run invalid.
//   * CPU 0 utilisation is recorded too, for reference: when it is well above what the
//     sidecars themselves used, something else on the machine was running on their core.
//   * Observability's cost. remora-grpc-obs runs right next to remora-grpc in every
//     measurement of every round, and the ratio of their req/s is taken round by round. Its
//     collector sink (an nginx that discards every POST) runs on CPU 1 with the client, so the
//     sidecars pay for building, encoding and sending the spans, and the sink's reading them
//     is charged to the client side. At the end each of its sidecars' metrics is scraped once
//     for the spans exported and dropped. Its sidecars export to OTLP/HTTP alone, as a
//     deployment sends to one collector, unless --exporters names Zipkin or both.
//
// Usage: node run.mjs --build DIR [--rounds N] [--duration S] [--latency-duration S]
//                     [--soak S] [--quick] [--out FILE] [--only scenario,...]
//                     [--exporters otlp|zipkin|otlp,zipkin]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import {
  clockTicks, cpuJiffies, cpuTimes, findExecutable, freePort, httpRequest, memory, resetPeak, scratchRun, sleep,
  startProcess, stopAll, tickUtilisation, utilisation, waitForHttp, waitForLine, waitForPort,
} from './lib/procs.mjs';
import { runH2load, runLoadgen, runWrk, wrkScript } from './lib/loads.mjs';
import { CALL_LOCAL_PATH, buildCallLocalBody, checkCallLocal, loadInternalTypes } from './lib/internal_call.mjs';
import { nginxArgs, writeNginxConfig, writeSinkConfig } from './lib/nginx.mjs';
import {
  EXPORTERS, daprdArgs, daprdDigest, exportedKey, exportersLabel, parseExporters, scrapeMetrics, sinkRequests,
  writeObservabilityConfig,
} from './lib/sidecars.mjs';
import {
  OBSERVABILITY_COST_LIMIT_PCT, PEAK_RSS_LIMIT, addedLatency, evaluateTargets, observabilitySummary, ratios, stats,
  summarise,
} from './lib/summary.mjs';
import {
  internalBlock, invalidBlock, multicoreBlock, observabilityBlock, ratioBlock, scenarioTable, soakBlock, targetBlock,
} from './lib/report.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const NODE_MODULES = path.join(REPO, 'tests', 'integration', 'node_modules');

const SIDECAR_CPU = 0;
const CLIENT_CPU = 1;
const CPU1_LIMIT = 0.85;
const BODY = 1024;
const BODY_LARGE = 64 * 1024;
const LOADGEN_CONNECTIONS = 16;
const START_MS = 15000;
// After a run through exporting sidecars: the exporter drains its rings at least every 500 ms,
// so after this the last spans of the run have left and their cost is counted in the run.
const EXPORT_SETTLE_MS = 1500;
const PEAK_SETTLE_MS = 2500;

// HTTP scenarios, in table order; internal-direct and the multi-core pair are measured apart.
// remora-grpc-obs sits next to remora-grpc so that the two always run back to back.
const HTTP_SCENARIOS = ['direct', 'remora-grpc', 'remora-grpc-obs', 'remora-http', 'nginx', 'remora-self'];
const OBS_SCENARIO = 'remora-grpc-obs';
const ALL_SCENARIOS = [...HTTP_SCENARIOS, 'internal-direct', 'multicore', 'soak'];

let interrupted = false;

// ---------------------------------------------------------------------------------------------
// options

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      build: { type: 'string' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      'latency-duration': { type: 'string' },
      soak: { type: 'string' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      only: { type: 'string' },
      exporters: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log('usage: node run.mjs --build DIR [--rounds N] [--duration S] [--latency-duration S]\n' +
      '                   [--soak S] [--quick] [--out FILE] [--only scenario,...]\n' +
      '                   [--exporters otlp|zipkin|otlp,zipkin]');
    console.log(`scenarios: ${ALL_SCENARIOS.join(', ')}`);
    console.log(`exporters of ${OBS_SCENARIO} (default otlp): ${EXPORTERS.join(', ')}, comma-separated`);
    process.exit(0);
  }
  if (!values.build) throw plainError('--build DIR is required (a CMake build directory)');
  const quick = values.quick;
  const num = (name, def) => {
    if (values[name] === undefined) return def;
    const v = Number(values[name]);
    if (!(v > 0)) throw plainError(`--${name} wants a positive number, got ${values[name]}`);
    return v;
  };
  const only = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : ALL_SCENARIOS;
  for (const s of only) {
    if (!ALL_SCENARIOS.includes(s)) throw plainError(`--only: unknown scenario ${s} (known: ${ALL_SCENARIOS.join(', ')})`);
  }
  const o = {
    build: path.resolve(values.build),
    quick,
    rounds: Math.round(num('rounds', quick ? 1 : 3)),
    duration: Math.max(1, Math.round(num('duration', quick ? 1 : 10))), // wrk takes whole seconds
    latencyDuration: num('latency-duration', quick ? 1 : 20),
    soak: Math.max(1, Math.round(num('soak', quick ? 10 : 300))),
    only,
    exporters: parseExporters(values.exporters),
  };
  o.latencyWarmup = quick ? 0.5 : 2;
  o.warmupPass = quick ? 1 : 2;
  o.out = path.resolve(values.out ?? path.join(REPO, 'bench-results', `bench-${utcStamp()}.json`));
  return o;
}

function utcStamp() {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
}

// ---------------------------------------------------------------------------------------------
// environment

/** An error whose message says it all (a missing tool, a bad option): printed without a stack. */
function plainError(message) {
  return Object.assign(new Error(message), { plain: true });
}

function checkTools() {
  const missing = ['wrk', 'nginx', 'h2load', 'taskset', 'getconf'].filter((t) => !findExecutable(t));
  if (missing.length) {
    throw plainError(`missing tools: ${missing.join(', ')}; install them with deploy/install-deps.sh (as root)`);
  }
  if (os.cpus().length < 2) throw plainError('the benchmark pins to CPUs 0 and 1 and needs at least 2 CPUs');
}

function binaries(build) {
  const b = {
    daprd: path.join(build, 'cmd', 'daprd', 'daprd'),
    httpEcho: path.join(build, 'tests', 'bench', 'http_echo'),
    grpcEcho: path.join(build, 'tests', 'bench', 'grpc_echo'),
    loadgen: path.join(build, 'tests', 'bench', 'loadgen'),
    nginx: findExecutable('nginx'),
  };
  for (const [k, p] of Object.entries(b)) {
    if (!p || !fs.existsSync(p)) {
      throw plainError(`${k} not found at ${p}: build the targets daprd http_echo grpc_echo loadgen in ${build}`);
    }
  }
  return b;
}

function tryRun(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10000 }).trim();
  } catch {
    return null;
  }
}

function machineInfo() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  return {
    nproc: os.cpus().length,
    cpu_model: (cpuinfo.match(/^model name\s*:\s*(.*)$/m) ?? [])[1] ?? null,
    kernel: tryRun('uname', ['-r']),
    clk_tck: clockTicks(),
    total_memory_bytes: os.totalmem(),
  };
}

function buildInfo(build) {
  const cache = fs.existsSync(path.join(build, 'CMakeCache.txt')) ? fs.readFileSync(path.join(build, 'CMakeCache.txt'), 'utf8') : '';
  const entry = (k) => (cache.match(new RegExp(`^${k}:[A-Z]+=(.*)$`, 'm')) ?? [])[1] ?? null;
  const type = entry('CMAKE_BUILD_TYPE');
  const compiler = entry('CMAKE_C_COMPILER');
  return {
    dir: build,
    build_type: type,
    c_compiler: compiler,
    c_compiler_version: compiler ? (tryRun(compiler, ['--version']) ?? '').split('\n')[0] : null,
    c_flags: entry('CMAKE_C_FLAGS'),
    c_flags_build_type: type ? entry(`CMAKE_C_FLAGS_${type.toUpperCase()}`) : null,
    sanitize: entry('REMORA_SANITIZE'),
    daprd_sha256: daprdDigest(path.join(build, 'cmd', 'daprd', 'daprd')),
  };
}

// ---------------------------------------------------------------------------------------------
// the system under test

/** Ports for every listener, all picked at run time. */
async function allocatePorts() {
  const names = [
    'httpEcho', 'grpcEcho', 'mcGrpcEcho', 'nginxA', 'nginxB', 'collector',
    ...['A', 'B', 'Bh', 'oA', 'oB', 'mc1A', 'mc1B', 'mc2A', 'mc2B']
      .flatMap((s) => [`${s}http`, `${s}grpc`, `${s}internal`, `${s}metrics`]),
  ];
  const ports = {};
  const seen = new Set();
  for (const n of names) {
    let p;
    do { p = await freePort(); } while (seen.has(p));
    seen.add(p);
    ports[n] = p;
  }
  return ports;
}

/** The ports of one sidecar, by its key in allocatePorts(). */
const sidecarPorts = (ports, key) => ({
  http: ports[`${key}http`], grpc: ports[`${key}grpc`], internal: ports[`${key}internal`], metrics: ports[`${key}metrics`],
});

const APP_IDS = {
  'sidecar-A': 'bench-a', 'sidecar-B': 'bench-b', 'sidecar-Bh': 'bench-bh', 'obs-A': 'bench-obs-a', 'obs-B': 'bench-obs-b',
  'mc1-A': 'bench-mc1-a', 'mc1-B': 'bench-mc1-b', 'mc2-A': 'bench-mc2-a', 'mc2-B': 'bench-mc2-b',
};

/**
 * Starts the apps, the collector sink, the sidecars and the nginx chain; resolves once every
 * one of them serves. obs-A and obs-B (remora-grpc-obs) have metrics and tracing on, every other
 * sidecar has both off.
 */
async function startSystem(bin, ports, tmp, exporters) {
  const procs = {};
  const env = { HOME: path.join(tmp, 'home'), DAPR_HOST_IP: '127.0.0.1' };
  fs.mkdirSync(env.HOME, { recursive: true });

  const sink = writeSinkConfig(tmp, 'collector', ports.collector);
  procs.collector = startProcess({ name: 'collector', bin: bin.nginx, args: nginxArgs(sink), cpu: CLIENT_CPU });
  await waitForPort(procs.collector, ports.collector, START_MS);
  const observability = { config: writeObservabilityConfig(tmp, ports.collector, exporters) };

  procs.http_echo = startProcess({ name: 'http_echo', bin: bin.httpEcho, args: [String(ports.httpEcho)], cpu: CLIENT_CPU });
  procs.grpc_echo = startProcess({ name: 'grpc_echo', bin: bin.grpcEcho, args: [String(ports.grpcEcho)], cpu: CLIENT_CPU });
  procs['mc-grpc_echo'] = startProcess({ name: 'mc-grpc_echo', bin: bin.grpcEcho, args: [String(ports.mcGrpcEcho)] });
  await Promise.all(['http_echo', 'grpc_echo', 'mc-grpc_echo'].map((n) => waitForLine(procs[n], /^listening /, START_MS)));

  const sidecars = [
    ['sidecar-A', 'A', { appPort: ports.httpEcho, appProtocol: 'http', workers: 1 }, SIDECAR_CPU],
    ['sidecar-B', 'B', { appPort: ports.grpcEcho, appProtocol: 'grpc', workers: 1 }, SIDECAR_CPU],
    ['sidecar-Bh', 'Bh', { appPort: ports.httpEcho, appProtocol: 'http', workers: 1 }, SIDECAR_CPU],
    ['obs-A', 'oA', { appPort: ports.httpEcho, appProtocol: 'http', workers: 1, observability }, SIDECAR_CPU],
    ['obs-B', 'oB', { appPort: ports.grpcEcho, appProtocol: 'grpc', workers: 1, observability }, SIDECAR_CPU],
    ['mc1-A', 'mc1A', { appPort: ports.httpEcho, appProtocol: 'http', workers: 1 }, null],
    ['mc1-B', 'mc1B', { appPort: ports.mcGrpcEcho, appProtocol: 'grpc', workers: 1 }, null],
    ['mc2-A', 'mc2A', { appPort: ports.httpEcho, appProtocol: 'http', workers: 2 }, null],
    ['mc2-B', 'mc2B', { appPort: ports.mcGrpcEcho, appProtocol: 'grpc', workers: 2 }, null],
  ];
  for (const [name, key, o, cpu] of sidecars) {
    const args = daprdArgs({ appId: APP_IDS[name], ports: sidecarPorts(ports, key), ...o });
    procs[name] = startProcess({ name, bin: bin.daprd, args, cpu, env });
  }
  await Promise.all(sidecars.map(async ([name, key]) => {
    const base = `http://127.0.0.1:${ports[`${key}http`]}/v1.0`;
    await waitForHttp(procs[name], `${base}/healthz`, 204, START_MS);
    await waitForHttp(procs[name], `${base}/healthz/outbound`, 204, START_MS);
  }));

  const ngxB = writeNginxConfig(tmp, 'nginx-b', ports.nginxB, ports.httpEcho);
  const ngxA = writeNginxConfig(tmp, 'nginx-a', ports.nginxA, ports.nginxB);
  procs['nginx-B'] = startProcess({ name: 'nginx-B', bin: bin.nginx, args: nginxArgs(ngxB), cpu: SIDECAR_CPU });
  procs['nginx-A'] = startProcess({ name: 'nginx-A', bin: bin.nginx, args: nginxArgs(ngxA), cpu: SIDECAR_CPU });
  await Promise.all([waitForPort(procs['nginx-B'], ports.nginxB, START_MS), waitForPort(procs['nginx-A'], ports.nginxA, START_MS)]);
  return procs;
}

/** Each scenario's entry URL and the processes whose cost it measures. */
function scenarioDefinitions(ports) {
  const invoke = (key, target) => `http://127.0.0.1:${ports[`${key}http`]}/v1.0/invoke/${target}/method/echo`;
  return {
    direct: { url: `http://127.0.0.1:${ports.httpEcho}/echo`, procs: ['http_echo'], memory: ['http_echo'] },
    'remora-grpc': {
      url: invoke('A', APP_IDS['sidecar-B']), procs: ['sidecar-A', 'sidecar-B', 'grpc_echo'], memory: ['sidecar-A', 'sidecar-B'],
    },
    'remora-grpc-obs': {
      url: invoke('oA', APP_IDS['obs-B']), procs: ['obs-A', 'obs-B', 'grpc_echo', 'collector'], memory: ['obs-A', 'obs-B'],
      exporters: { 'obs-A': ports.oAmetrics, 'obs-B': ports.oBmetrics },
    },
    'remora-http': {
      url: invoke('A', APP_IDS['sidecar-Bh']), procs: ['sidecar-A', 'sidecar-Bh', 'http_echo'], memory: ['sidecar-A', 'sidecar-Bh'],
    },
    nginx: { url: `http://127.0.0.1:${ports.nginxA}/echo`, procs: ['nginx-A', 'nginx-B', 'http_echo'], memory: ['nginx-A', 'nginx-B'] },
    'remora-self': { url: invoke('B', APP_IDS['sidecar-B']), procs: ['sidecar-B', 'grpc_echo'], memory: ['sidecar-B'] },
    'internal-direct': {
      url: `http://127.0.0.1:${ports.Binternal}${CALL_LOCAL_PATH}`, procs: ['sidecar-B', 'grpc_echo'], memory: ['sidecar-B'],
    },
    'remora-grpc-wt1': { url: invoke('mc1A', APP_IDS['mc1-B']), procs: ['mc1-A', 'mc1-B', 'mc-grpc_echo'], memory: [] },
    'remora-grpc-wt2': { url: invoke('mc2A', APP_IDS['mc2-B']), procs: ['mc2-A', 'mc2-B', 'mc-grpc_echo'], memory: [] },
  };
}

/** One POST through each HTTP scenario, retried for a bounded time: the body must come back. */
async function smokeTest(name, url) {
  const body = Buffer.alloc(BODY, 'x');
  const deadline = Date.now() + START_MS;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const r = await httpRequest(url, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' }, ms: 3000 });
      if (r.status === 200 && r.body.equals(body)) return;
      last = `status ${r.status}, ${r.body.length} bytes: ${r.body.subarray(0, 200).toString()}`;
    } catch (err) {
      last = err.message;
    }
    await sleep(200);
  }
  throw new Error(`${name}: ${url} does not echo a 1 KiB POST (last: ${last})`);
}

// ---------------------------------------------------------------------------------------------
// measuring

/**
 * Runs one load against a scenario: reads the CPU time of its processes and CPU 1's jiffies
 * around it, and turns the generator's result into a run record with its validity.
 */
async function measure(ctx, { scenario, measurement, round, pinned = true, load }) {
  const sc = ctx.scenarios[scenario];
  const procs = sc.procs.map((n) => ctx.procs[n]);
  const spansBefore = sc.exporters ? await spanCounts(sc.exporters) : null;
  const peakWindow = procs.map((p) => resetPeak(p.pid));
  const timesBefore = procs.map((p) => cpuTimes(p.pid));
  const cpu1Before = cpuJiffies(CLIENT_CPU);
  const cpu0Before = cpuJiffies(SIDECAR_CPU);
  const started = Date.now();
  const run = { scenario, measurement, round, started: new Date(started).toISOString(), valid: true, invalid_reasons: [] };
  try {
    Object.assign(run, await load(sc.url));
  } catch (err) {
    run.failed = err.message;
  }
  run.wall_s = (Date.now() - started) / 1000;
  const cpu1After = cpuJiffies(CLIENT_CPU);
  const cpu0After = cpuJiffies(SIDECAR_CPU);
  run.cpu1_util = utilisation(cpu1Before, cpu1After);
  run.cpu0_util = utilisation(cpu0Before, cpu0After);
  run.cpu1_util_tick_sampled = tickUtilisation(cpu1Before, cpu1After);
  if (sc.exporters) await sleep(EXPORT_SETTLE_MS);
  for (const p of procs) {
    if (p.exit) throw new Error(`${p.name} exited during ${scenario} ${measurement}:\n${p.lines.slice(-30).join('\n')}`);
  }
  run.peak_rss = Object.fromEntries(procs.map((p, i) => [p.name, peakWindow[i] ? memory(p.pid).hwm : null]));
  for (const p of procs) ctx.peaks[p.name] = Math.max(ctx.peaks[p.name] ?? 0, memory(p.pid).hwm);
  const tck = clockTicks();
  const times = procs.map((p, i) => {
    const t = cpuTimes(p.pid);
    return { user: (t.user - timesBefore[i].user) / tck, sys: (t.sys - timesBefore[i].sys) / tck };
  });
  const per10k = (s) => (run.requests > 0 ? (s / run.requests) * 10000 : null);
  run.cpu_s = Object.fromEntries(procs.map((p, i) => [p.name, times[i].user + times[i].sys]));
  run.cpu_s_per_10k = Object.fromEntries(Object.entries(run.cpu_s).map(([n, s]) => [n, per10k(s)]));
  // user mode alone: what callgrind's instruction counts can be compared with
  run.cpu_user_s_per_10k = Object.fromEntries(procs.map((p, i) => [p.name, per10k(times[i].user)]));
  if (spansBefore) run.spans = spanDelta(spansBefore, await spanCounts(sc.exporters));
  if (run.failed) run.invalid_reasons.push(`failed: ${run.failed.split('\n')[0]}`);
  if (!(run.requests > 0)) run.invalid_reasons.push('no requests completed');
  if (run.errors > 0) run.invalid_reasons.push(`${run.errors} errors ${JSON.stringify(run.error_detail)}`);
  if (pinned && run.cpu1_util > CPU1_LIMIT) run.invalid_reasons.push(`CPU 1 ${(run.cpu1_util * 100).toFixed(0)} % > ${CPU1_LIMIT * 100} %`);
  run.pinned = pinned;
  run.valid = run.invalid_reasons.length === 0;
  ctx.sent[scenario] = (ctx.sent[scenario] ?? 0) + (run.requests ?? 0);
  ctx.runs.push(run);
  ctx.progress(run);
  return run;
}

/** The span counters of each exporting sidecar ({ name: metrics port }); null where a scrape failed. */
async function spanCounts(exporters) {
  return Object.fromEntries(await Promise.all(Object.entries(exporters).map(async ([name, port]) => {
    try {
      return [name, (await scrapeMetrics(port)).counters];
    } catch {
      return [name, null];
    }
  })));
}

const SPAN_KEYS = ['exported_zipkin', 'exported_otlp', 'dropped_queue_full', 'dropped_export_failed'];

/** The spans one run made each sidecar export and drop: counters after minus before. */
function spanDelta(before, after) {
  return Object.fromEntries(Object.keys(after).map((name) => {
    const a = after[name];
    const b = before[name];
    if (!a || !b) return [name, null];
    return [name, Object.fromEntries(SPAN_KEYS.map((k) => [k, Number.isFinite(a[k]) && Number.isFinite(b[k]) ? a[k] - b[k] : null]))];
  }));
}

/** The HTTP measurements: closed-loop throughputs and open-loop latencies. */
function httpMeasurements(ctx) {
  const o = ctx.opts;
  const wrk = (connections, size) => (url) => runWrk({
    url, connections, durationS: o.duration, script: wrkScript(ctx.tmp, size), cpu: CLIENT_CPU,
  });
  const lat = (rate) => (url) => runLoadgen({
    bin: ctx.bin.loadgen, url, rate, connections: LOADGEN_CONNECTIONS, bodySize: BODY,
    durationS: o.latencyDuration, warmupS: o.latencyWarmup, jsonFile: path.join(ctx.tmp, 'loadgen.json'), cpu: CLIENT_CPU,
  });
  return [
    { id: 'rps_c50', load: wrk(50, BODY) },
    { id: 'rps_c1', load: wrk(1, BODY) },
    { id: 'lat_1000', load: lat(1000) },
    { id: 'lat_5000', load: lat(5000) },
    // last: the 1 KiB runs' peak RSS windows then never start right after the large bodies
    { id: 'rps_c50_64k', load: wrk(50, BODY_LARGE) },
  ];
}

/** internal-direct's two h2load measurements: throughput, and latency at one stream. */
function internalMeasurements(ctx) {
  const o = ctx.opts;
  const h2 = (clients, streams, logged) => (url) => runH2load({
    url, bodyFile: ctx.callLocalBody, clients, streams, durationS: o.duration,
    logFile: logged ? path.join(ctx.tmp, 'h2load.log') : null, cpu: CLIENT_CPU,
  });
  return [
    { id: 'h2_rps', load: h2(4, 16, false) },
    { id: 'h2_lat', load: h2(1, 1, true) },
  ];
}

/** Alternate the order between rounds so no scenario always runs first. */
const ordered = (list, round) => (round % 2 ? list : [...list].reverse());

/** One untimed pass over every scenario, so connections and caches are warm before round 1. */
async function warmUp(ctx) {
  const o = ctx.opts;
  const script = wrkScript(ctx.tmp, BODY);
  const untimed = (what, p) => p.then(
    (r) => {
      ctx.sent[what] = (ctx.sent[what] ?? 0) + r.requests;
      if (r.errors > 0) process.stderr.write(`  warm-up ${what}: ${r.errors} errors\n`);
    },
    (err) => process.stderr.write(`  warm-up ${what}: ${err.message.split('\n')[0]}\n`),
  );
  for (const s of ctx.httpScenarios) {
    await untimed(s, runWrk({ url: ctx.scenarios[s].url, connections: 50, durationS: o.warmupPass, script, cpu: CLIENT_CPU }));
  }
  if (ctx.wants('internal-direct')) {
    await untimed('internal-direct', runH2load({
      url: ctx.scenarios['internal-direct'].url, bodyFile: ctx.callLocalBody, clients: 4, streams: 16,
      durationS: o.warmupPass, cpu: CLIENT_CPU,
    }));
  }
  if (ctx.wants('multicore')) {
    for (const s of ['remora-grpc-wt1', 'remora-grpc-wt2']) {
      await untimed(s, runWrk({ url: ctx.scenarios[s].url, connections: 50, durationS: o.warmupPass, script, cpu: null }));
    }
  }
}

/** One round: each measurement over all scenarios, then internal-direct, then multi-core. */
async function runRound(ctx, round) {
  for (const m of httpMeasurements(ctx)) {
    for (const s of ordered(ctx.httpScenarios, round)) {
      await measure(ctx, { scenario: s, measurement: m.id, round, load: m.load });
    }
  }
  // The sidecars give memory back with malloc_trim once a second: without this pause, with few
  // scenarios, the 64 KiB run's footprint would still be resident when the next round's first
  // 1 KiB run opens its peak window.
  await sleep(PEAK_SETTLE_MS);
  if (ctx.wants('internal-direct')) {
    for (const m of internalMeasurements(ctx)) {
      await measure(ctx, { scenario: 'internal-direct', measurement: m.id, round, load: m.load });
    }
  }
  if (ctx.wants('multicore')) {
    const script = wrkScript(ctx.tmp, BODY);
    for (const s of ordered(['remora-grpc-wt1', 'remora-grpc-wt2'], round)) {
      await measure(ctx, {
        scenario: s, measurement: 'rps_c50_unpinned', round, pinned: false,
        load: (url) => runWrk({ url, connections: 50, durationS: ctx.opts.duration, script, cpu: null }),
      });
    }
  }
}

/**
 * Soak: wrk c50 for the soak duration against a chain, sampling its proxies' VmRSS; growth is
 * measured from t1 (one minute in, or a fifth of a shorter soak) to the end.
 */
async function soak(ctx, scenario) {
  const sc = ctx.scenarios[scenario];
  const duration = ctx.opts.soak;
  const t1 = Math.min(60, duration / 5);
  const samples = [];
  const start = Date.now();
  const sample = () => samples.push({
    t_s: (Date.now() - start) / 1000,
    rss: Object.fromEntries(sc.memory.map((n) => [n, memory(ctx.procs[n].pid).rss])),
  });
  let atT1 = null;
  let sampler;
  const run = measure(ctx, {
    scenario, measurement: 'soak', round: 0,
    load: async (url) => {
      const interval = Math.max(1, duration / 20) * 1000;
      sampler = setInterval(sample, interval);
      const t1Timer = setTimeout(() => { sample(); atT1 = samples[samples.length - 1]; }, t1 * 1000);
      try {
        return await runWrk({ url, connections: 50, durationS: duration, script: wrkScript(ctx.tmp, BODY), cpu: CLIENT_CPU });
      } finally {
        clearInterval(sampler);
        clearTimeout(t1Timer);
      }
    },
  });
  const r = await run;
  sample();
  const end = samples[samples.length - 1];
  atT1 ??= samples[0];
  const processes = Object.fromEntries(sc.memory.map((n) => [n, {
    rss_at_t1: atT1.rss[n], rss_end: end.rss[n],
    growth_pct: ((end.rss[n] - atT1.rss[n]) / atT1.rss[n]) * 100,
  }]));
  return {
    scenario, duration_s: duration, t1_s: t1, rps: r.figures?.rps ?? null, requests: r.requests ?? 0,
    errors: r.errors ?? null, valid: r.valid, processes, samples,
  };
}

/**
 * What remora-grpc-obs's sidecars say they exported and dropped: one scrape of each one's
 * metrics at the end of the run. Spans leave in batches from each sidecar's main loop, so the
 * scrape is repeated once a second (at most 5 times) until the exported counts stop moving.
 * Also checks that the plain sidecars really run with metrics off (their metrics port refuses
 * connections), and reads how many batches the sink answered.
 */
async function exportFigures(ctx) {
  const { exporters } = ctx.scenarios[OBS_SCENARIO];
  const read = async () => Object.fromEntries(await Promise.all(Object.entries(exporters).map(async ([name, port]) => {
    try {
      return [name, await scrapeMetrics(port)];
    } catch (err) {
      return [name, { status: null, counters: null, error: err.message }];
    }
  })));
  const exportedOf = (r) => Object.values(r).map((x) => `${x.counters?.exported_zipkin}/${x.counters?.exported_otlp}`).join(' ');
  let last = await read();
  for (let i = 0; i < 5; i++) {
    await sleep(1000);
    const next = await read();
    const settled = exportedOf(next) === exportedOf(last);
    last = next;
    if (settled) break;
  }
  // Spans per request from the first chosen exporter: every exporter is sent the same spans.
  const sent = ctx.sent[OBS_SCENARIO] ?? 0;
  const key = exportedKey(ctx.opts.exporters[0]);
  for (const s of Object.values(last)) {
    const n = s.counters?.[key];
    s.spans_per_request = sent > 0 && Number.isFinite(n) ? n / sent : null;
  }
  let plainMetrics;
  try {
    const r = await scrapeMetrics(ctx.ports.Ametrics);
    plainMetrics = `ON (answered ${r.status})`;
  } catch (err) {
    plainMetrics = /ECONNREFUSED/.test(err.message) ? 'off (connection refused)' : `unknown (${err.message})`;
  }
  return { sidecars: last, requests_sent: sent, sink_requests: await sinkRequests(ctx.ports.collector), plain_metrics: plainMetrics };
}

// ---------------------------------------------------------------------------------------------
// results

/**
 * Memory per process: idle RSS, the peak over the whole run, and the peak over the 1 KiB runs
 * only (the load the footprint target is set for) and over the 64 KiB run, from each run's own
 * peak window.
 */
function memoryFigures(procs, idle, ctx) {
  const peakOf = (name, measurements) => {
    const xs = ctx.runs.filter((r) => measurements.includes(r.measurement)).map((r) => r.peak_rss?.[name])
      .filter(Number.isFinite);
    return xs.length ? Math.max(...xs) : null;
  };
  const out = {};
  for (const [name, p] of Object.entries(procs)) {
    if (p.exit) continue;
    const m = memory(p.pid);
    out[name] = {
      pid: p.pid, idle_rss: idle[name], peak_rss: Math.max(m.hwm, ctx.peaks[name] ?? 0), rss_at_end: m.rss,
      peak_rss_1k: peakOf(name, ['rps_c50', 'rps_c1', 'lat_1000', 'lat_5000']),
      peak_rss_64k: peakOf(name, ['rps_c50_64k']),
    };
  }
  return out;
}

function multicoreSummary(runs) {
  const pick = (s) => runs.filter((r) => r.scenario === s && r.measurement === 'rps_c50_unpinned');
  const wt1 = pick('remora-grpc-wt1');
  const wt2 = pick('remora-grpc-wt2');
  if (!wt1.length && !wt2.length) return null;
  const perRound = wt2.map((r) => {
    const base = wt1.find((b) => b.round === r.round);
    return base?.figures?.rps > 0 && r.figures?.rps > 0 ? r.figures.rps / base.figures.rps : null;
  });
  return {
    wt1: { rps: stats(wt1.map((r) => r.figures?.rps)) },
    wt2: { rps: stats(wt2.map((r) => r.figures?.rps)) },
    ratio: stats(perRound),
    invalid_runs: [...wt1, ...wt2].filter((r) => !r.valid).length,
  };
}

/**
 * Quick mode's check: every scenario and measurement produced figures (requests and no
 * errors), and the memory, soak and multi-core figures exist. Never a speed.
 */
function completenessProblems(ctx, summary, memoryFig, soaks, multicore, observability) {
  const problems = [];
  const need = (cond, what) => { if (!cond) problems.push(what); };
  const measurementIds = httpMeasurements(ctx).map((m) => m.id);
  for (const s of ctx.httpScenarios) {
    for (const m of measurementIds) {
      const runs = ctx.runs.filter((r) => r.scenario === s && r.measurement === m);
      need(runs.length > 0, `${s} ${m}: not run`);
      for (const r of runs) {
        need(!r.failed, `${s} ${m} round ${r.round}: ${r.failed}`);
        need(r.requests > 0, `${s} ${m} round ${r.round}: no requests`);
        need(r.errors === 0, `${s} ${m} round ${r.round}: ${r.errors} errors`);
      }
      const S = summary[s]?.[m];
      if (m.startsWith('rps')) need(S?.rps?.median > 0, `${s} ${m}: no req/s`);
      else for (const p of ['p50', 'p90', 'p99', 'p999']) need(Number.isFinite(S?.latency_us?.[p]?.median), `${s} ${m}: no ${p}`);
      for (const p of ctx.scenarios[s].procs) need(Number.isFinite(S?.cpu_s_per_10k?.[p]?.median), `${s} ${m}: no CPU figure for ${p}`);
    }
    for (const p of ctx.scenarios[s].memory) {
      need(memoryFig[p]?.idle_rss > 0 && memoryFig[p]?.peak_rss > 0, `${s}: no memory figures for ${p}`);
    }
  }
  if (ctx.wants('internal-direct')) {
    for (const m of ['h2_rps', 'h2_lat']) {
      const runs = ctx.runs.filter((r) => r.scenario === 'internal-direct' && r.measurement === m);
      need(runs.length > 0 && runs.every((r) => !r.failed && r.requests > 0 && r.errors === 0), `internal-direct ${m}: no clean run`);
    }
    need(Number.isFinite(summary['internal-direct']?.h2_lat?.latency_us?.p99?.median), 'internal-direct: no latency percentiles');
  }
  if (ctx.wants('multicore')) need(multicore?.ratio?.median > 0 && multicore.invalid_runs === 0, 'multicore: no clean ratio');
  if (ctx.wants(OBS_SCENARIO) && ctx.wants('remora-grpc')) {
    need(observability?.rps?.rps_c50?.ratio?.median > 0, `${OBS_SCENARIO}: no req/s ratio against remora-grpc`);
    for (const [name, s] of Object.entries(observability?.export?.sidecars ?? { 'obs-A': {}, 'obs-B': {} })) {
      const k = s.counters;
      need(k && k.http_server_requests + k.grpc_server_requests > 0, `${name}: its metrics scrape has no request counts`);
      // exactly the chosen exporters: spans from each of them, none from the others
      for (const x of EXPORTERS) {
        const n = k?.[exportedKey(x)];
        if (ctx.opts.exporters.includes(x)) need(n > 0, `${name}: no spans exported by ${exportersLabel([x])}`);
        else need(n === 0, `${name}: ${n ?? 'no count of'} spans exported by ${exportersLabel([x])}, which was not configured`);
      }
    }
    need(/^off/.test(observability?.export?.plain_metrics ?? ''), 'sidecar-A: metrics are not off');
  }
  if (ctx.wants('soak')) {
    for (const s of soaks) {
      const growth = Object.values(s.processes).every((p) => Number.isFinite(p.growth_pct));
      need(s.requests > 0 && s.errors === 0 && growth, `soak ${s.scenario}: incomplete`);
    }
    need(soaks.length === 2, 'soak: not run for both chains');
  }
  return problems;
}

function progressLine(run) {
  const what = run.figures?.rps !== undefined
    ? `${run.figures.rps.toFixed(0)} req/s`
    : run.figures?.uncorrected ? `p50 ${run.figures.uncorrected.p50} p99 ${run.figures.uncorrected.p99} µs` : '';
  const status = run.valid ? '' : `  INVALID: ${run.invalid_reasons.join('; ')}`;
  const pct = (x) => `${(x * 100).toFixed(0)} %`;
  process.stderr.write(`  [round ${run.round}] ${run.scenario.padEnd(16)} ${run.measurement.padEnd(16)} ${what}` +
    ` (CPU0 ${pct(run.cpu0_util)}, CPU1 ${pct(run.cpu1_util)})${status}\n`);
}

// ---------------------------------------------------------------------------------------------
// main

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  checkTools();
  const bin = binaries(opts.build);
  const types = opts.only.includes('internal-direct') ? loadInternalTypes(NODE_MODULES) : null;
  const t0 = Date.now();
  const { tmp, cleanup } = scratchRun('remora-bench-', 'bench', 3000, () => { interrupted = true; });

  try {
    const ports = await allocatePorts();
    process.stderr.write('bench: starting apps, sidecars and nginx\n');
    const procs = await startSystem(bin, ports, tmp, opts.exporters);
    const idle = Object.fromEntries(Object.entries(procs).map(([n, p]) => [n, memory(p.pid).rss]));
    const ctx = {
      opts, bin, tmp, procs, ports, runs: [], scenarios: scenarioDefinitions(ports),
      sent: {}, // requests sent through each scenario (the measured runs and the warm-up)
      httpScenarios: HTTP_SCENARIOS.filter((s) => opts.only.includes(s)),
      wants: (s) => opts.only.includes(s),
      peaks: {}, // highest VmHWM seen per process (each run resets the window)
      progress: progressLine,
    };

    for (const s of ctx.httpScenarios) {
      await smokeTest(s, ctx.scenarios[s].url);
      ctx.sent[s] = (ctx.sent[s] ?? 0) + 1;
    }
    if (ctx.wants('multicore')) for (const s of ['remora-grpc-wt1', 'remora-grpc-wt2']) await smokeTest(s, ctx.scenarios[s].url);
    if (ctx.wants('soak')) for (const s of ['remora-grpc', 'nginx']) await smokeTest(s, ctx.scenarios[s].url);
    if (types) {
      ctx.callLocalBody = path.join(tmp, 'calllocal.bin');
      const body = buildCallLocalBody(types, { callerAppId: 'bench-client', calleeAppId: APP_IDS['sidecar-B'], size: BODY });
      fs.writeFileSync(ctx.callLocalBody, body);
      await checkCallLocal(types, ports.Binternal, fs.readFileSync(ctx.callLocalBody), BODY);
    }

    process.stderr.write('bench: warm-up pass\n');
    await warmUp(ctx);
    for (let round = 1; round <= opts.rounds; round++) {
      process.stderr.write(`bench: round ${round}/${opts.rounds}\n`);
      await runRound(ctx, round);
    }
    const soaks = [];
    if (ctx.wants('soak')) {
      for (const s of ['remora-grpc', 'nginx']) {
        process.stderr.write(`bench: soak ${s} (${opts.soak} s)\n`);
        soaks.push(await soak(ctx, s));
      }
    }
    const exported = ctx.wants(OBS_SCENARIO) ? await exportFigures(ctx) : null;
    const memoryFig = memoryFigures(procs, idle, ctx);
    const processes = Object.fromEntries(Object.entries(procs).map(([n, p]) => [n, { pid: p.pid, cpu: p.cpu, cmdline: p.cmdline }]));
    await stopAll(3000);

    const loadMeasurements = ['lat_1000', 'lat_5000'];
    const summary = summarise(ctx.runs.filter((r) => r.measurement !== 'soak'));
    const added = addedLatency(ctx.runs, ctx.httpScenarios, loadMeasurements);
    const multicore = multicoreSummary(ctx.runs);
    const observability = observabilitySummary(ctx.runs, summary, exported, opts.exporters);
    const targets = evaluateTargets(summary, added, memoryFig, observability);
    const ratioTable = ratios(summary, ctx.httpScenarios);
    const memoryProcs = Object.fromEntries(Object.entries(ctx.scenarios).map(([s, v]) => [s, v.memory]));
    const wallS = (Date.now() - t0) / 1000;

    const report = [
      '',
      `Remora benchmark: ${opts.rounds} round(s), wrk ${opts.duration} s, loadgen ${opts.latencyDuration} s at 1000 and ` +
        `5000 req/s (${LOADGEN_CONNECTIONS} conns), 1 KiB POST unless noted; medians [min–max]`,
      `sidecars and nginx on CPU ${SIDECAR_CPU}, generator and app on CPU ${CLIENT_CPU}; "!" = a run behind the figure ` +
        `is invalid (errors, or CPU 1 > ${CPU1_LIMIT * 100} %)`,
      '',
      scenarioTable({ scenarios: ctx.httpScenarios, summary, added, memory: memoryFig, memoryProcs }),
      '',
      internalBlock(summary),
      multicoreBlock(multicore),
      soakBlock(soaks),
      observabilityBlock(observability),
      ratioBlock(ratioTable),
      targetBlock(targets),
      invalidBlock(ctx.runs),
    ].filter((x) => x !== null).join('\n');
    console.log(report);

    const problems = opts.quick ? completenessProblems(ctx, summary, memoryFig, soaks, multicore, observability) : [];
    const result = {
      date: new Date(t0).toISOString(),
      wall_s: wallS,
      git_commit: tryRun('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']),
      machine: machineInfo(),
      build: buildInfo(opts.build),
      settings: {
        ...opts, build: undefined, out: undefined,
        body_bytes: BODY, body_large_bytes: BODY_LARGE, wrk_threads: 1,
        loadgen_connections: LOADGEN_CONNECTIONS, latency_rates: [1000, 5000],
        h2load: { throughput: 'c4 m16', latency: 'c1 m1' },
        sidecar_cpu: SIDECAR_CPU, client_cpu: CLIENT_CPU, cpu1_limit: CPU1_LIMIT,
        peak_rss_limit_bytes: PEAK_RSS_LIMIT, sidecar_worker_threads: 1,
        observability: {
          plain_sidecars: '--enable-metrics=false, no Configuration',
          exporters: opts.exporters,
          obs_sidecars: `--enable-metrics=true, Configuration: samplingRate "1", ${exportersLabel(opts.exporters)} ` +
            `exporter${opts.exporters.length > 1 ? 's' : ''}`,
          collector: 'nginx sink on the client CPU: 202 to Zipkin, 200 {} to OTLP, bodies discarded',
          cost_limit_pct: OBSERVABILITY_COST_LIMIT_PCT,
        },
      },
      processes,
      runs: ctx.runs,
      summary,
      added_latency_us: added,
      memory: memoryFig,
      soak: soaks,
      multicore,
      observability,
      ratios: ratioTable,
      targets,
      quick_check: opts.quick ? { passed: problems.length === 0, problems } : null,
    };
    fs.mkdirSync(path.dirname(opts.out), { recursive: true });
    fs.writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`\nresults: ${opts.out}  (wall time ${wallS.toFixed(0)} s, daprd sha256 ${(result.build.daprd_sha256 ?? '?').slice(0, 12)})`);
    if (problems.length) {
      console.error(`\nbench --quick: incomplete figures:\n  ${problems.join('\n  ')}`);
      process.exitCode = 1;
    }
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  if (interrupted) return; // the signal handler is stopping everything and exits
  console.error(`bench: ${err.plain ? err.message : err.stack ?? err.message}`);
  process.exitCode = 1;
});
