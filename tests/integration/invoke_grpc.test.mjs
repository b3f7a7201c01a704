// Service invocation through two sidecars to a gRPC app written with gRPC C core
// (tests/support/grpc_app.c): client → daprd A → daprd B → AppCallback/OnInvoke.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  freePort, request, sleep, startDaprd, stopAll, uniqueAppId,
} from './lib/harness.mjs';

const GRPC_APP = process.env.GRPC_APP;
const apps = [];

async function startGrpcApp() {
  const port = await freePort();
  const proc = spawn(GRPC_APP, [String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  apps.push(proc);
  await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => { if (String(d).includes('listening')) resolve(); });
    proc.on('exit', (c) => reject(new Error(`grpc app exited ${c}`)));
  });
  return { port, proc };
}

after(async () => {
  await stopAll();
  for (const p of apps) p.kill('SIGTERM');
});

describe('invocation to a gRPC app (gRPC C core) through two sidecars', () => {
  let a, b;
  const bId = uniqueAppId('grpcapp');

  before(async () => {
    const app = await startGrpcApp();
    b = await startDaprd({ appId: bId, args: ['--app-protocol', 'grpc', '--app-port', String(app.port), '--max-body-size', '8Mi'] });
    a = await startDaprd({ args: ['--app-protocol', 'http', '--app-port', String(await freePort()), '--max-body-size', '8Mi'] });
    const deadline = Date.now() + 10000;
    for (;;) {
      const r = await request({ port: a.port, path: `/v1.0/invoke/${bId}/method/ping` }).catch(() => null);
      if (r && r.status === 200) break;
      if (Date.now() > deadline) throw new Error(`no route to ${bId}`);
      await sleep(100);
    }
  });

  it('method, verb, query string, content type and metadata reach OnInvoke', async () => {
    const r = await request({
      port: a.port, method: 'POST', path: `/v1.0/invoke/${bId}/method/orders/new?x=1`,
      headers: { 'X-Custom': 'v1', 'Content-Type': 'text/plain', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      body: 'hello',
    });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['content-type'], 'application/json');
    const seen = r.json();
    assert.equal(seen.method, 'orders/new');
    assert.equal(seen.verb, 3); // HTTPExtension.Verb POST
    assert.equal(seen.querystring, 'x=1');
    assert.equal(seen.contentType, 'text/plain');
    assert.equal(seen.dataLength, 5);
    assert.equal(seen.metadata['x-custom'], 'v1', 'metadata keys are lower case');
    assert.equal(seen.metadata['dapr-caller-app-id'], a.appId);
    assert.equal(seen.metadata['dapr-callee-app-id'], bId);
    assert.match(seen.metadata.traceparent, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
  });

  for (const [code, http] of [[3, 400], [5, 404], [7, 403], [13, 500], [14, 503], [16, 401]]) {
    it(`app error code ${code} → HTTP ${http} with the Status as JSON`, async () => {
      const r = await request({ port: a.port, path: `/v1.0/invoke/${bId}/method/error/${code}` });
      assert.equal(r.status, http);
      assert.deepEqual(r.json(), { code, message: `app error ${code}`, details: [] });
    });
  }

  it('3 MiB body both ways, byte-exact, content type kept', async () => {
    const data = Buffer.alloc(3 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff;
    const r = await request({
      port: a.port, method: 'POST', path: `/v1.0/invoke/${bId}/method/echo`,
      headers: { 'Content-Type': 'application/x-test' }, body: data, timeoutMs: 20000,
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/x-test');
    assert.equal(createHash('sha256').update(r.buffer).digest('hex'), createHash('sha256').update(data).digest('hex'));
  });

  it('200 concurrent calls, none mixed up', async () => {
    const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => request({
      port: a.port, method: 'POST', path: `/v1.0/invoke/${bId}/method/echo`,
      headers: { 'Content-Type': 'text/plain' }, body: `n${i}`, timeoutMs: 20000,
    })));
    rs.forEach((r, i) => assert.equal(r.body, `n${i}`));
  });
});
