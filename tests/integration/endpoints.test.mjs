// The Dapr HTTP API endpoints of the foundation: healthz, healthz/outbound, metadata (GET, PUT),
// shutdown, and the 404 fallback (dapr-behaviour.md §2.1, §2.5).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  Conn, assertDaprError, bodyJson, freePort, raw, req, request, startDaprd, stopAll, writeFiles,
} from './lib/harness.mjs';

after(stopAll);

const NO_APP_ID = 'failed getting app id either from the URL path or the header dapr-app-id';

const COMPONENTS = {
  'ratelimit.yaml': `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: myratelimit
spec:
  type: middleware.http.ratelimit
  version: v1
  metadata:
  - name: maxRequestsPerSecond
    value: "100"
`,
};

describe('healthz, metadata, fallback', () => {
  let d;
  before(async () => {
    const dir = writeFiles(COMPONENTS);
    d = await startDaprd({ args: ['--resources-path', dir] });
  });
  after(async () => assert.equal(await d.stop(), 0));

  it('GET /v1.0/healthz → 204 with an empty body', async () => {
    const r = await raw(d.port, req('GET', '/v1.0/healthz', { Host: 'x', Connection: 'close' }));
    assert.equal(r.responses.length, 1);
    const res = r.responses[0];
    assert.equal(res.status, 204);
    assert.equal(res.body.length, 0);
    assert.equal(res.headers['content-length'] ?? '0', '0', '204 must not announce a body');
    assert.equal(res.headers['transfer-encoding'], undefined);
  });

  it('GET /v1.0/healthz?appid=<own id> → 204', async () => {
    const r = await request({ port: d.port, path: `/v1.0/healthz?appid=${d.appId}` });
    assert.equal(r.status, 204);
    assert.equal(r.body, '');
  });

  it('GET /v1.0/healthz?appid=other → 500 ERR_HEALTH_APPID_NOT_MATCH', async () => {
    const r = await request({ port: d.port, path: '/v1.0/healthz?appid=other' });
    assertDaprError(r, 500, 'ERR_HEALTH_APPID_NOT_MATCH', 'dapr app-id does not match');
    assert.deepEqual(r.json(), { errorCode: 'ERR_HEALTH_APPID_NOT_MATCH', message: 'dapr app-id does not match' });
  });

  it('GET /v1.0/healthz/outbound → 204', async () => {
    const r = await request({ port: d.port, path: '/v1.0/healthz/outbound' });
    assert.equal(r.status, 204);
    assert.equal(r.body, '');
  });

  it('GET /v1.0/metadata → 200 application/json with Dapr\'s fields', async () => {
    const r = await request({ port: d.port, path: '/v1.0/metadata' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    const m = r.json();
    assert.equal(m.id, d.appId);
    assert.equal(typeof m.runtimeVersion, 'string');
    assert.ok(m.runtimeVersion.length > 0, 'runtimeVersion empty');
    assert.equal(typeof m.extended, 'object');
    assert.equal(typeof m.extended.daprRuntimeVersion, 'string');
    assert.ok(m.extended.daprRuntimeVersion.length > 0, 'extended.daprRuntimeVersion empty');
    assert.ok(Array.isArray(m.enabledFeatures), `enabledFeatures is not an array: ${JSON.stringify(m.enabledFeatures)}`);
    assert.ok(Array.isArray(m.components), `components is not an array: ${JSON.stringify(m.components)}`);
    const byName = Object.fromEntries(m.components.map((c) => [c.name, c]));
    assert.deepEqual(
      { name: byName.myratelimit?.name, type: byName.myratelimit?.type, version: byName.myratelimit?.version },
      { name: 'myratelimit', type: 'middleware.http.ratelimit', version: 'v1' },
      `components: ${JSON.stringify(m.components)}`,
    );
    assert.equal(m.components.length, 1, `components: ${JSON.stringify(m.components)}`);
    assert.equal(typeof m.appConnectionProperties, 'object');
  });

  it('PUT /v1.0/metadata/cliPID "1234" → 204, then extended.cliPID == "1234"', async () => {
    const p = await request({ port: d.port, method: 'PUT', path: '/v1.0/metadata/cliPID', body: '1234' });
    assert.equal(p.status, 204);
    assert.equal(p.body, '');
    const m = (await request({ port: d.port, path: '/v1.0/metadata' })).json();
    assert.equal(m.extended.cliPID, '1234');
    assert.equal(typeof m.extended.daprRuntimeVersion, 'string', 'daprRuntimeVersion kept');
  });

  it('PUT overwrites an earlier value of the same key', async () => {
    assert.equal((await request({ port: d.port, method: 'PUT', path: '/v1.0/metadata/appCommand', body: 'one' })).status, 204);
    assert.equal((await request({ port: d.port, method: 'PUT', path: '/v1.0/metadata/appCommand', body: 'two words' })).status, 204);
    const m = (await request({ port: d.port, path: '/v1.0/metadata' })).json();
    assert.equal(m.extended.appCommand, 'two words');
  });

  it('a PUT value with JSON special characters round-trips', async () => {
    const v = 'a"b\\c\nd\u00e9';
    const p = await request({ port: d.port, method: 'PUT', path: '/v1.0/metadata/weird', body: v });
    assert.equal(p.status, 204);
    const r = await request({ port: d.port, path: '/v1.0/metadata' });
    assert.equal(r.json().extended.weird, v);
  });

  for (const [method, path] of [
    ['GET', '/foo'],
    ['GET', '/v1.0/state/x'],
    ['POST', '/v1.0/publish/p/t'],
    ['DELETE', '/v1.0/metadata'],
    ['GET', '/'],
    ['POST', '/v1.0/healthz'],
  ]) {
    it(`${method} ${path} (no target app id) → 404 ERR_DIRECT_INVOKE`, async () => {
      const r = await request({ port: d.port, method, path });
      assertDaprError(r, 404, 'ERR_DIRECT_INVOKE', NO_APP_ID);
      assert.deepEqual(r.json(), { errorCode: 'ERR_DIRECT_INVOKE', message: NO_APP_ID });
    });
  }

  it('path cleaning as daprd (CleanPath, StripSlashes): //v1.0//healthz/ → 204', async () => {
    const r = await raw(d.port, req('GET', '//v1.0//healthz/', { Host: 'x', Connection: 'close' }));
    assert.deepEqual(r.statuses, [204]);
  });

  it('a keep-alive connection stays usable after an error response', async () => {
    const c = await Conn.open(d.port);
    try {
      await c.write(req('GET', '/nope', { Host: 'x' }));
      const e = await c.response();
      assert.equal(e.status, 404);
      assert.equal(bodyJson(e).errorCode, 'ERR_DIRECT_INVOKE');
      await c.write(req('GET', '/v1.0/healthz', { Host: 'x' }));
      assert.equal((await c.response()).status, 204);
    } finally {
      c.destroy();
    }
  });
});

describe('appConnectionProperties', () => {
  it('port, protocol, channelAddress and health when the app health check is enabled', async () => {
    const appPort = await freePort();
    const d = await startDaprd({
      args: [
        '--app-port', String(appPort), '--app-protocol', 'http',
        '--enable-app-health-check', '--app-health-check-path', '/health',
        '--app-health-probe-interval', '7', '--app-health-probe-timeout', '900',
        '--app-health-threshold', '4',
      ],
    });
    const m = (await request({ port: d.port, path: '/v1.0/metadata' })).json();
    const a = m.appConnectionProperties;
    assert.equal(a.port, appPort);
    assert.equal(a.protocol, 'http');
    assert.equal(a.channelAddress, '127.0.0.1');
    assert.deepEqual(a.health, {
      healthCheckPath: '/health', healthProbeInterval: '7s', healthProbeTimeout: '900ms', healthThreshold: 4,
    });
    assert.equal(await d.stop(), 0);
  });

  it('defaults: /healthz, 5s, 500ms, 3', async () => {
    const appPort = await freePort();
    const d = await startDaprd({
      args: ['--app-port', String(appPort), '--app-protocol', 'http', '--enable-app-health-check'],
    });
    const m = (await request({ port: d.port, path: '/v1.0/metadata' })).json();
    assert.deepEqual(m.appConnectionProperties.health, {
      healthCheckPath: '/healthz', healthProbeInterval: '5s', healthProbeTimeout: '500ms', healthThreshold: 3,
    });
    assert.equal(await d.stop(), 0);
  });
});

describe('POST /v1.0/shutdown', () => {
  it('answers 204 and the process exits 0 within the grace period', async () => {
    const d = await startDaprd({ args: ['--dapr-graceful-shutdown-seconds', '2'] });
    const t0 = Date.now();
    const r = await request({ port: d.port, method: 'POST', path: '/v1.0/shutdown' });
    assert.equal(r.status, 204);
    assert.equal(r.body, '');
    const e = await d.waitExit(3000);
    assert.ok(e, `still running ${Date.now() - t0} ms after POST /v1.0/shutdown`);
    assert.equal(e.code, 0);
    assert.equal(await d.stop(), 0);
  });
});
