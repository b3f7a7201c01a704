// Service invocation through two sidecars to a plain HTTP app:
// client → daprd A (HTTP API) → daprd B (internal gRPC API, CallLocalStream) → HTTP app.
// Name resolution: the default SQLite resolver, in this file's own HOME (harness).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  assertDaprError, freePort, request, sleep, startDaprd, stopAll, testHomeDir, uniqueAppId, writeFiles,
} from './lib/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const apps = [];

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

// The http app's /big/<n> stream: its 1 MiB pattern repeated.
function bigPattern(n) {
  const unit = pattern(1 << 20);
  const out = Buffer.alloc(n);
  for (let off = 0; off < n; off += unit.length) unit.copy(out, off, 0, Math.min(unit.length, n - off));
  return out;
}

function pattern(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 10)) & 0xff;
  return b;
}

// Waits until A can reach B (B registered in the resolver's table and serving).
async function waitRoute(a, bId) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const r = await request({ port: a.port, path: `/v1.0/invoke/${bId}/method/ping` }).catch(() => null);
    if (r && r.status === 200) return;
    if (Date.now() > deadline) throw new Error(`no route from A to ${bId}: ${r && r.status} ${r && r.body}`);
    await sleep(100);
  }
}

after(async () => {
  await stopAll();
  for (const p of apps) p.kill('SIGTERM');
});

describe('invocation to an HTTP app through two sidecars', () => {
  let app, a, b;
  const aId = uniqueAppId('caller');
  const bId = uniqueAppId('callee');

  before(async () => {
    testHomeDir();
    app = await startHttpApp();
    b = await startDaprd({ appId: bId, args: ['--app-protocol', 'http', '--app-port', String(app.port), '--max-body-size', '8Mi'] });
    a = await startDaprd({ appId: aId, args: ['--app-protocol', 'http', '--app-port', String(await freePort()), '--max-body-size', '8Mi'] });
    await waitRoute(a, bId);
  });

  for (const verb of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']) {
    it(`${verb}: verb, method path, query, headers and content type reach the app`, async () => {
      const body = verb === 'GET' || verb === 'DELETE' ? undefined : 'hello';
      const r = await request({
        port: a.port, method: verb, path: `/v1.0/invoke/${bId}/method/orders/new?x=1&y=two`,
        headers: { 'X-Custom': 'v1', 'Content-Type': 'text/plain', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
        body,
      });
      assert.equal(r.status, 200, r.body);
      const seen = r.json();
      assert.equal(seen.method, verb);
      assert.equal(seen.path, '/orders/new');
      assert.equal(seen.query, 'x=1&y=two');
      assert.equal(seen.headers['x-custom'], 'v1');
      assert.equal(seen.headers['content-type'], 'text/plain');
      assert.equal(seen.headers['dapr-caller-app-id'], aId);
      assert.equal(seen.headers['dapr-callee-app-id'], bId);
      assert.ok(seen.headers['x-forwarded-for'], 'X-Forwarded-For');
      assert.ok(seen.headers.forwarded?.startsWith('for='), 'Forwarded');
      assert.match(seen.headers.traceparent, /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/, 'trace id reaches the app');
      assert.equal(seen.headers['dapr-app-id'], undefined);
      assert.equal(seen.bodyLength, body ? body.length : 0);
    });
  }

  for (const code of [201, 404, 500]) {
    it(`the app's ${code}, headers (two Set-Cookie) and body come back`, async () => {
      const r = await request({ port: a.port, path: `/v1.0/invoke/${bId}/method/status/${code}` });
      assert.equal(r.status, code);
      assert.equal(r.headers['x-status'], String(code));
      assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
      assert.equal(r.body, `status ${code}`);
    });
  }

  it('dapr-app-id header on any path routes to the app (method = the path)', async () => {
    const r = await request({ port: a.port, path: '/some/where?k=v', headers: { 'dapr-app-id': bId } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json().path, '/some/where');
    assert.equal(r.json().query, 'k=v');
  });

  it('Basic-auth form dapr-app-id:<id>@ routes to the app', async () => {
    const auth = 'Basic ' + Buffer.from(`dapr-app-id:${bId}`).toString('base64');
    const r = await request({ port: a.port, path: '/basic/path', headers: { Authorization: auth } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json().path, '/basic/path');
  });

  it('method normalised once: forbidden characters → 400, dot segments cleaned', async () => {
    const bad = await request({ port: a.port, path: `/v1.0/invoke/${bId}/method/a%23b` });
    assert.equal(bad.status, 400);
    assert.equal(bad.json().errorCode, 'ERR_DIRECT_INVOKE');
    const r = await request({ port: a.port, path: `/v1.0/invoke/${bId}/method/admin%2F..%2Fpublic` });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json().path, '/public');
  });

  it('unknown app → 500 ERR_DIRECT_INVOKE naming it', async () => {
    const r = await request({ port: a.port, path: '/v1.0/invoke/nobody-here/method/x' });
    assertDaprError(r, 500, 'ERR_DIRECT_INVOKE');
    assert.match(r.json().message, /nobody-here/);
  });

  it('3 MiB body both ways, byte-exact', async () => {
    const data = pattern(3 << 20);
    const r = await request({
      port: a.port, method: 'POST', path: `/v1.0/invoke/${bId}/method/echo`,
      headers: { 'Content-Type': 'application/octet-stream' }, body: data, timeoutMs: 20000,
    });
    assert.equal(r.status, 200);
    assert.equal(r.buffer.length, data.length);
    assert.equal(createHash('sha256').update(r.buffer).digest('hex'), createHash('sha256').update(data).digest('hex'));
  });

  it('500 concurrent calls with distinct ids: none mixed up', async () => {
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => request({
      port: a.port, method: 'POST', path: `/v1.0/invoke/${bId}/method/echo?id=${i}`,
      headers: { 'Content-Type': 'text/plain' }, body: `call-${i}`, timeoutMs: 30000,
    })));
    results.forEach((r, i) => {
      assert.equal(r.status, 200);
      assert.equal(r.body, `call-${i}`);
    });
  });

  it('self-invocation goes to the own app channel (no network hop)', async () => {
    const r = await request({ port: b.port, path: `/v1.0/invoke/${bId}/method/self/check` });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json().path, '/self/check');
  });

  it('remote sidecar down → 500 ERR_DIRECT_INVOKE after the built-in retries', async () => {
    const d = await startDaprd({ appId: uniqueAppId('gone'), args: ['--app-protocol', 'http', '--app-port', String(app.port)] });
    await waitRoute(a, d.appId);
    // SIGKILL: its name-resolution row stays live until updateInterval passes, as after a crash
    d.proc.kill('SIGKILL');
    await d.exited;
    const t0 = Date.now();
    const r = await request({ port: a.port, path: `/v1.0/invoke/${d.appId}/method/x`, timeoutMs: 15000 });
    const took = Date.now() - t0;
    assertDaprError(r, 500, 'ERR_DIRECT_INVOKE');
    assert.match(r.json().message, /after 3 retries/);
    assert.ok(took >= 2500 && took < 8000, `answered after ${took} ms (3 retries 1 s apart expected)`);
  });

  it('the body limit holds on the callee too', async () => {
    const small = await startDaprd({ appId: uniqueAppId('small'), args: ['--app-protocol', 'http', '--app-port', String(app.port), '--max-body-size', '1Ki'] });
    await waitRoute(a, small.appId);
    const r = await request({ port: a.port, method: 'POST', path: `/v1.0/invoke/${small.appId}/method/echo`, body: Buffer.alloc(4096, 1) });
    assertDaprError(r, 500, 'ERR_DIRECT_INVOKE');
    assert.match(r.json().message, /ResourceExhausted/);
    const ok = await request({ port: a.port, method: 'POST', path: `/v1.0/invoke/${small.appId}/method/echo`, body: 'fits' });
    assert.equal(ok.body, 'fits');
  });

  it('a 64 MiB response streams through both sidecars; each stays under 32 MiB peak RSS', async () => {
    const size = 64 << 20;
    const big = await startDaprd({ appId: uniqueAppId('big'), args: ['--app-protocol', 'http', '--app-port', String(app.port), '--max-body-size', '128Mi'] });
    const caller = await startDaprd({ args: ['--app-protocol', 'http', '--app-port', String(await freePort()), '--max-body-size', '128Mi'] });
    await waitRoute(caller, big.appId);
    const r = await request({ port: caller.port, path: `/v1.0/invoke/${big.appId}/method/big/${size}`, timeoutMs: 60000 });
    assert.equal(r.status, 200);
    assert.equal(r.buffer.length, size);
    assert.equal(createHash('sha256').update(r.buffer).digest('hex'), createHash('sha256').update(bigPattern(size)).digest('hex'));
    const hwm = (pid) => Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
    const peaks = [hwm(caller.proc.pid), hwm(big.proc.pid)];
    console.log(`peak RSS: caller ${(peaks[0] / 1048576).toFixed(1)} MiB, callee ${(peaks[1] / 1048576).toFixed(1)} MiB`);
    if (!process.env.REMORA_SANITIZED) {
      for (const p of peaks) assert.ok(p < 32 << 20, `peak RSS ${(p / 1048576).toFixed(1)} MiB`);
    }
  });

  it('app down → 500 ERR_DIRECT_INVOKE quickly', async () => {
    const c = await startDaprd({ appId: uniqueAppId('noapp'), args: ['--app-protocol', 'http', '--app-port', String(await freePort())] });
    await sleep(300);
    const t0 = Date.now();
    const r = await request({ port: a.port, path: `/v1.0/invoke/${c.appId}/method/x` });
    assertDaprError(r, 500, 'ERR_DIRECT_INVOKE');
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  });
});

describe('app health checks (--enable-app-health-check)', () => {
  it('an app that goes down is reported unhealthy, and healthy again when it is back', async () => {
    const appPort = await freePort();
    const startApp = () => {
      const proc = spawn(process.execPath, [path.join(here, 'apps', 'http-app.mjs'), String(appPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
      apps.push(proc);
      return new Promise((resolve) => proc.stdout.on('data', (d) => { if (String(d).includes('listening')) resolve(proc); }));
    };
    let app = await startApp();
    const id = uniqueAppId('health');
    const b = await startDaprd({
      appId: id,
      args: ['--app-protocol', 'http', '--app-port', String(appPort), '--enable-app-health-check',
        '--app-health-check-path', '/healthz', '--app-health-probe-interval', '1', '--app-health-threshold', '1'],
    });
    const call = () => request({ port: b.port, path: `/v1.0/invoke/${id}/method/x` });
    const until = async (pred, what) => {
      const deadline = Date.now() + 8000;
      for (;;) {
        const r = await call();
        if (pred(r)) return r;
        if (Date.now() > deadline) throw new Error(`${what}: last answer ${r.status} ${r.body}`);
        await sleep(200);
      }
    };
    await until((r) => r.status === 200, 'healthy at start');
    app.kill('SIGKILL');
    // (a call racing the app's death may first see its connection reset)
    const down = await until((r) => r.status === 500 && /healthy state/.test(r.body), 'unhealthy after the app died');
    assert.match(down.json().message, /app is not in a healthy state/);
    app = await startApp();
    await until((r) => r.status === 200, 'healthy again');
    app.kill('SIGTERM');
  });
});

describe('--app-max-concurrency', () => {
  it('calls beyond the limit wait their turn (never rejected)', async () => {
    const app = await startHttpApp();
    const id = uniqueAppId('conc');
    const b = await startDaprd({ appId: id, args: ['--app-protocol', 'http', '--app-port', String(app.port), '--app-max-concurrency', '1'] });
    const t0 = Date.now();
    const rs = await Promise.all([0, 1, 2].map(() => request({ port: b.port, path: `/v1.0/invoke/${id}/method/slow/300`, timeoutMs: 5000 })));
    const took = Date.now() - t0;
    for (const r of rs) assert.equal(r.status, 200);
    assert.ok(took >= 850, `3 calls of 300 ms with a limit of 1 took ${took} ms: not serialised`);
  });
});

describe('spec.appHttpPipeline wraps the HTTP app channel', () => {
  it('a ratelimit component in the callee\'s app pipeline answers 429 for calls over the rate', async () => {
    const app = await startHttpApp();
    const cfgDir = writeFiles({ 'config.yaml': `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: apppipeline
spec:
  appHttpPipeline:
    handlers:
    - name: applimit
      type: middleware.http.ratelimit
` });
    const resDir = writeFiles({ 'applimit.yaml': `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: applimit
spec:
  type: middleware.http.ratelimit
  version: v1
  metadata:
  - name: maxRequestsPerSecond
    value: "2"
` });
    const id = uniqueAppId('piped');
    const b = await startDaprd({ appId: id, args: ['--app-protocol', 'http', '--app-port', String(app.port),
      '--config', path.join(cfgDir, 'config.yaml'), '--resources-path', resDir] });
    const a = await startDaprd({ args: ['--app-protocol', 'http', '--app-port', String(await freePort())] });
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      const r = await request({ port: a.port, path: `/v1.0/invoke/${id}/method/ping` }).catch(() => null);
      if (r && (r.status === 200 || r.status === 429)) break;
      await sleep(100);
    }
    await sleep(1100); // let the bucket refill
    const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => request({ port: a.port, path: `/v1.0/invoke/${id}/method/orders/${i}` })));
    const ok = rs.filter((r) => r.status === 200);
    const limited = rs.filter((r) => r.status === 429);
    assert.ok(ok.length >= 1 && ok.length <= 3, `passed: ${rs.map((r) => r.status)}`);
    assert.equal(ok.length + limited.length, 8, `statuses: ${rs.map((r) => r.status)}`);
    for (const r of ok) assert.match(r.json().path, /^\/orders\/\d$/);
    for (const r of limited) assert.equal(r.json().errorCode, 'ERR_TOO_MANY_REQUESTS');
    void b;
  });
});
