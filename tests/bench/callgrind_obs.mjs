// callgrind_obs.mjs - observability's cost in instructions: the gRPC chain (client → sidecar A →
// sidecar B → gRPC app) with both sidecars under callgrind, once with metrics and tracing off
// and once with metrics on and every request traced (samplingRate "1", spans exported to a
// collector sink by the exporters --exporters names: OTLP/HTTP alone by default, Zipkin, or
// both), and the instructions each sidecar spends per request.
//
// Instructions are what this noisy, shared 2-core machine cannot blur: the same requests cost
// the same instructions whatever else runs. Each mode runs its own pair of sidecars under
// `valgrind --tool=callgrind`, all threads counted together (the exporter runs on each
// sidecar's main loop, the requests on its worker, and both count). After a warm-up, the
// counters are zeroed (`callgrind_control -z`), a fixed number of requests is sent by loadgen
// at a constant rate, the sidecars are given a few seconds to export the last batch, and the
// counters are dumped (`callgrind_control -d`). Instructions per request are the dump's total
// over the requests sent. The off mode's dump and the on mode's are then compared function by
// function (self cost), to show where observability's instructions go. The four dumps
// are kept beside the JSON file (same name, .dumps directory) for callgrind_annotate or
// kcachegrind.
//
// The rate is modest because callgrind runs a sidecar about 50 times slower; the loadgen
// figures printed beside the counts show whether the sidecars kept up (an open-loop client
// queues when they do not, which would batch work and lower the count per request).
//
// Usage: node callgrind_obs.mjs --build DIR [--requests N] [--warmup N] [--rate R]
//                               [--settle S] [--top N] [--inclusive fn,...] [--out FILE]
//                               [--exporters otlp|zipkin|otlp,zipkin]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import {
  findExecutable, freePort, scratchRun, sleep, startProcess, stopProcess, waitForHttp, waitForLine, waitForPort,
} from './lib/procs.mjs';
import { runLoadgen } from './lib/loads.mjs';
import { nginxArgs, writeSinkConfig } from './lib/nginx.mjs';
import {
  daprdArgs, daprdDigest, exportedKey, exportersLabel, parseExporters, scrapeMetrics, sinkRequests, writeObservabilityConfig,
} from './lib/sidecars.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const CLIENT_CPU = 1;
const BODY = 1024;
const CONNECTIONS = 16;
const START_MS = 120000; // a sidecar under valgrind starts in seconds, not milliseconds
const MODES = ['off', 'on'];
// Where observability's instructions start, as of this writing: recording into the metrics
// (diag_record), building a span on the request path (record_span: the HTTP API's and the
// internal API's), and the exporter's drain, encode and send on the main loop (on_tick).
// Their inclusive cost per request is printed for both modes; --inclusive names others.
const DEFAULT_INCLUSIVE = 'diag_record,record_span,on_tick';

let interrupted = false;

function plainError(message) {
  return Object.assign(new Error(message), { plain: true });
}

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      build: { type: 'string' },
      requests: { type: 'string' },
      warmup: { type: 'string' },
      rate: { type: 'string' },
      settle: { type: 'string' },
      top: { type: 'string' },
      inclusive: { type: 'string' },
      out: { type: 'string' },
      exporters: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log('usage: node callgrind_obs.mjs --build DIR [--requests N] [--warmup N] [--rate R] [--settle S] [--top N]\n' +
      '                           [--inclusive fn,fn,...] [--out FILE] [--exporters otlp|zipkin|otlp,zipkin]');
    process.exit(0);
  }
  if (!values.build) throw plainError('--build DIR is required (a CMake build directory)');
  const num = (name, def) => {
    if (values[name] === undefined) return def;
    const v = Number(values[name]);
    if (!(v > 0)) throw plainError(`--${name} wants a positive number, got ${values[name]}`);
    return v;
  };
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
  return {
    build: path.resolve(values.build),
    requests: Math.round(num('requests', 20000)),
    warmup: Math.round(num('warmup', 2000)),
    rate: num('rate', 200),
    settle: num('settle', 6),
    top: Math.round(num('top', 15)),
    inclusive: (values.inclusive ?? DEFAULT_INCLUSIVE).split(',').map((x) => x.trim()).filter(Boolean),
    exporters: parseExporters(values.exporters),
    out: path.resolve(values.out ?? path.join(REPO, 'bench-results', `callgrind-obs-${stamp}.json`)),
  };
}

function binaries(build) {
  const b = {
    daprd: path.join(build, 'cmd', 'daprd', 'daprd'),
    httpEcho: path.join(build, 'tests', 'bench', 'http_echo'),
    grpcEcho: path.join(build, 'tests', 'bench', 'grpc_echo'),
    loadgen: path.join(build, 'tests', 'bench', 'loadgen'),
    nginx: findExecutable('nginx'),
    valgrind: findExecutable('valgrind'),
    control: findExecutable('callgrind_control'),
  };
  for (const [k, p] of Object.entries(b)) {
    if (!p || !fs.existsSync(p)) {
      throw plainError(`${k} not found${p ? ` at ${p}` : ''}: build daprd http_echo grpc_echo loadgen in ${build}; ` +
        'valgrind and nginx come from deploy/install-deps.sh');
    }
  }
  return b;
}

/** callgrind_control on one process (zero or dump); its vgdb reaches the process even while it
 * waits in epoll. */
function control(bin, flag, pid) {
  execFileSync(bin.control, [flag, String(pid)], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 });
}

/**
 * A callgrind dump read directly (callgrind's file format, one event: Ir): the total
 * instructions (`summary:`, what callgrind_annotate calls PROGRAM TOTALS) and each function's
 * self cost, keyed "function [object]". Cost lines right after a `calls=` line are a callee's
 * inclusive cost and belong to no one's self cost; names are compressed as "(id) name" the
 * first time and "(id)" after.
 */
function readDump(file) {
  const text = fs.readFileSync(file, 'utf8');
  const summary = text.match(/^summary:\s+(\d+)/m);
  if (!summary) throw new Error(`${file}: no summary line`);
  const names = { ob: new Map(), fn: new Map() };
  const name = (kind, v) => {
    const m = v.match(/^\((\d+)\)(?:\s+(.*))?$/);
    if (!m) return v;
    if (m[2] !== undefined) names[kind].set(m[1], m[2]);
    return names[kind].get(m[1]) ?? v;
  };
  const self = new Map();
  const called = new Map(); // function name → inclusive cost over every call into it
  let ob = '';
  let fn = '';
  let cfn = '';
  let inclusiveNext = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('ob=')) ob = path.basename(name('ob', line.slice(3)));
    else if (line.startsWith('fn=')) fn = name('fn', line.slice(3));
    else if (line.startsWith('cob=')) name('ob', line.slice(4));
    else if (line.startsWith('cfn=')) cfn = name('fn', line.slice(4));
    else if (line.startsWith('calls=')) inclusiveNext = true;
    else if (/^[+\-*\d]/.test(line)) {
      const cost = Number(line.trim().split(/\s+/)[1] ?? 0);
      if (inclusiveNext) {
        inclusiveNext = false;
        if (cfn !== fn) called.set(cfn, (called.get(cfn) ?? 0) + cost);
      } else if (cost) {
        self.set(`${fn} [${ob}]`, (self.get(`${fn} [${ob}]`) ?? 0) + cost);
      }
    }
  }
  return { total: Number(summary[1]), self, called };
}

/** The dump files callgrind wrote for one process since `known`. */
function newDumps(dir, prefix, known) {
  return fs.readdirSync(dir).filter((f) => f.startsWith(prefix) && !known.has(f)).map((f) => path.join(dir, f));
}

/**
 * One mode: starts B then A under callgrind, warms them up, zeroes their counters, sends the
 * measured requests, waits for the export, dumps the counters and stops the two sidecars.
 */
async function runMode(ctx, mode) {
  const { bin, opts, ports, tmp } = ctx;
  const observability = mode === 'on' ? { config: ctx.obsConfig } : null;
  const sidecars = [
    ['B', { appId: 'cg-b', appPort: ports.grpcEcho, appProtocol: 'grpc' }],
    ['A', { appId: 'cg-a', appPort: ports.httpEcho, appProtocol: 'http' }],
  ];
  const procs = {};
  for (const [name, o] of sidecars) {
    const sp = ctx.sidecarPorts[name];
    const outPrefix = `callgrind.${mode}.${name}.`;
    const args = [
      '--tool=callgrind', `--callgrind-out-file=${path.join(tmp, `${outPrefix}%p`)}`,
      ctx.bin.daprd, ...daprdArgs({ ...o, workers: 1, ports: sp, observability }),
    ];
    procs[name] = startProcess({ name: `sidecar-${name} (${mode})`, bin: bin.valgrind, args, env: ctx.env });
    procs[name].outPrefix = outPrefix;
  }
  for (const [name] of sidecars) {
    const base = `http://127.0.0.1:${ctx.sidecarPorts[name].http}/v1.0`;
    await waitForHttp(procs[name], `${base}/healthz`, 204, START_MS);
    await waitForHttp(procs[name], `${base}/healthz/outbound`, 204, START_MS);
  }
  const url = `http://127.0.0.1:${ctx.sidecarPorts.A.http}/v1.0/invoke/cg-b/method/echo`;
  const load = (requests, jsonName) => runLoadgen({
    bin: bin.loadgen, url, rate: opts.rate, connections: CONNECTIONS, bodySize: BODY,
    durationS: requests / opts.rate, warmupS: 0, jsonFile: path.join(tmp, jsonName), cpu: CLIENT_CPU,
  });

  process.stderr.write(`callgrind ${mode}: warm-up, ${opts.warmup} requests at ${opts.rate}/s\n`);
  const warm = await load(opts.warmup, `warmup-${mode}.json`);
  if (warm.errors > 0) throw new Error(`warm-up (${mode}): ${warm.errors} errors ${JSON.stringify(warm.error_detail)}`);
  await sleep(opts.settle * 1000);
  const known = new Set(fs.readdirSync(tmp));
  for (const [name] of sidecars) control(bin, '-z', procs[name].pid);
  const sinkBefore = await sinkRequests(ports.collector);

  process.stderr.write(`callgrind ${mode}: measuring ${opts.requests} requests at ${opts.rate}/s\n`);
  const run = await load(opts.requests, `run-${mode}.json`);
  await sleep(opts.settle * 1000); // the last batch of spans leaves on the exporter's timer
  for (const [name] of sidecars) control(bin, '-d', procs[name].pid);
  const sinkAfter = await sinkRequests(ports.collector);
  const sent = run.requests + run.errors;

  const result = {
    mode, requests: sent, errors: run.errors, error_detail: run.error_detail,
    achieved_rate: run.figures.achieved_rate, latency_us: run.figures.uncorrected,
    corrected_p99_us: run.figures.corrected?.p99 ?? null,
    sink_batches: Number.isFinite(sinkBefore) && Number.isFinite(sinkAfter) ? sinkAfter - sinkBefore - 1 : null,
    sidecars: {},
  };
  for (const [name] of sidecars) {
    const dumps = newDumps(tmp, procs[name].outPrefix, known);
    if (dumps.length !== 1) throw new Error(`sidecar ${name} (${mode}): expected one dump, found ${dumps.length}`);
    const { total, self, called } = readDump(dumps[0]);
    fs.copyFileSync(dumps[0], path.join(ctx.dumpDir, path.basename(dumps[0])));
    const s = { instructions: total, per_request: total / sent, dump: path.basename(dumps[0]) };
    s.functions = self;
    s.inclusive = Object.fromEntries(opts.inclusive.map((f) => [f, (called.get(f) ?? 0) / sent]));
    if (mode === 'on') {
      try {
        s.export = (await scrapeMetrics(ctx.sidecarPorts[name].metrics)).counters;
      } catch (err) {
        s.export = { error: err.message };
      }
    }
    result.sidecars[name] = s;
  }
  await Promise.all(Object.values(procs).map((p) => stopProcess(p, 20000)));
  return result;
}

/** The functions whose instructions per request grew most from the off mode to the on mode. */
function topAdded(off, on, requestsOff, requestsOn, n) {
  const rows = [];
  for (const [fn, ir] of on.functions) {
    const a = ir / requestsOn;
    const b = (off.functions.get(fn) ?? 0) / requestsOff;
    rows.push({ function: fn, on: a, off: b, added: a - b, new_in_on: !off.functions.has(fn) });
  }
  return rows.sort((x, y) => y.added - x.added).slice(0, n);
}

const grouped = (x) => Math.round(x).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ' ');

function report(results, opts) {
  const [off, on] = MODES.map((m) => results.find((r) => r.mode === m));
  const lines = [
    '',
    `callgrind: instructions per request, all threads of each sidecar; ${opts.requests} requests of 1 KiB at ` +
      `${opts.rate}/s (${CONNECTIONS} connections) after ${opts.warmup} of warm-up`,
    `off: --enable-metrics=false, no Configuration; on: metrics + samplingRate "1", ${exportersLabel(opts.exporters)} export`,
    '',
    `sidecar   │ off       │ on        │ on/off`,
    `──────────┼───────────┼───────────┼───────`,
  ];
  const per = (r, s) => r.sidecars[s].per_request;
  for (const s of ['A', 'B']) {
    lines.push(`${s.padEnd(9)} │ ${grouped(per(off, s)).padEnd(9)} │ ${grouped(per(on, s)).padEnd(9)} │ ${(per(on, s) / per(off, s)).toFixed(3)}`);
  }
  const sum = (r) => per(r, 'A') + per(r, 'B');
  lines.push(`A+B       │ ${grouped(sum(off)).padEnd(9)} │ ${grouped(sum(on)).padEnd(9)} │ ${(sum(on) / sum(off)).toFixed(3)}`);
  lines.push('');
  for (const r of [off, on]) {
    const l = r.latency_us ?? {};
    lines.push(`${r.mode}: ${r.requests} requests, ${r.errors} errors, achieved ${r.achieved_rate?.toFixed(1)}/s, ` +
      `p50/p99 ${l.p50}/${l.p99} µs, corrected p99 ${r.corrected_p99_us} µs, batches at the sink ${r.sink_batches ?? '–'}`);
  }
  for (const s of ['A', 'B']) {
    const e = on.sidecars[s].export;
    if (!e || e.error) {
      lines.push(`on: sidecar ${s} metrics scrape failed${e?.error ? `: ${e.error}` : ''}`);
      continue;
    }
    const exported = opts.exporters.map((x) => `${x} ${e[exportedKey(x)] ?? 'missing'}`).join(' ');
    lines.push(`on: sidecar ${s} spans exported ${exported}, ` +
      `dropped queue-full ${e.dropped_queue_full ?? 'missing'} export-failed ${e.dropped_export_failed ?? 'missing'} ` +
      `(since start, warm-up included)`);
  }
  lines.push('', `inclusive instructions per request (off → on): ${opts.inclusive.join(', ')}`);
  for (const s of ['A', 'B']) {
    const parts = opts.inclusive.map((f) => `${f} ${grouped(off.sidecars[s].inclusive[f])} → ${grouped(on.sidecars[s].inclusive[f])}`);
    lines.push(`  ${s}: ${parts.join('   ')}`);
  }
  for (const s of ['A', 'B']) {
    lines.push('', `sidecar ${s}: functions with the most instructions added per request (on − off; * = absent when off):`);
    for (const f of topAdded(off.sidecars[s], on.sidecars[s], off.requests, on.requests, opts.top)) {
      lines.push(`  ${grouped(f.added).padStart(7)}  (${grouped(f.off).padStart(6)} → ${grouped(f.on).padStart(6)})` +
        `${f.new_in_on ? ' *' : '  '} ${f.function}`);
    }
  }
  return lines.join('\n');
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  const bin = binaries(opts.build);
  if (os.cpus().length < 2) throw plainError('the load generator is pinned to CPU 1: needs at least 2 CPUs');
  const { tmp, cleanup } = scratchRun('remora-callgrind-', 'callgrind', 20000, () => { interrupted = true; });
  try {
    const ports = {};
    const seen = new Set();
    const take = async () => { let p; do { p = await freePort(); } while (seen.has(p)); seen.add(p); return p; };
    for (const k of ['httpEcho', 'grpcEcho', 'collector']) ports[k] = await take();
    const sidecarPorts = {};
    for (const s of ['A', 'B']) sidecarPorts[s] = { http: await take(), grpc: await take(), internal: await take(), metrics: await take() };
    const env = { HOME: path.join(tmp, 'home'), DAPR_HOST_IP: '127.0.0.1' };
    fs.mkdirSync(env.HOME, { recursive: true });

    const apps = {
      http_echo: startProcess({ name: 'http_echo', bin: bin.httpEcho, args: [String(ports.httpEcho)], cpu: CLIENT_CPU }),
      grpc_echo: startProcess({ name: 'grpc_echo', bin: bin.grpcEcho, args: [String(ports.grpcEcho)], cpu: CLIENT_CPU }),
    };
    await Promise.all(Object.values(apps).map((p) => waitForLine(p, /^listening /, 15000)));
    const sink = startProcess({
      name: 'collector', bin: bin.nginx, args: nginxArgs(writeSinkConfig(tmp, 'collector', ports.collector)), cpu: CLIENT_CPU,
    });
    await waitForPort(sink, ports.collector, 15000);
    const digest = daprdDigest(bin.daprd);
    const dumpDir = opts.out.replace(/\.json$/, '') + '.dumps';
    fs.mkdirSync(dumpDir, { recursive: true });
    const obsConfig = writeObservabilityConfig(tmp, ports.collector, opts.exporters);
    const ctx = { bin, opts, ports, sidecarPorts, tmp, env, dumpDir, digest, obsConfig };

    const results = [];
    for (const mode of MODES) results.push(await runMode(ctx, mode));
    for (const r of results) {
      if (r.errors > 0) throw new Error(`${r.mode}: ${r.errors} failed requests ${JSON.stringify(r.error_detail)}`);
    }
    console.log(report(results, opts));
    console.log(`daprd sha256 ${digest.slice(0, 12)}`);

    const [off, on] = results;
    const json = {
      date: new Date().toISOString(),
      daprd_sha256: ctx.digest,
      settings: { ...opts, build: undefined, out: undefined, body_bytes: BODY, connections: CONNECTIONS },
      modes: results.map((r) => ({
        ...r,
        sidecars: Object.fromEntries(Object.entries(r.sidecars).map(([s, v]) => [s, { ...v, functions: undefined }])),
      })),
      ratio: Object.fromEntries(['A', 'B'].map((s) => [s, on.sidecars[s].per_request / off.sidecars[s].per_request])),
      top_added: Object.fromEntries(['A', 'B'].map((s) =>
        [s, topAdded(off.sidecars[s], on.sidecars[s], off.requests, on.requests, 40)])),
    };
    fs.mkdirSync(path.dirname(opts.out), { recursive: true });
    fs.writeFileSync(opts.out, `${JSON.stringify(json, null, 2)}\n`);
    console.log(`\nresults: ${opts.out}`);
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  if (interrupted) return;
  console.error(`callgrind: ${err.plain ? err.message : err.stack ?? err.message}`);
  process.exitCode = 1;
});
