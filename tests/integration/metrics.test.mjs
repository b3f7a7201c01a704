// daprd's Prometheus metrics, end to end: sidecars with --enable-metrics=true are scraped
// directly (every scrape checked by `promtool check metrics`) and by a real Prometheus, whose
// query API must return the exact counts of a known set of invocations:
//   client → daprd A → daprd B → HTTP app      (20 POST answered 200, 3 answered 404, 2 answered 500)
//   client → daprd A → daprd C → gRPC app      (20 POST echo answered OK, 5 answered NotFound)
// then the spec.metric options (increasedCardinality, pathMatching, latencyDistributionBuckets,
// enabled) and the merge of series recorded on two worker threads.
//
// Needs `prometheus` and `promtool` (Debian package prometheus, installed by
// deploy/install-deps.sh). Everything listens on 127.0.0.1 on ports chosen at run time;
// every process is stopped by its PID and the temporary directories are removed.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  Conn, connectError, freePort, raceTimeout, raw, req, request, sleep, startDaprd, stopAll, tempDir, testHomeDir,
  uniqueAppId, writeFiles,
} from './lib/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const GRPC_APP = process.env.GRPC_APP;
const CALL_LOCAL_STREAM = '/dapr.proto.internals.v1.ServiceInvocation/CallLocalStream';
const ON_INVOKE = '/dapr.proto.runtime.v1.AppCallback/OnInvoke';

function which(cmd) {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}
const PROMETHEUS = which('prometheus');
const PROMTOOL = which('promtool');

// ---------------------------------------------------------------------------------------------
// child processes other than daprd (apps, prometheus): stopped by PID, SIGKILLed at exit

const children = new Set();

function spawnChild(cmd, args, opts = {}) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  const out = [];
  proc.stdout.on('data', (d) => out.push(d));
  proc.stderr.on('data', (d) => out.push(d));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => { children.delete(child); resolve({ code, signal }); }));
  const child = { proc, exited, output: () => Buffer.concat(out).toString('utf8') };
  children.add(child);
  return child;
}

async function stopChild(child) {
  if (!children.has(child)) return;
  process.kill(child.proc.pid, 'SIGTERM');
  if (!(await raceTimeout(child.exited, 10000))) {
    process.kill(child.proc.pid, 'SIGKILL');
    await child.exited;
  }
}

process.on('exit', () => {
  for (const c of children) {
    try { process.kill(c.proc.pid, 'SIGKILL'); } catch { /* gone */ }
  }
});

after(async () => {
  await stopAll();
  for (const c of [...children]) await stopChild(c);
});

async function waitListening(child, what) {
  const deadline = Date.now() + 10000;
  while (!child.output().includes('listening')) {
    if (!children.has(child)) throw new Error(`${what} exited: ${child.output()}`);
    if (Date.now() > deadline) throw new Error(`${what} not listening: ${child.output()}`);
    await sleep(20);
  }
}

async function startHttpApp() {
  const port = await freePort();
  const child = spawnChild(process.execPath, [path.join(here, 'apps', 'http-app.mjs'), String(port)]);
  await waitListening(child, 'http app');
  return { port, child };
}

async function startGrpcApp() {
  const port = await freePort();
  const child = spawnChild(GRPC_APP, [String(port)]);
  await waitListening(child, 'grpc app');
  return { port, child };
}

// ---------------------------------------------------------------------------------------------
// sidecars

const metricsArgs = (port) => ['--enable-metrics=true', '--metrics-port', String(port), '--metrics-listen-address', '127.0.0.1'];

async function sidecar({ appId = uniqueAppId('m'), appPort, protocol = 'http', metricsPort, args = [] }) {
  const all = ['--app-protocol', protocol, '--app-port', String(appPort ?? await freePort()), ...args];
  if (metricsPort) all.push(...metricsArgs(metricsPort));
  const d = await startDaprd({ appId, args: all });
  d.metricsPort = metricsPort;
  return d;
}

// Waits until `from` reaches `to` through service invocation (to registered and serving).
async function waitRoute(from, to) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const r = await request({ port: from.port, path: `/v1.0/invoke/${to}/method/ping` }).catch(() => null);
    if (r && r.status === 200) return;
    if (Date.now() > deadline) throw new Error(`no route to ${to}: ${r && r.status} ${r && r.body}`);
    await sleep(100);
  }
}

async function invoke(from, to, method, { verb = 'GET', body, expect = 200 } = {}) {
  const r = await request({
    port: from.port, method: verb, path: `/v1.0/invoke/${to}/method/${method}`, body,
    headers: body === undefined ? {} : { 'Content-Type': 'text/plain' },
  });
  assert.equal(r.status, expect, `${verb} ${to}/${method}: ${r.body}`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// the exposition format

/** The scrape's bytes, checked to be UTF-8 (Prometheus refuses a scrape that is not). */
async function scrapeBytes(port, p = '/metrics') {
  const r = await request({ port, path: p });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(r.buffer);
  } catch {
    assert.fail(`the scrape of :${port} is not valid UTF-8`);
  }
  return r.buffer;
}

async function scrape(port, p = '/metrics') {
  return (await scrapeBytes(port, p)).toString('utf8');
}

function unescapeLabel(v) {
  return v.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
}

/** [{name, labels, value}] of every sample line. */
function parseSamples(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `malformed sample line: ${JSON.stringify(line)}`);
    const labels = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = unescapeLabel(l[2]);
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

const sameLabels = (a, b) => Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v);

/** The value of the sample with exactly these labels, or undefined. */
function sampleValue(text, name, labels) {
  const hits = parseSamples(text).filter((s) => s.name === name && sameLabels(s.labels, labels));
  assert.ok(hits.length <= 1, `${name} ${JSON.stringify(labels)} appears ${hits.length} times`);
  return hits[0]?.value;
}

// promtool's lint checks names against Prometheus' conventions; daprd's family names predate
// them and are kept as they are for dashboards, so exactly these naming problems are expected,
// and only on dapr_* families: counters without "_total" (dapr_http_server_request_count,
// dapr_runtime_component_loaded, ...), counters ending in "_count", and the "ms" in
// dapr_runtime_service_invocation_res_recv_latency_ms. Anything else (a parse error, a lint on
// Remora's own or the process_* families) fails.
const ALLOWED_LINTS = [
  { re: /^(dapr_[a-z0-9_]+) counter metrics should have "_total" suffix$/ },
  { re: /^(dapr_[a-z0-9_]+_count) non-histogram and non-summary metrics should not have "_count" suffix$/ },
  { re: /^(dapr_runtime_service_invocation_res_recv_latency_ms) metric names should not contain abbreviated units$/ },
];

function promtoolCheck(text) {
  const r = spawnSyncInput(PROMTOOL, ['check', 'metrics'], text);
  const lines = (r.stdout + r.stderr).split('\n').map((l) => l.trim()).filter(Boolean);
  const unexpected = lines.filter((l) => !ALLOWED_LINTS.some((a) => a.re.test(l)));
  assert.deepEqual(unexpected, [], `promtool check metrics (exit ${r.status}):\n${lines.join('\n')}`);
  // 0: clean; 3: lint problems only (all of them allowed above)
  assert.ok(r.status === 0 || r.status === 3, `promtool exit ${r.status}:\n${lines.join('\n')}`);
  return lines;
}

function spawnSyncInput(cmd, args, input) {
  try {
    const stdout = execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 20000 });
    return { status: 0, stdout, stderr: '' };
  } catch (e) {
    if (e.status === null || e.status === undefined) throw e;
    return { status: e.status, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Checks one scrape's internal consistency: histogram buckets cumulative, +Inf == _count. */
function assertHistogramsConsistent(text) {
  const samples = parseSamples(text);
  const groups = new Map();
  for (const s of samples) {
    const m = /^(.*)_(bucket|count|sum)$/.exec(s.name);
    if (!m) continue;
    const { le, ...rest } = s.labels;
    const key = `${m[1]}${JSON.stringify(rest)}`;
    if (!groups.has(key)) groups.set(key, { buckets: [], count: undefined });
    const g = groups.get(key);
    if (m[2] === 'bucket') g.buckets.push([le, s.value]);
    else if (m[2] === 'count') g.count = s.value;
  }
  for (const [key, g] of groups) {
    if (g.buckets.length === 0) continue; // a counter whose name ends in _count
    for (let i = 1; i < g.buckets.length; i++) {
      assert.ok(g.buckets[i][1] >= g.buckets[i - 1][1], `${key}: buckets not cumulative ${JSON.stringify(g.buckets)}`);
    }
    const last = g.buckets[g.buckets.length - 1];
    assert.equal(last[0], '+Inf', `${key}: last bucket`);
    assert.equal(last[1], g.count, `${key}: +Inf bucket vs _count`);
  }
}

// ---------------------------------------------------------------------------------------------
// a real Prometheus

async function startPrometheus(targets) {
  const dir = tempDir('remora-prom-');
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: remora
    static_configs:
      - targets: [${targets.map((t) => `'127.0.0.1:${t}'`).join(', ')}]
`);
  const child = spawnChild(PROMETHEUS, [
    `--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ], { cwd: dir });
  const prom = { child, port, dir };
  const deadline = Date.now() + 20000;
  for (;;) {
    const r = await request({ port, path: '/-/ready' }).catch(() => null);
    if (r && r.status === 200) break;
    if (!children.has(child)) throw new Error(`prometheus exited: ${child.output()}`);
    if (Date.now() > deadline) throw new Error(`prometheus not ready: ${child.output()}`);
    await sleep(100);
  }
  return prom;
}

async function promApi(prom, p) {
  const r = await request({ port: prom.port, path: p, timeoutMs: 10000 });
  assert.equal(r.status, 200, `${p}: ${r.body}`);
  const j = r.json();
  assert.equal(j.status, 'success', r.body);
  return j.data;
}

async function waitTargetsUp(prom, count) {
  const deadline = Date.now() + 20000;
  let last;
  for (;;) {
    last = (await promApi(prom, '/api/v1/targets')).activeTargets;
    if (last.length === count && last.every((t) => t.health === 'up')) return last;
    if (Date.now() > deadline) {
      assert.fail(`targets not up: ${JSON.stringify(last.map((t) => [t.scrapeUrl, t.health, t.lastError]))}`);
    }
    await sleep(200);
  }
}

/** The instant vector of a PromQL expression: [{metric, value (number)}]. */
async function query(prom, expr) {
  const data = await promApi(prom, `/api/v1/query?query=${encodeURIComponent(expr)}`);
  assert.equal(data.resultType, 'vector', expr);
  return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

/** Polls a PromQL expression until it yields exactly one sample equal to want (or pred). */
async function expectQuery(prom, expr, want, ms = 15000) {
  const pred = typeof want === 'function' ? want : (v) => v === want;
  const deadline = Date.now() + ms;
  let res;
  for (;;) {
    res = await query(prom, expr);
    if (res.length === 1 && pred(res[0].value)) return res[0].value;
    if (Date.now() > deadline) break;
    await sleep(250);
  }
  assert.fail(`${expr}: got ${JSON.stringify(res)}, want ${typeof want === 'function' ? want.toString() : want}`);
}

/** PromQL selector text: name{k="v",...} (values escaped). */
function sel(name, labels) {
  const body = Object.entries(labels).map(([k, v]) => `${k}="${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',');
  return `${name}{${body}}`;
}

// ---------------------------------------------------------------------------------------------

const noProm = !PROMETHEUS || !PROMTOOL ? 'prometheus or promtool missing' : false;

describe('metrics of service invocation: direct scrapes, promtool, and a real Prometheus', { skip: noProm }, () => {
  const aId = uniqueAppId('caller');
  const bId = uniqueAppId('httpapp');
  const cId = uniqueAppId('grpcapp');
  let a, b, c;
  let baseB, baseC; // scrapes taken before the counted calls (the warm-up calls show there)
  const bodies = Array.from({ length: 20 }, (_, i) => `{"order":${i}}`);

  before(async () => {
    testHomeDir();
    const httpApp = await startHttpApp();
    b = await sidecar({ appId: bId, appPort: httpApp.port, metricsPort: await freePort() });
    if (GRPC_APP) {
      const grpcApp = await startGrpcApp();
      c = await sidecar({ appId: cId, appPort: grpcApp.port, protocol: 'grpc', metricsPort: await freePort() });
    }
    // The warm-up goes through another caller, so A's counters hold only the counted calls.
    const w = await sidecar({});
    await waitRoute(w, bId);
    if (c) await waitRoute(w, cId);
    await w.stop();
    a = await sidecar({ appId: aId, metricsPort: await freePort() });
    baseB = await scrape(b.metricsPort);
    if (c) baseC = await scrape(c.metricsPort);

    for (const body of bodies) await invoke(a, bId, 'orders/new', { verb: 'POST', body });
    for (let i = 0; i < 3; i++) await invoke(a, bId, 'status/404', { expect: 404 });
    for (let i = 0; i < 2; i++) await invoke(a, bId, 'status/500', { expect: 500 });
    if (c) {
      for (const body of bodies) await invoke(a, cId, 'echo', { verb: 'POST', body });
      for (let i = 0; i < 5; i++) await invoke(a, cId, 'error/5', { expect: 404 }); // NotFound
    }
  });

  it('the metrics port answers GET and HEAD on any path, refuses other methods', async () => {
    const m = await scrape(a.metricsPort, '/');
    assert.match(m, /^# HELP /);
    const head = await request({ port: a.metricsPort, method: 'HEAD', path: '/metrics' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    const post = await request({ port: a.metricsPort, method: 'POST', path: '/metrics', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  it('every scrape passes promtool check metrics (only daprd\'s naming lints), histograms are consistent', async () => {
    // a raw byte that is not UTF-8 in a request path must not make the text invalid
    const bad = Buffer.concat([Buffer.from('GET /v1.0/x'), Buffer.from([0xff, 0xc3]), Buffer.from('y HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')]);
    for (const d of [a, b]) {
      const r = await raw(d.port, bad);
      assert.equal(r.statuses[0], 404);
    }
    const seen = new Set();
    for (const d of [a, b, c].filter(Boolean)) {
      const bytes = await scrapeBytes(d.metricsPort); // promtool reads the bytes as served
      assertHistogramsConsistent(bytes.toString('utf8'));
      for (const l of promtoolCheck(bytes)) seen.add(l.split(' ')[0]);
    }
    // the lint is about the names we expect, so the check did run
    assert.ok(seen.has('dapr_http_server_request_count'), [...seen].join(', '));
    const text = await scrape(a.metricsPort);
    assert.equal(sampleValue(text, 'dapr_http_server_request_count', { app_id: aId, method: 'GET', path: '/v1.0/x\ufffd\ufffdy', status: '404' }), 1);
  });

  it('caller A: the exact counts, read from its own scrape', async () => {
    const t = await scrape(a.metricsPort);
    assert.equal(sampleValue(t, 'dapr_runtime_service_invocation_req_sent_total', { app_id: aId, dst_app_id: bId, type: 'unary' }), 25);
    for (const [status, n] of [['200', 20], ['404', 3], ['500', 2]]) {
      assert.equal(sampleValue(t, 'dapr_runtime_service_invocation_res_recv_total', { app_id: aId, src_app_id: bId, status, type: 'unary' }), n, status);
      assert.equal(sampleValue(t, 'dapr_runtime_service_invocation_res_recv_latency_ms_count', { app_id: aId, src_app_id: bId, status }), n, status);
    }
    const p = `/v1.0/invoke/${bId}/method/orders/new`;
    assert.equal(sampleValue(t, 'dapr_http_server_request_count', { app_id: aId, method: 'POST', path: p, status: '200' }), 20);
    assert.equal(sampleValue(t, 'dapr_http_server_response_count', { app_id: aId, method: 'POST', path: p, status: '200' }), 20);
    assert.equal(sampleValue(t, 'dapr_http_server_latency_count', { app_id: aId, method: 'POST', path: p, status: '200' }), 20);
    const p500 = `/v1.0/invoke/${bId}/method/status/500`;
    assert.equal(sampleValue(t, 'dapr_http_server_request_count', { app_id: aId, method: 'GET', path: p500, status: '500' }), 2);
    const calls = c ? 50 : 25;
    // every internal call recorded once (OK also for the 5 that carried a gRPC app's error:
    // see the next test)
    const rpcs = parseSamples(t).filter((s) => s.name === 'dapr_grpc_io_client_completed_rpcs' && s.labels.grpc_client_method === CALL_LOCAL_STREAM);
    assert.equal(rpcs.reduce((n, s) => n + s.value, 0), calls);
    assert.equal(sampleValue(t, 'dapr_grpc_io_client_completed_rpcs', { app_id: aId, grpc_client_method: CALL_LOCAL_STREAM, grpc_client_status: 'OK' }), calls);
    const lat = parseSamples(t).filter((s) => s.name === 'dapr_grpc_io_client_roundtrip_latency_count' && s.labels.grpc_client_method === CALL_LOCAL_STREAM);
    assert.equal(lat.reduce((n, s) => n + s.value, 0), calls);
    assert.equal(sampleValue(t, 'dapr_grpc_io_client_sent_bytes_per_rpc_count', { app_id: aId, grpc_client_method: CALL_LOCAL_STREAM }), calls);
    assert.equal(sampleValue(t, 'dapr_grpc_io_client_received_bytes_per_rpc_count', { app_id: aId, grpc_client_method: CALL_LOCAL_STREAM }), calls);
    // A's app is never called: no app-channel family
    assert.ok(!t.includes('dapr_http_client_completed_count'), 'A called no app');
    assert.ok(sampleValue(t, 'process_resident_memory_bytes', {}) > 0);
    assert.ok(sampleValue(t, 'process_open_fds', {}) > 0);
    assert.ok(sampleValue(t, 'process_start_time_seconds', {}) > Date.now() / 1000 - 3600);
    assert.equal(sampleValue(t, 'remora_metrics_series_overflow_total', {}), 0);
  });

  it('caller A: an internal call that carried an app\'s error response completed OK', async () => {
    const t = await scrape(a.metricsPort);
    const ok = { app_id: aId, grpc_client_method: CALL_LOCAL_STREAM, grpc_client_status: 'OK' };
    assert.equal(sampleValue(t, 'dapr_grpc_io_client_completed_rpcs', ok), c ? 50 : 25);
  });

  it('callee B: the exact counts, read from its own scrape', async () => {
    const t = await scrape(b.metricsPort);
    assert.equal(sampleValue(t, 'dapr_runtime_service_invocation_req_recv_total', { app_id: bId, src_app_id: aId }), 25);
    for (const [status, n] of [['200', 20], ['404', 3], ['500', 2]]) {
      assert.equal(sampleValue(t, 'dapr_runtime_service_invocation_res_sent_total', { app_id: bId, dst_app_id: aId, status }), n, status);
    }
    const ok = { app_id: bId, grpc_server_method: CALL_LOCAL_STREAM, grpc_server_status: 'OK' };
    const before = sampleValue(baseB, 'dapr_grpc_io_server_completed_rpcs', ok) ?? 0;
    assert.equal(sampleValue(t, 'dapr_grpc_io_server_completed_rpcs', ok), before + 25);
    assert.equal(sampleValue(t, 'dapr_grpc_io_server_server_latency_count', ok), before + 25);
    for (const [method, p, status, n] of [['POST', '/orders/new', '200', 20], ['GET', '/status/404', '404', 3], ['GET', '/status/500', '500', 2]]) {
      assert.equal(sampleValue(t, 'dapr_http_client_completed_count', { app_id: bId, method, path: p, status }), n, p);
      assert.equal(sampleValue(t, 'dapr_http_client_roundtrip_latency_count', { app_id: bId, method, path: p, status }), n, p);
    }
    assert.equal(sampleValue(t, 'dapr_http_client_sent_bytes_count', { app_id: bId, method: 'POST', path: '/orders/new' }), 20);
    assert.equal(sampleValue(t, 'dapr_http_client_sent_bytes_sum', { app_id: bId, method: 'POST', path: '/orders/new' }),
      bodies.reduce((n, s) => n + s.length, 0));
  });

  it('callee C (gRPC app): OnInvoke as a gRPC client family, app codes as status', { skip: !GRPC_APP && 'GRPC_APP not set' }, async () => {
    const t = await scrape(c.metricsPort);
    const onInvoke = (status) => ({ app_id: cId, grpc_client_method: ON_INVOKE, grpc_client_status: status });
    const okBefore = sampleValue(baseC, 'dapr_grpc_io_client_completed_rpcs', onInvoke('OK')) ?? 0;
    assert.equal(sampleValue(t, 'dapr_grpc_io_client_completed_rpcs', onInvoke('OK')), okBefore + 20);
    assert.equal(sampleValue(t, 'dapr_grpc_io_client_completed_rpcs', onInvoke('NotFound')), 5);
    assert.equal(sampleValue(t, 'dapr_grpc_io_client_roundtrip_latency_count', onInvoke('NotFound')), 5);
    // daprd records the InvokeResponse's code: the gRPC code for a gRPC app
    assert.equal(sampleValue(t, 'dapr_runtime_service_invocation_res_sent_total', { app_id: cId, dst_app_id: aId, status: '0' }), 20);
    assert.equal(sampleValue(t, 'dapr_runtime_service_invocation_res_sent_total', { app_id: cId, dst_app_id: aId, status: '5' }), 5);
    assert.ok(!t.includes('dapr_http_client_completed_count'), 'no HTTP app channel');
    const ta = await scrape(a.metricsPort);
    assert.equal(sampleValue(ta, 'dapr_runtime_service_invocation_req_sent_total', { app_id: aId, dst_app_id: cId, type: 'unary' }), 25);
    assert.equal(sampleValue(ta, 'dapr_runtime_service_invocation_res_recv_total', { app_id: aId, src_app_id: cId, status: '0', type: 'unary' }), 20);
    assert.equal(sampleValue(ta, 'dapr_runtime_service_invocation_res_recv_total', { app_id: aId, src_app_id: cId, status: '5', type: 'unary' }), 5);
    const p404 = `/v1.0/invoke/${cId}/method/error/5`;
    assert.equal(sampleValue(ta, 'dapr_http_server_request_count', { app_id: aId, method: 'GET', path: p404, status: '404' }), 5);
  });

  it('a real Prometheus scrapes every sidecar and its queries return the same counts', async () => {
    const sidecars = [a, b, c].filter(Boolean);
    const prom = await startPrometheus(sidecars.map((d) => d.metricsPort));
    try {
      const targets = await waitTargetsUp(prom, sidecars.length);
      assert.deepEqual(targets.map((t) => t.labels.job), sidecars.map(() => 'remora'));
      for (const d of sidecars) {
        const instance = `127.0.0.1:${d.metricsPort}`;
        await expectQuery(prom, sel('up', { instance }), 1);
        await expectQuery(prom, sel('process_resident_memory_bytes', { instance }), (v) => v > 0);
      }
      // A, the caller
      await expectQuery(prom, sel('dapr_runtime_service_invocation_req_sent_total', { app_id: aId, dst_app_id: bId, type: 'unary' }), 25);
      for (const [status, n] of [['200', 20], ['404', 3], ['500', 2]]) {
        await expectQuery(prom, sel('dapr_runtime_service_invocation_res_recv_total', { app_id: aId, src_app_id: bId, status, type: 'unary' }), n);
      }
      const srv = { app_id: aId, method: 'POST', path: `/v1.0/invoke/${bId}/method/orders/new`, status: '200' };
      await expectQuery(prom, sel('dapr_http_server_request_count', srv), 20);
      await expectQuery(prom, sel('dapr_http_server_latency_count', srv), 20);
      await expectQuery(prom, `histogram_quantile(0.5, ${sel('dapr_http_server_latency_bucket', srv)})`, (v) => Number.isFinite(v) && v > 0 && v <= 100000);
      const resRecv = sel('dapr_runtime_service_invocation_res_recv_latency_ms_bucket', { app_id: aId, src_app_id: bId });
      await expectQuery(prom, `histogram_quantile(0.99, sum by (le) (${resRecv}))`,
        (v) => Number.isFinite(v) && v > 0);
      await expectQuery(prom, `sum(${sel('dapr_grpc_io_client_completed_rpcs', { app_id: aId, grpc_client_method: CALL_LOCAL_STREAM })})`, c ? 50 : 25);
      const rpcOk = { app_id: aId, grpc_client_method: CALL_LOCAL_STREAM, grpc_client_status: 'OK' };
      await expectQuery(prom, sel('dapr_grpc_io_client_completed_rpcs', rpcOk), (v) => v >= 45);
      // B, the callee
      await expectQuery(prom, sel('dapr_runtime_service_invocation_req_recv_total', { app_id: bId, src_app_id: aId }), 25);
      for (const [status, n] of [['200', 20], ['404', 3], ['500', 2]]) {
        await expectQuery(prom, sel('dapr_runtime_service_invocation_res_sent_total', { app_id: bId, dst_app_id: aId, status }), n);
      }
      const ok = { app_id: bId, grpc_server_method: CALL_LOCAL_STREAM, grpc_server_status: 'OK' };
      const okBefore = sampleValue(baseB, 'dapr_grpc_io_server_completed_rpcs', ok) ?? 0;
      await expectQuery(prom, sel('dapr_grpc_io_server_completed_rpcs', ok), okBefore + 25);
      await expectQuery(prom, sel('dapr_grpc_io_server_server_latency_count', ok), okBefore + 25);
      for (const [method, p, status, n] of [['POST', '/orders/new', '200', 20], ['GET', '/status/404', '404', 3], ['GET', '/status/500', '500', 2]]) {
        const l = { app_id: bId, method, path: p, status };
        await expectQuery(prom, sel('dapr_http_client_completed_count', l), n);
        await expectQuery(prom, sel('dapr_http_client_roundtrip_latency_count', l), n);
        await expectQuery(prom, `histogram_quantile(0.9, ${sel('dapr_http_client_roundtrip_latency_bucket', l)})`, (v) => Number.isFinite(v) && v > 0);
      }
      // the same number through an aggregation over the whole fleet
      await expectQuery(prom, `sum(${sel('dapr_runtime_service_invocation_res_sent_total', { dst_app_id: aId })})`, c ? 50 : 25);
      if (c) {
        await expectQuery(prom, sel('dapr_grpc_io_client_completed_rpcs', { app_id: cId, grpc_client_method: ON_INVOKE, grpc_client_status: 'NotFound' }), 5);
        await expectQuery(prom, sel('dapr_runtime_service_invocation_res_recv_total', { app_id: aId, src_app_id: cId, status: '5', type: 'unary' }), 5);
      }
    } finally {
      await stopChild(prom.child);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('spec.metric options and flags', { skip: !PROMTOOL ? 'promtool missing' : false }, () => {
  let app, target;
  const configFile = (spec) => path.join(writeFiles({ 'config.yaml': `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: metricsopts
spec:
${spec}` }), 'config.yaml');

  before(async () => {
    testHomeDir();
    app = await startHttpApp();
    target = await sidecar({ appPort: app.port });
  });

  it('increasedCardinality: false → no path label, no dapr_http_server_response_count', async () => {
    const cfg = configFile('  metric:\n    http:\n      increasedCardinality: false\n');
    const l = await sidecar({ metricsPort: await freePort(), args: ['--config', cfg] });
    await waitRoute(l, target.appId);
    for (let i = 0; i < 3; i++) await invoke(l, target.appId, `orders/${i}`, { verb: 'POST', body: 'x' });
    const t = await scrape(l.metricsPort);
    promtoolCheck(t);
    assert.equal(sampleValue(t, 'dapr_http_server_request_count', { app_id: l.appId, method: 'POST', status: '200' }), 3);
    assert.equal(sampleValue(t, 'dapr_http_server_latency_count', { app_id: l.appId, method: 'POST', status: '200' }), 3);
    assert.ok(!t.includes('dapr_http_server_response_count'), 'response_count only with increasedCardinality');
    for (const s of parseSamples(t).filter((x) => x.name.startsWith('dapr_http_server_'))) {
      assert.equal(s.labels.path, undefined, `${s.name} ${JSON.stringify(s.labels)}`);
    }
  });

  it('pathMatching: the pattern is the path label (the invoke form on the caller, the app path on the callee)', async () => {
    const callee = await sidecar({
      appPort: app.port, metricsPort: await freePort(),
      args: ['--config', configFile('  metric:\n    http:\n      increasedCardinality: false\n      pathMatching: ["/orders/{id}"]\n')],
    });
    const caller = await sidecar({
      metricsPort: await freePort(),
      args: ['--config', configFile('  metric:\n    http:\n      pathMatching:\n      - /orders/{id}\n')],
    });
    await waitRoute(caller, callee.appId);
    for (let i = 0; i < 2; i++) await invoke(caller, callee.appId, 'orders/7');
    await invoke(caller, callee.appId, 'other', { verb: 'POST', body: 'x' });
    const t = await scrape(caller.metricsPort);
    promtoolCheck(t);
    // TestHTTPMetricsPathMatchingServiceInvocation: /v1.0/invoke/order-app/method/orders/123
    // → /v1.0/invoke/{app_id}/method/orders/{id}
    const pattern = '/v1.0/invoke/{app_id}/method/orders/{id}';
    assert.equal(sampleValue(t, 'dapr_http_server_request_count', { app_id: caller.appId, method: 'GET', path: pattern, status: '200' }), 2);
    // no pattern matches, increasedCardinality (default true): the path itself
    const other = `/v1.0/invoke/${callee.appId}/method/other`;
    assert.equal(sampleValue(t, 'dapr_http_server_request_count', { app_id: caller.appId, method: 'POST', path: other, status: '200' }), 1);
    const u = await scrape(callee.metricsPort);
    promtoolCheck(u);
    assert.equal(sampleValue(u, 'dapr_http_client_completed_count', { app_id: callee.appId, method: 'GET', path: '/orders/{id}', status: '200' }), 2);
    // no pattern matches, increasedCardinality false: no path label
    assert.equal(sampleValue(u, 'dapr_http_client_completed_count', { app_id: callee.appId, method: 'POST', status: '200' }), 1);
    assert.equal(sampleValue(u, 'dapr_http_client_sent_bytes_count', { app_id: callee.appId, method: 'POST' }), 1);
  });

  it('latencyDistributionBuckets [5, 50] → le="5", "50", "+Inf" on every latency histogram; sizes keep theirs', async () => {
    const d = await sidecar({
      metricsPort: await freePort(),
      args: ['--config', configFile('  metric:\n    latencyDistributionBuckets: [5, 50]\n')],
    });
    await waitRoute(d, target.appId);
    const t = await scrape(d.metricsPort);
    promtoolCheck(t);
    const les = (name) => [...new Set(parseSamples(t).filter((s) => s.name === name).map((s) => s.labels.le))];
    for (const name of ['dapr_http_server_latency_bucket', 'dapr_grpc_io_client_roundtrip_latency_bucket',
      'dapr_runtime_service_invocation_res_recv_latency_ms_bucket']) {
      assert.deepEqual(les(name), ['5', '50', '+Inf'], name);
    }
    assert.equal(les('dapr_grpc_io_client_sent_bytes_per_rpc_bucket').length, 14);
    assert.equal(les('dapr_http_server_request_bytes_bucket')[0], '1024');
  });

  it('spec.metric.enabled: false → nothing listens on the metrics port, even with --enable-metrics=true', async () => {
    const port = await freePort();
    const d = await sidecar({ metricsPort: port, args: ['--config', configFile('  metric:\n    enabled: false\n')] });
    await d.logs.waitFor(/metrics are disabled/);
    assert.equal(await connectError(port), 'ECONNREFUSED');
  });

  it('--enable-metrics=false → nothing listens on the metrics port', async () => {
    const port = await freePort();
    const d = await startDaprd({ args: ['--app-protocol', 'http', '--app-port', String(app.port), '--metrics-port', String(port), '--enable-metrics=false'] });
    await d.logs.waitFor(/metrics are disabled/);
    assert.equal(await connectError(port), 'ECONNREFUSED');
  });

  it('the metrics port in use → start-up fails with daprd\'s message', async () => {
    const port = await freePort();
    const first = await sidecar({ metricsPort: port });
    const second = await startDaprd({ wait: false, args: ['--app-protocol', 'http', '--app-port', String(app.port), ...metricsArgs(port)] });
    const r = await second.waitExit(10000);
    assert.ok(r && r.code !== 0, `exit ${JSON.stringify(r)}`);
    assert.match(second.logs.text(), /failed to start the metrics server on 127\.0\.0\.1:\d+/);
    await second.stop(); // exited already: checks its stderr for sanitizer reports
    await first.stop();
  });

  it('http.excludeVerbs: true → no method label', async () => {
    const d = await sidecar({ metricsPort: await freePort(), args: ['--config', configFile('  metric:\n    http:\n      excludeVerbs: true\n')] });
    await request({ port: d.port, path: '/v1.0/healthz' });
    const t = await scrape(d.metricsPort);
    for (const s of parseSamples(t).filter((x) => x.name.startsWith('dapr_http_server_request_count'))) {
      assert.equal(s.labels.method, undefined, JSON.stringify(s.labels));
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('series recorded on two worker threads are merged', () => {
  it('16 keep-alive connections × 10 invocations: one series per label set, totals exact, scrapes consistent meanwhile', async () => {
    testHomeDir();
    const app = await startHttpApp();
    const callee = await sidecar({ appPort: app.port });
    const caller = await sidecar({ metricsPort: await freePort(), args: ['--worker-threads', '2'] });
    await caller.logs.waitFor(/2 worker thread\(s\)/);
    // A third sidecar warms the route up, so the caller's own counters start at zero.
    const w = await sidecar({});
    await waitRoute(w, callee.appId);
    await w.stop();

    const CONNS = 16; // SO_REUSEPORT spreads connections over both workers' listeners:
    const PER = 10; //   all 16 on one of two has probability 2^-15
    const target = `/v1.0/invoke/${callee.appId}/method/spread`;
    let loadDone = false;
    let scrapes = 0;
    const scraper = (async () => {
      while (!loadDone) {
        assertHistogramsConsistent(await scrape(caller.metricsPort));
        scrapes++;
        await sleep(5);
      }
    })();
    await Promise.all(Array.from({ length: CONNS }, async () => {
      const conn = await Conn.open(caller.port);
      try {
        for (let i = 0; i < PER; i++) {
          await conn.write(req('GET', target, { Host: 'x' }));
          const r = await conn.response(10000);
          assert.equal(r.status, 200, r.body.toString());
        }
      } finally {
        conn.destroy();
      }
    })).finally(() => { loadDone = true; });
    await scraper;
    assert.ok(scrapes > 0);

    const t = await scrape(caller.metricsPort);
    assertHistogramsConsistent(t);
    const l = { app_id: caller.appId, method: 'GET', path: target, status: '200' };
    assert.equal(sampleValue(t, 'dapr_http_server_request_count', l), CONNS * PER);
    assert.equal(sampleValue(t, 'dapr_http_server_latency_count', l), CONNS * PER);
    const si = { app_id: caller.appId, type: 'unary' };
    assert.equal(sampleValue(t, 'dapr_runtime_service_invocation_req_sent_total', { ...si, dst_app_id: callee.appId }), CONNS * PER);
    assert.equal(sampleValue(t, 'dapr_runtime_service_invocation_res_recv_total', { ...si, src_app_id: callee.appId, status: '200' }), CONNS * PER);
    const rpc = { app_id: caller.appId, grpc_client_method: CALL_LOCAL_STREAM, grpc_client_status: 'OK' };
    assert.equal(sampleValue(t, 'dapr_grpc_io_client_completed_rpcs', rpc), CONNS * PER);
    if (PROMTOOL) promtoolCheck(t);
  });
});
