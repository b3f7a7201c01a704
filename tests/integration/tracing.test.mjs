// Trace export end to end: client → daprd A → daprd B → HTTP app, with both sidecars sampling
// every request and exporting to a collector receiver on loopback, in Zipkin v2 JSON and in
// OTLP/HTTP protobuf (decoded with protobufjs from Remora's proto/opentelemetry files, whose
// field numbers are OpenTelemetry's). One invocation must give A's span (kind CLIENT, CallLocal/<B>/<method>) and
// B's span (kind SERVER, same name) in one trace, B's parent being A's span and A's parent the
// caller's traceparent. With the collector down, invocations still succeed and the
// dropped-span counter of the metrics endpoint rises.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  freePort, request, sleep, startDaprd, stopAll, testHomeDir, uniqueAppId, writeFiles,
} from './lib/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const apps = [];

// The OTLP request as daprd's otlptracehttp sends it: binary ExportTraceServiceRequest.
const protobuf = createRequire(import.meta.url)('protobufjs'); // a dependency of @grpc/proto-loader
const PROTO = path.join(here, '../../proto');
const protoRoot = new protobuf.Root();
protoRoot.resolvePath = (origin, target) => {
  const p = path.join(PROTO, target);
  return fs.existsSync(p) ? p : protobuf.util.path.resolve(origin, target);
};
protoRoot.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto', { keepCase: true });
protoRoot.resolveAll();
const ExportTraceServiceRequest = protoRoot.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');

/** A decoded request as plain objects: 64-bit times as decimal strings, ids as bytes, fields
 * left unset (a root span's parent_span_id, an unset status) absent. */
function decodeOtlp(body) {
  return ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(body), { longs: String, enums: Number });
}

async function startHttpApp() {
  const port = await freePort();
  const proc = spawn(process.execPath, [path.join(here, 'apps', 'http-app.mjs'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  apps.push(proc);
  await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => { if (String(d).includes('listening')) resolve(); });
    proc.on('exit', (c) => reject(new Error(`http app exited ${c}`)));
  });
  return { port, proc };
}

/** A collector receiver: keeps every POSTed body by path; answers 202 (Zipkin) / 200 (OTLP, an
 * empty ExportTraceServiceResponse). */
function startCollector(port) {
  const got = { zipkin: [], otlp: [], requests: [] };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      got.requests.push({ path: req.url, method: req.method, headers: req.headers });
      try {
        if (req.url === '/api/v2/spans') got.zipkin.push(...JSON.parse(body.toString('utf8')));
        else if (req.url === '/v1/traces') got.otlp.push(decodeOtlp(body));
      } catch (e) {
        got.requests.push({ path: req.url, parseError: String(e), body });
      }
      if (req.url === '/v1/traces') res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      else res.writeHead(202, { 'content-type': 'application/json' });
      res.end();
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({ server, got })));
}

const hex = (bytes) => (bytes?.length ? Buffer.from(bytes).toString('hex') : undefined);

/** Every span received over OTLP, with its resource's service.name and its ids as hex. */
function otlpSpans(got) {
  const out = [];
  for (const req of got.otlp) {
    for (const rs of req.resource_spans ?? []) {
      const service = (rs.resource?.attributes ?? []).find((a) => a.key === 'service.name')?.value?.string_value;
      for (const ss of rs.scope_spans ?? []) {
        for (const s of ss.spans ?? []) {
          out.push({
            ...s, service, scope: ss.scope?.name,
            traceId: hex(s.trace_id), spanId: hex(s.span_id), parentSpanId: hex(s.parent_span_id),
          });
        }
      }
    }
  }
  return out;
}

function otlpAttr(span, key) {
  return (span.attributes ?? []).find((a) => a.key === key)?.value?.string_value;
}

async function waitFor(what, fn, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function waitRoute(a, bId) {
  await waitFor(`a route to ${bId}`, async () => {
    const r = await request({ port: a.port, path: `/v1.0/invoke/${bId}/method/ping` }).catch(() => null);
    return r && r.status === 200;
  });
}

function tracingConfig(collectorPort) {
  return `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: tracing
spec:
  tracing:
    samplingRate: "1"
    zipkin:
      endpointAddress: "http://127.0.0.1:${collectorPort}/api/v2/spans"
    otel:
      endpointAddress: "127.0.0.1:${collectorPort}"
      protocol: http
      isSecure: false
`;
}

after(async () => {
  await stopAll();
  for (const p of apps) p.kill('SIGTERM');
});

describe('trace export to Zipkin and OTLP collectors', () => {
  let app, a, b, collector, collectorPort, metricsA;
  const aId = uniqueAppId('tcaller');
  const bId = uniqueAppId('tcallee');
  const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
  const PARENT = '00f067aa0ba902b7';

  before(async () => {
    testHomeDir();
    collectorPort = await freePort();
    collector = await startCollector(collectorPort);
    const dir = writeFiles({ 'tracing.yaml': tracingConfig(collectorPort) });
    const cfg = path.join(dir, 'tracing.yaml');
    app = await startHttpApp();
    metricsA = await freePort();
    b = await startDaprd({ appId: bId, args: ['--app-protocol', 'http', '--app-port', String(app.port), '--config', cfg] });
    a = await startDaprd({
      appId: aId,
      args: ['--app-protocol', 'http', '--app-port', String(await freePort()), '--config', cfg,
        '--enable-metrics=true', '--metrics-port', String(metricsA)],
    });
    await waitRoute(a, bId);
  });

  it('one invocation gives the caller and callee spans, linked, in both formats', async () => {
    const r = await request({
      port: a.port, method: 'POST', path: `/v1.0/invoke/${bId}/method/orders/new?x=1`,
      headers: { 'content-type': 'text/plain', traceparent: `00-${TRACE}-${PARENT}-01`, 'dapr-tenant': 'blue' },
      body: 'hello',
    });
    assert.equal(r.status, 200, r.body);
    const name = `CallLocal/${bId}/orders/new`;

    const zipkin = await waitFor('both Zipkin spans', () => {
      const mine = collector.got.zipkin.filter((s) => s.traceId === TRACE);
      return mine.length >= 2 && mine;
    });
    const za = zipkin.find((s) => s.localEndpoint?.serviceName === aId);
    const zb = zipkin.find((s) => s.localEndpoint?.serviceName === bId);
    assert.ok(za && zb, JSON.stringify(zipkin));
    assert.equal(za.name, name);
    assert.equal(zb.name, name);
    assert.equal(za.kind, 'CLIENT');
    assert.equal(zb.kind, 'SERVER');
    assert.equal(za.parentId, PARENT);
    assert.equal(zb.parentId, za.id);
    assert.match(za.id, /^[0-9a-f]{16}$/);
    assert.notEqual(zb.id, za.id);
    assert.equal(za.tags['dapr.api'], `POST /v1.0/invoke/${bId}/method/orders/new`);
    assert.equal(za.tags['dapr.protocol'], 'http');
    assert.equal(za.tags['dapr.status_code'], '200');
    assert.equal(za.tags['rpc.service'], 'ServiceInvocation');
    assert.equal(za.tags['net.peer.name'], bId);
    assert.equal(za.tags['http.request.method'], 'POST');
    assert.equal(za.tags['url.full'], `/v1.0/invoke/${bId}/method/orders/new?x=1`);
    assert.equal(za.tags['server.address'], '127.0.0.1');
    assert.equal(za.tags['dapr-tenant'], 'blue');
    assert.equal(zb.tags['dapr.invoke_method'], 'orders/new');
    assert.equal(zb.tags['dapr.protocol'], 'grpc');
    assert.equal(zb.tags['dapr.api'], '/dapr.proto.internals.v1.ServiceInvocation/CallLocalStream');
    assert.ok(za.timestamp > 1.7e15 && za.duration >= 1, JSON.stringify(za));
    assert.ok(zb.timestamp >= za.timestamp && zb.timestamp + zb.duration <= za.timestamp + za.duration + 1000,
      'the callee span lies inside the caller span');

    const otlp = await waitFor('both OTLP spans', () => {
      const mine = otlpSpans(collector.got).filter((s) => s.traceId === TRACE);
      return mine.length >= 2 && mine;
    });
    const oa = otlp.find((s) => s.service === aId);
    const ob = otlp.find((s) => s.service === bId);
    assert.ok(oa && ob, JSON.stringify(otlp));
    assert.equal(oa.name, name);
    assert.equal(ob.name, name);
    assert.equal(oa.scope, 'dapr-diagnostics');
    assert.equal(oa.kind, 3); // SPAN_KIND_CLIENT
    assert.equal(ob.kind, 2); // SPAN_KIND_SERVER
    assert.equal(oa.spanId, za.id);
    assert.equal(ob.spanId, zb.id);
    assert.equal(oa.parentSpanId, PARENT);
    assert.equal(ob.parentSpanId, oa.spanId);
    assert.equal(otlpAttr(ob, 'dapr.invoke_method'), 'orders/new');
    assert.equal(otlpAttr(oa, 'dapr.api'), `POST /v1.0/invoke/${bId}/method/orders/new`);
    assert.ok(BigInt(oa.end_time_unix_nano) > BigInt(oa.start_time_unix_nano));
    assert.ok(BigInt(ob.start_time_unix_nano) >= BigInt(oa.start_time_unix_nano));
    assert.equal(oa.status, undefined, 'no status for a success');
    assert.equal(collector.got.requests.filter((q) => q.parseError).length, 0, 'every body decodes');
    const otlpReq = collector.got.requests.find((q) => q.path === '/v1/traces');
    assert.equal(otlpReq.headers['content-type'], 'application/x-protobuf');
    const zipReq = collector.got.requests.find((q) => q.path === '/api/v2/spans');
    assert.match(zipReq.headers['content-type'], /^application\/json/);
  });

  it('a new trace starts at A when the caller sends none; an app error marks both spans', async () => {
    const before = collector.got.zipkin.length;
    const r = await request({ port: a.port, method: 'GET', path: `/v1.0/invoke/${bId}/method/status/500` });
    assert.equal(r.status, 500, r.body);
    const tp = r.headers.traceparent;
    assert.match(tp, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const trace = tp.slice(3, 35);
    const spans = await waitFor('the error spans', () => {
      const mine = collector.got.zipkin.slice(before).filter((s) => s.traceId === trace);
      return mine.length >= 2 && mine;
    });
    const za = spans.find((s) => s.localEndpoint.serviceName === aId);
    const zb = spans.find((s) => s.localEndpoint.serviceName === bId);
    assert.equal(za.parentId, undefined, 'A starts the trace');
    assert.equal(zb.parentId, za.id);
    assert.equal(za.tags['otel.status_code'], 'ERROR');
    assert.equal(za.tags.error, 'Code(500): Internal Server Error');
    assert.equal(za.tags['dapr.status_code'], '500');

    const otlp = await waitFor('the error spans over OTLP', () => {
      const mine = otlpSpans(collector.got).filter((s) => s.traceId === trace);
      return mine.length >= 2 && mine;
    });
    const oa = otlp.find((s) => s.service === aId);
    const ob = otlp.find((s) => s.service === bId);
    assert.equal(oa.parentSpanId, undefined, 'a root span has no parent_span_id');
    assert.equal(oa.spanId, za.id);
    assert.equal(ob.parentSpanId, oa.spanId);
    assert.deepEqual(oa.status, { code: 2, message: 'Code(500): Internal Server Error' }); // STATUS_CODE_ERROR
  });

  it('an unsampled incoming traceparent exports nothing; health checks are not traced', async () => {
    const trace = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    const r = await request({
      port: a.port, path: `/v1.0/invoke/${bId}/method/ping`,
      headers: { traceparent: `00-${trace}-bbbbbbbbbbbbbbbb-00` },
    });
    assert.equal(r.status, 200);
    const h = await request({ port: a.port, path: '/v1.0/healthz' });
    assert.equal(h.status, 204);
    await sleep(1500); // more than the export interval
    assert.equal(collector.got.zipkin.filter((s) => s.traceId === trace).length, 0);
    assert.equal(collector.got.zipkin.filter((s) => s.name === '/v1.0/healthz').length, 0);
  });

  it('with the collector down, calls succeed, spans are dropped and counted, export resumes', async () => {
    await new Promise((resolve) => collector.server.close(resolve));
    collector.server.closeAllConnections?.();
    const scrape = async () => {
      const m = await request({ port: metricsA, path: '/metrics' });
      assert.equal(m.status, 200);
      const line = m.body.split('\n').find((l) => l.startsWith('remora_trace_spans_dropped_total') && l.includes('reason="export_failed"'));
      return line ? Number(line.split(' ').pop()) : 0;
    };
    const dropped0 = await scrape();
    for (let i = 0; i < 20; i++) {
      const r = await request({ port: a.port, method: 'POST', path: `/v1.0/invoke/${bId}/method/echo`, body: `n${i}` });
      assert.equal(r.status, 200, r.body);
    }
    await waitFor('the dropped counter to rise', async () => (await scrape()) >= dropped0 + 20, 15000);

    // back up on the same port: export resumes by itself
    collector = await startCollector(collectorPort);
    const trace = 'cccccccccccccccccccccccccccccccc';
    await waitFor('spans after the collector came back', async () => {
      await request({
        port: a.port, path: `/v1.0/invoke/${bId}/method/ping`,
        headers: { traceparent: `00-${trace}-dddddddddddddddd-01` },
      });
      await sleep(700);
      return collector.got.zipkin.some((s) => s.traceId === trace);
    }, 15000);
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    collector?.server.close();
  });
});
