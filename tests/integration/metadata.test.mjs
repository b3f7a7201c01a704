// GET /v1.0/metadata and PUT /v1.0/metadata/{key} as daprd 1.15 answers them for a sidecar
// without actors, pub/sub or scheduler (pkg/api/http/metadata.go, pkg/api/universal/metadata.go):
// every field and its shape, key order, omitted empty fields, PUT round trips, what the Dapr CLI
// does, and the official JS SDK reading it.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { CommunicationProtocolEnum, DaprClient } from '@dapr/dapr';
import { freePort, raw, req, request, startDaprd, stopAll, writeFiles } from './lib/harness.mjs';

let app;
after(async () => {
  await stopAll();
  if (app) await new Promise((r) => app.close(r));
});

const RESOURCES = {
  'a-ratelimit.yaml': `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: limiter
spec:
  type: middleware.http.ratelimit
  version: v1
  metadata:
  - name: maxRequestsPerSecond
    value: "1000"
`,
  // no spec.version: daprd keeps it empty, so the metadata has no "version" for it
  'b-noversion.yaml': `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: unversioned
spec:
  type: middleware.http.ratelimit
`,
  'c-other-app.yaml': `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: notmine
spec:
  type: middleware.http.ratelimit
  version: v1
scopes:
- someone-else
`,
};

const CONFIG = `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: metaconfig
spec:
  features:
  - name: HotReload
    enabled: true
  - name: NotThisOne
    enabled: false
  - name: ActorStateTTL
    enabled: true
  - name: HotReload
    enabled: true
`;

/** GET /v1.0/metadata: the parsed object and the body as sent. */
async function getMetadata(port) {
  const r = await request({ port, path: '/v1.0/metadata' });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.headers['content-type'], 'application/json');
  assert.ok(r.body.endsWith('}\n'), `body does not end with a newline (json.Encoder): ${JSON.stringify(r.body.slice(-5))}`);
  return { m: r.json(), body: r.body };
}

function put(port, key, body, headers = {}) {
  return request({ port, method: 'PUT', path: `/v1.0/metadata/${key}`, body, headers });
}

describe('GET /v1.0/metadata: a configured, health-checked sidecar', () => {
  let d;
  let appPort;
  before(async () => {
    appPort = await freePort();
    app = http.createServer((rq, rs) => { rs.writeHead(200); rs.end('ok'); });
    await new Promise((r) => app.listen(appPort, '127.0.0.1', r));
    const dir = writeFiles({ 'config.yaml': CONFIG });
    const res = writeFiles(RESOURCES);
    d = await startDaprd({
      args: [
        '--config', `${dir}/config.yaml`, '--resources-path', res,
        '--app-port', String(appPort), '--app-protocol', 'http', '--app-max-concurrency', '7',
        '--enable-app-health-check', '--app-health-check-path', '/healthz',
        '--app-health-probe-interval', '90', '--app-health-probe-timeout', '1500', '--app-health-threshold', '4',
      ],
    });
  });
  after(async () => assert.equal(await d.stop(), 0));

  it('every field, in daprd\'s order, with daprd\'s shapes; empty ones left out', async () => {
    const { m } = await getMetadata(d.port);
    assert.deepEqual(Object.keys(m), [
      'id', 'runtimeVersion', 'enabledFeatures', 'components', 'extended', 'appConnectionProperties', 'actorRuntime',
    ]);
    assert.equal(m.id, d.appId);
    assert.match(m.runtimeVersion, /^1\.15\.\d+$/);
    // listed order, duplicates once, disabled ones out, daprd 1.15's default appended
    assert.deepEqual(m.enabledFeatures, ['HotReload', 'ActorStateTTL', 'SchedulerReminders']);
    // middleware components have no capabilities in daprd (omitempty drops the empty list)
    assert.deepEqual(m.components, [
      { name: 'limiter', type: 'middleware.http.ratelimit', version: 'v1' },
      { name: 'unversioned', type: 'middleware.http.ratelimit' },
    ]);
    assert.deepEqual(m.extended, { daprRuntimeVersion: m.runtimeVersion });
    assert.deepEqual(m.appConnectionProperties, {
      port: appPort,
      protocol: 'http',
      channelAddress: '127.0.0.1',
      maxConcurrency: 7,
      health: { healthCheckPath: '/healthz', healthProbeInterval: '1m30s', healthProbeTimeout: '1.5s', healthThreshold: 4 },
    });
    assert.deepEqual(Object.keys(m.appConnectionProperties.health),
      ['healthCheckPath', 'healthProbeInterval', 'healthProbeTimeout', 'healthThreshold']);
    assert.deepEqual(m.actorRuntime, { runtimeStatus: 'DISABLED', hostReady: false, placement: 'placement: disconnected' });
    for (const k of ['actors', 'subscriptions', 'httpEndpoints', 'scheduler']) assert.ok(!(k in m), `${k} present`);
  });

  it('PUT stores the raw body; a second PUT overwrites; extended keys come sorted', async () => {
    let r = await put(d.port, 'zeta', 'first');
    assert.equal(r.status, 204);
    assert.equal(r.body, '');
    assert.equal((await put(d.port, 'zeta', 'second value')).status, 204);
    assert.equal((await put(d.port, 'Alpha', '{"json": [1, 2]}', { 'Content-Type': 'application/json' })).status, 204);
    assert.equal((await put(d.port, 'empty', '')).status, 204);
    const { m, body } = await getMetadata(d.port);
    assert.deepEqual(m.extended, {
      Alpha: '{"json": [1, 2]}', daprRuntimeVersion: m.runtimeVersion, empty: '', zeta: 'second value',
    });
    // encoding/json sorts map keys by bytes: upper case first
    const ext = body.slice(body.indexOf('"extended":'));
    assert.ok(ext.indexOf('"Alpha"') < ext.indexOf('"daprRuntimeVersion"'), ext);
    assert.ok(ext.indexOf('"empty"') < ext.indexOf('"zeta"'), ext);
    r = await put(d.port, 'daprRuntimeVersion', 'mine');
    assert.equal(r.status, 204);
    assert.equal((await getMetadata(d.port)).m.extended.daprRuntimeVersion, m.runtimeVersion, 'daprd sets it last');
  });

  it('the key is unescaped like daprd\'s route parameters (url.QueryUnescape)', async () => {
    assert.equal((await put(d.port, 'a%20b+c%2Fd', 'v1')).status, 204);
    assert.equal((await getMetadata(d.port)).m.extended['a b c/d'], 'v1');
    const bad = await raw(d.port, req('PUT', '/v1.0/metadata/bad%zz', { Host: 'x', 'Content-Length': '1', Connection: 'close' }, 'v'));
    assert.deepEqual(bad.statuses, [400]);
    assert.equal(bad.responses[0].body.toString(), 'failed to unescape request parameter "key". Error: invalid URL escape "%zz"\n');
  });

  it('invalid UTF-8 in a value comes back as U+FFFD, the JSON stays valid', async () => {
    const r = await request({ port: d.port, method: 'PUT', path: '/v1.0/metadata/bin', body: Buffer.from([0x61, 0xff, 0xfe, 0x62, 0xc3, 0xa9]) });
    assert.equal(r.status, 204);
    assert.equal((await getMetadata(d.port)).m.extended.bin, 'a\ufffd\ufffdbé');
  });

  it('no key, or another verb: the invoke fallback (404 ERR_DIRECT_INVOKE), as in daprd', async () => {
    for (const [method, path] of [['PUT', '/v1.0/metadata/'], ['PUT', '/v1.0/metadata'], ['POST', '/v1.0/metadata/k'], ['GET', '/v1.0/metadata/k']]) {
      const r = await request({ port: d.port, method, path, body: 'x' });
      assert.equal(r.status, 404, `${method} ${path}`);
      assert.equal(r.json().errorCode, 'ERR_DIRECT_INVOKE');
    }
  });

  it('a value over 64 KiB: 413, nothing stored', async () => {
    const r = await put(d.port, 'huge', 'x'.repeat(65 * 1024));
    assert.equal(r.status, 413);
    assert.equal(r.json().errorCode, 'ERR_BODY_TOO_LARGE');
    assert.ok(!('huge' in (await getMetadata(d.port)).m.extended));
  });

  it('what the Dapr CLI does: PUT cliPID, appCommand, appPID with Go\'s client, then reads extended', async () => {
    const goPut = (key, value) => raw(d.port, req('PUT', `/v1.0/metadata/${key}`, {
      Host: `127.0.0.1:${d.port}`, 'User-Agent': 'Go-http-client/1.1', 'Content-Length': String(Buffer.byteLength(value)),
      'Accept-Encoding': 'gzip', Connection: 'close',
    }, value));
    for (const [k, v] of [['cliPID', '4242'], ['appCommand', 'node app.js --port 3000'], ['appPID', '4243']]) {
      assert.deepEqual((await goPut(k, v)).statuses, [204], k);
    }
    const { m } = await getMetadata(d.port);
    assert.equal(m.extended.cliPID, '4242');
    assert.equal(m.extended.appCommand, 'node app.js --port 3000');
    assert.equal(m.extended.appPID, '4243');
  });

  it('the official JS SDK (HTTP) reads and writes it', async () => {
    const client = new DaprClient({ daprHost: '127.0.0.1', daprPort: String(d.port), communicationProtocol: CommunicationProtocolEnum.HTTP, logger: { level: 0 } });
    try {
      assert.equal(await client.metadata.set('sdkKey', 'sdk value'), true);
      const m = await client.metadata.get();
      // the SDK's GetMetadataResponse: id, actors, extended, components[{name,type,version,capabilities}]
      assert.equal(m.id, d.appId);
      assert.equal(m.extended.sdkKey, 'sdk value');
      assert.deepEqual(m.components.map((c) => c.name), ['limiter', 'unversioned']);
      assert.equal(m.actors, undefined, 'daprd omits an empty actors list too');
    } finally {
      await client.stop().catch(() => {});
    }
  });

  it('HEAD is answered like GET, without a body', async () => {
    const r = await request({ port: d.port, method: 'HEAD', path: '/v1.0/metadata' });
    assert.equal(r.status, 200);
    assert.equal(r.body, '');
  });
});

describe('GET /v1.0/metadata: defaults', () => {
  it('no configuration, no components, gRPC app without health checks', async () => {
    const pub = await freePort();
    const d = await startDaprd({ args: ['--dapr-public-port', String(pub)] });
    const { m } = await getMetadata(d.port);
    assert.deepEqual(Object.keys(m), ['id', 'runtimeVersion', 'enabledFeatures', 'extended', 'appConnectionProperties', 'actorRuntime']);
    assert.deepEqual(m.enabledFeatures, ['SchedulerReminders']);
    // Remora's app channel default is gRPC on 50001 (the injector's convention; daprd has none)
    assert.deepEqual(m.appConnectionProperties, { port: 50001, protocol: 'grpc', channelAddress: '127.0.0.1' });
    const p = await request({ port: pub, path: '/v1.0/metadata' });
    assert.equal(p.status, 200);
    assert.deepEqual(p.json(), m);
    assert.equal((await request({ port: pub, method: 'PUT', path: '/v1.0/metadata/k', body: 'v' })).status, 404);
    assert.equal(await d.stop(), 0);
  });

  it('a gRPC app with health checks: no healthCheckPath; --app-port 0: no port', async () => {
    const d = await startDaprd({ args: ['--app-port', '0', '--app-protocol', 'grpc', '--enable-app-health-check'] });
    const { m } = await getMetadata(d.port);
    assert.deepEqual(m.appConnectionProperties, {
      protocol: 'grpc', channelAddress: '127.0.0.1',
      health: { healthProbeInterval: '5s', healthProbeTimeout: '500ms', healthThreshold: 3 },
    });
    assert.equal(await d.stop(), 0);
  });

  it('a Configuration that turns the default feature off: no enabledFeatures at all', async () => {
    const dir = writeFiles({ 'c.yaml': 'spec:\n  features:\n  - name: SchedulerReminders\n    enabled: false\n' });
    const d = await startDaprd({ args: ['--config', `${dir}/c.yaml`] });
    const { m } = await getMetadata(d.port);
    assert.ok(!('enabledFeatures' in m), JSON.stringify(m));
    assert.equal(await d.stop(), 0);
  });
});
