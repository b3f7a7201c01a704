// The API middleware chain: CORS (dapr-behaviour.md §5.6), API token (§2.6, R10), tracing
// (§5.2) and spec.httpPipeline components (§5.1, ratelimit).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  TRACEPARENT_RE, assertDaprError, raw, req, request, runDaprd, startDaprd, stopAll, writeFiles,
} from './lib/harness.mjs';

after(stopAll);

const preflight = (port, origin, method = 'POST', headers = 'content-type', extra = {}) => request({
  port, method: 'OPTIONS', path: '/v1.0/metadata',
  headers: { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': headers, ...extra },
});

const varyHas = (r, name) => (r.headers.vary ?? '').split(',').map((s) => s.trim().toLowerCase()).includes(name.toLowerCase());

describe('CORS, default --allowed-origins (*)', () => {
  let d;
  before(async () => { d = await startDaprd(); });
  after(async () => assert.equal(await d.stop(), 0));

  it('simple GET with Origin → Access-Control-Allow-Origin: *', async () => {
    const r = await request({ port: d.port, path: '/v1.0/metadata', headers: { Origin: 'https://anything.example' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], '*');
    assert.equal(r.json().id, d.appId);
  });

  it('GET without Origin → no Access-Control-Allow-Origin', async () => {
    const r = await request({ port: d.port, path: '/v1.0/metadata' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], undefined);
  });

  it('preflight → 200, ACAO, Allow-Methods POST, Allow-Headers echoed, empty body', async () => {
    const r = await preflight(d.port, 'https://anything.example');
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], '*');
    assert.equal(r.headers['access-control-allow-methods'], 'POST');
    assert.equal((r.headers['access-control-allow-headers'] ?? '').toLowerCase(), 'content-type');
    assert.equal(r.body, '');
  });

  it('CORS headers also land on error responses', async () => {
    const r = await request({ port: d.port, path: '/nope', headers: { Origin: 'https://anything.example' } });
    assert.equal(r.status, 404);
    assert.equal(r.headers['access-control-allow-origin'], '*');
  });
});

describe('CORS, --allowed-origins https://a.com,https://*.b.com', () => {
  let d;
  before(async () => { d = await startDaprd({ args: ['--allowed-origins', 'https://a.com,https://*.b.com'] }); });
  after(async () => assert.equal(await d.stop(), 0));

  it('wildcard match https://x.b.com is echoed with Vary: Origin', async () => {
    const r = await request({ port: d.port, path: '/v1.0/metadata', headers: { Origin: 'https://x.b.com' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], 'https://x.b.com');
    assert.ok(varyHas(r, 'Origin'), `Vary: ${r.headers.vary}`);
  });

  it('exact match https://a.com is echoed', async () => {
    const r = await request({ port: d.port, path: '/v1.0/metadata', headers: { Origin: 'https://a.com' } });
    assert.equal(r.headers['access-control-allow-origin'], 'https://a.com');
    assert.ok(varyHas(r, 'Origin'), `Vary: ${r.headers.vary}`);
  });

  it('https://evil.com gets no ACAO (request still served)', async () => {
    const r = await request({ port: d.port, path: '/v1.0/metadata', headers: { Origin: 'https://evil.com' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], undefined);
  });

  it('lookalikes are not matched: https://b.com.evil.com, https://xa.com, http://a.com', async () => {
    for (const o of ['https://b.com.evil.com', 'https://xa.com', 'http://a.com']) {
      const r = await request({ port: d.port, path: '/v1.0/metadata', headers: { Origin: o } });
      assert.equal(r.headers['access-control-allow-origin'], undefined, `ACAO for ${o}`);
    }
  });

  it('preflight from an allowed origin echoes it', async () => {
    const r = await preflight(d.port, 'https://y.b.com');
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], 'https://y.b.com');
    assert.equal(r.headers['access-control-allow-methods'], 'POST');
  });

  it('preflight from a disallowed origin: no ACAO', async () => {
    const r = await preflight(d.port, 'https://evil.com');
    assert.equal(r.headers['access-control-allow-origin'], undefined);
  });
});

describe('CORS, --allowed-origins ""', () => {
  let d;
  before(async () => { d = await startDaprd({ args: ['--allowed-origins', ''] }); });
  after(async () => assert.equal(await d.stop(), 0));

  it('no CORS headers at all', async () => {
    const g = await request({ port: d.port, path: '/v1.0/metadata', headers: { Origin: 'https://a.com' } });
    assert.equal(g.status, 200);
    const p = await preflight(d.port, 'https://a.com');
    for (const r of [g, p]) {
      for (const k of Object.keys(r.headers)) {
        assert.ok(!k.startsWith('access-control-'), `unexpected ${k}: ${r.headers[k]}`);
      }
    }
  });
});

describe('API token (DAPR_API_TOKEN=secret)', () => {
  let d;
  before(async () => { d = await startDaprd({ env: { DAPR_API_TOKEN: 'secret' } }); });
  after(async () => assert.equal(await d.stop(), 0));

  const get = (p, headers = {}, method = 'GET') => request({ port: d.port, path: p, headers, method });

  it('no token → 401 JSON', async () => {
    const r = await get('/v1.0/metadata');
    assertDaprError(r, 401, 'ERR_UNAUTHORIZED');
  });

  it('wrong token → 401', async () => {
    assert.equal((await get('/v1.0/metadata', { 'dapr-api-token': 'secreT' })).status, 401);
    assert.equal((await get('/v1.0/metadata', { 'dapr-api-token': 'secret2' })).status, 401);
    assert.equal((await get('/v1.0/metadata', { 'dapr-api-token': 'secre' })).status, 401);
    assert.equal((await get('/v1.0/metadata', { 'dapr-api-token': '' })).status, 401);
  });

  it('right token → 200', async () => {
    const r = await get('/v1.0/metadata', { 'dapr-api-token': 'secret' });
    assert.equal(r.status, 200);
    assert.equal(r.json().id, d.appId);
  });

  it('token only in the query string → 401', async () => {
    assert.equal((await get('/v1.0/metadata?dapr-api-token=secret')).status, 401);
  });

  it('GET /v1.0/healthz and /v1.0/healthz/outbound are exempt', async () => {
    assert.equal((await get('/v1.0/healthz')).status, 204);
    assert.equal((await get('/v1.0/healthz/outbound')).status, 204);
  });

  it('POST /v1.0/healthz → 401', async () => {
    assert.equal((await get('/v1.0/healthz', {}, 'POST')).status, 401);
  });

  it('/v1.0/metadata?x=/v1.0/healthz → 401', async () => {
    assert.equal((await get('/v1.0/metadata?x=/v1.0/healthz')).status, 401);
  });

  it('/v1.0/healthz/../metadata and /v1.0/healthz/x → 401', async () => {
    for (const p of ['/v1.0/healthz/../metadata', '/v1.0/healthz/x', '/v1.0/healthzz', '/v1.0/healthz/../../v1.0/shutdown']) {
      const r = await raw(d.port, req('GET', p, { Host: 'x', Connection: 'close' }));
      assert.deepEqual(r.statuses, [401], p);
    }
  });

  it('POST /v1.0/shutdown without token → 401 and the process keeps running', async () => {
    assert.equal((await get('/v1.0/shutdown', {}, 'POST')).status, 401);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(d.exitInfo, null);
  });

  it('unknown path without token → 401 (auth before the 404 fallback)', async () => {
    assert.equal((await get('/foo')).status, 401);
  });

  it('CORS preflight without token → 401', async () => {
    const r = await preflight(d.port, 'https://a.com');
    assert.equal(r.status, 401);
  });
});

const TRACING_CONFIG = (rate) => `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: tracing
spec:
  tracing:
    samplingRate: "${rate}"
`;

describe('tracing (samplingRate "1")', () => {
  let d;
  before(async () => {
    const dir = writeFiles({ 'config.yaml': TRACING_CONFIG(1) });
    d = await startDaprd({ args: ['--config', path.join(dir, 'config.yaml')] });
  });
  after(async () => assert.equal(await d.stop(), 0));

  it('GET /v1.0/metadata carries a valid traceparent', async () => {
    const r = await request({ port: d.port, path: '/v1.0/metadata' });
    assert.equal(r.status, 200);
    const m = TRACEPARENT_RE.exec(r.headers.traceparent ?? '');
    assert.ok(m, `traceparent: ${r.headers.traceparent}`);
    assert.notEqual(m[1], '0'.repeat(32));
    assert.notEqual(m[2], '0'.repeat(16));
    assert.equal(m[3], '01', 'samplingRate 1 → sampled');
  });

  it('two requests get different trace ids', async () => {
    const a = TRACEPARENT_RE.exec((await request({ port: d.port, path: '/v1.0/metadata' })).headers.traceparent ?? '');
    const b = TRACEPARENT_RE.exec((await request({ port: d.port, path: '/v1.0/metadata' })).headers.traceparent ?? '');
    assert.ok(a && b);
    assert.notEqual(a[1], b[1]);
  });

  it('an incoming traceparent keeps its trace id and gets a new span id', async () => {
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const span = '00f067aa0ba902b7';
    const r = await request({ port: d.port, path: '/v1.0/metadata', headers: { traceparent: `00-${trace}-${span}-01` } });
    const m = TRACEPARENT_RE.exec(r.headers.traceparent ?? '');
    assert.ok(m, `traceparent: ${r.headers.traceparent}`);
    assert.equal(m[1], trace);
    assert.notEqual(m[2], span);
    assert.notEqual(m[2], '0'.repeat(16));
  });

  it('a malformed incoming traceparent is replaced by a fresh one', async () => {
    const r = await request({ port: d.port, path: '/v1.0/metadata', headers: { traceparent: '00-zzzz-1234-01' } });
    const m = TRACEPARENT_RE.exec(r.headers.traceparent ?? '');
    assert.ok(m, `traceparent: ${r.headers.traceparent}`);
    assert.notEqual(m[1], '0'.repeat(32));
  });

  it('error responses carry traceparent too', async () => {
    const r = await request({ port: d.port, path: '/nope' });
    assert.equal(r.status, 404);
    assert.ok(TRACEPARENT_RE.test(r.headers.traceparent ?? ''), `traceparent: ${r.headers.traceparent}`);
  });

  it('healthz responses have no traceparent', async () => {
    for (const p of ['/v1.0/healthz', '/v1.0/healthz/outbound', '/v1.0/healthz?appid=other']) {
      const r = await request({ port: d.port, path: p, headers: { traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01` } });
      assert.equal(r.headers.traceparent, undefined, `${p}: ${r.headers.traceparent}`);
    }
  });
});

describe('tracing (samplingRate "0")', () => {
  it('no traceparent on responses', async () => {
    const dir = writeFiles({ 'config.yaml': TRACING_CONFIG(0) });
    const d = await startDaprd({ args: ['--config', path.join(dir, 'config.yaml')] });
    const r = await request({ port: d.port, path: '/v1.0/metadata' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.traceparent, undefined);
    assert.equal(await d.stop(), 0);
  });
});

const PIPELINE_CONFIG = (handlerName) => `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: pipeline
spec:
  httpPipeline:
    handlers:
    - name: ${handlerName}
      type: middleware.http.ratelimit
`;
const RATELIMIT_COMPONENT = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: ratelimit
spec:
  type: middleware.http.ratelimit
  version: v1
  metadata:
  - name: maxRequestsPerSecond
    value: "2"
`;

describe('httpPipeline: ratelimit', () => {
  it('a burst of 10 requests yields some 429 with a JSON error', async () => {
    const cfgDir = writeFiles({ 'config.yaml': PIPELINE_CONFIG('ratelimit') });
    const resDir = writeFiles({ 'ratelimit.yaml': RATELIMIT_COMPONENT });
    const d = await startDaprd({ args: ['--config', path.join(cfgDir, 'config.yaml'), '--resources-path', resDir] });
    await new Promise((r) => setTimeout(r, 1100)); // refill after the start-up health polls
    const rs = await Promise.all(Array.from({ length: 10 }, () => request({ port: d.port, path: '/v1.0/metadata' })));
    const statuses = rs.map((r) => r.status).sort();
    const ok = rs.filter((r) => r.status === 200);
    const limited = rs.filter((r) => r.status === 429);
    assert.equal(ok.length + limited.length, 10, `statuses ${statuses}`);
    assert.ok(limited.length >= 5, `only ${limited.length} of 10 limited at 2 req/s: ${statuses}`);
    assert.ok(ok.length >= 1, `nothing allowed: ${statuses}`);
    assertDaprError(limited[0], 429, 'ERR_TOO_MANY_REQUESTS');
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await request({ port: d.port, path: '/v1.0/metadata' })).status, 200, 'not allowed again after a second');
    assert.equal(await d.stop(), 0);
  });

  it('a handler with no matching component → exit 2, one line naming the handler', async () => {
    const cfgDir = writeFiles({ 'config.yaml': PIPELINE_CONFIG('nosuchlimiter') });
    const r = await runDaprd(['--config', path.join(cfgDir, 'config.yaml')], { defaults: true });
    assert.equal(r.code, 2, `exit code; output:\n${r.lines.join('\n')}`);
    const naming = r.lines.filter((l) => l.includes('nosuchlimiter'));
    assert.equal(naming.length, 1, `lines naming the handler:\n${r.lines.join('\n')}`);
  });
});
