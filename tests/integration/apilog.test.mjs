// API logging as daprd 1.15 writes it (pkg/api/http/server.go useAPILogging): one "HTTP API
// Called" line at info, scope dapr.runtime.http-info, with method, useragent, code, size and
// duration; --enable-api-logging over spec.logging.apiLogging.enabled; obfuscateURLs and
// omitHealthChecks; text and JSON forms.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { request, startDaprd, stopAll, writeFiles } from './lib/harness.mjs';

after(stopAll);

const MSG = 'HTTP API Called';

function jsonCalls(d) {
  return d.logs.stdout.map((l) => { try { return JSON.parse(l); } catch { return null; } })
    .filter((j) => j && j.msg === MSG);
}

function textCalls(d) {
  return d.logs.stdout.filter((l) => l.includes(`msg="${MSG}"`));
}

// The harness polls /v1.0/healthz until the sidecar is up; a poll's line may be written just
// after its answer arrived, so tests that count lines leave health checks out.
const notHealth = (pick) => (d) => pick(d).filter((l) => !(typeof l === 'string' ? l : l.method).includes('healthz'));
const textApi = notHealth(textCalls);
const jsonApi = notHealth(jsonCalls);

/** Waits until `n` API log lines were written (they come when each exchange ends). */
async function waitCalls(d, n, pick = textCalls) {
  const deadline = Date.now() + 5000;
  while (pick(d).length < n) {
    if (Date.now() > deadline) assert.fail(`expected ${n} API log lines:\n${d.logs.text()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return pick(d);
}

function config(apiLogging) {
  const dir = writeFiles({ 'c.yaml': `apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: c\nspec:\n  logging:\n    apiLogging:\n${apiLogging}` });
  return `${dir}/c.yaml`;
}

describe('--enable-api-logging', () => {
  it('text: one line per call with daprd\'s fields in logrus order', async () => {
    const d = await startDaprd({ args: ['--enable-api-logging'] });
    const m = await request({ port: d.port, path: '/v1.0/metadata?x=1', headers: { 'User-Agent': 'tester/1.0' } });
    assert.equal(m.status, 200);
    const calls = await waitCalls(d, 1, textApi);
    assert.equal(calls.length, 1, calls.join('\n'));
    const size = Buffer.byteLength(m.body);
    const re = new RegExp(`^time="[0-9T:.-]+Z" level=info msg="${MSG}" app_id=${d.appId} code=200 duration=\\d+ `
      + `instance=\\S+ method="GET /v1.0/metadata" scope=dapr.runtime.http-info size=${size} type=log `
      + 'useragent=tester/1.0 ver=\\S+$');
    assert.match(calls[0], re);
    assert.equal(await d.stop(), 0);
  });

  it('JSON: numbers for code, size and duration; every call, answered or not, reaches the log', async () => {
    const d = await startDaprd({ args: ['--enable-api-logging', '--log-as-json'] });
    const ua = { 'User-Agent': 'json-test' };
    const get = await request({ port: d.port, path: '/v1.0/metadata', headers: ua });
    const put = await request({ port: d.port, method: 'PUT', path: '/v1.0/metadata/k%20x', body: 'v', headers: ua });
    const miss = await request({ port: d.port, path: '/nothing/here', headers: ua });
    const inv = await request({ port: d.port, method: 'POST', path: '/v1.0/invoke/nosuchapp/method/a%2Fb', body: '{}', headers: ua });
    assert.deepEqual([get.status, put.status, miss.status], [200, 204, 404]);
    const calls = await waitCalls(d, 4, jsonApi);
    const by = Object.fromEntries(calls.map((c) => [c.method, c]));
    assert.deepEqual(Object.keys(by).sort(), [
      'GET /nothing/here', 'GET /v1.0/metadata', 'POST /v1.0/invoke/nosuchapp/method/a/b', 'PUT /v1.0/metadata/k x',
    ]);
    const g = by['GET /v1.0/metadata'];
    assert.deepEqual(Object.keys(g).sort(), ['app_id', 'code', 'duration', 'instance', 'level', 'method', 'msg', 'scope',
      'size', 'time', 'type', 'useragent', 'ver']);
    assert.deepEqual(Object.keys(g), Object.keys(g).sort(), 'keys sorted like encoding/json writes a map');
    assert.equal(g.level, 'info');
    assert.equal(g.scope, 'dapr.runtime.http-info');
    assert.equal(g.type, 'log');
    assert.equal(g.app_id, d.appId);
    assert.equal(g.useragent, 'json-test');
    assert.equal(g.code, 200);
    assert.equal(g.size, Buffer.byteLength(get.body));
    assert.equal(typeof g.duration, 'number');
    assert.equal(by['PUT /v1.0/metadata/k x'].code, 204);
    assert.equal(by['PUT /v1.0/metadata/k x'].size, 0);
    assert.equal(by['GET /nothing/here'].code, 404);
    assert.equal(by['GET /nothing/here'].size, Buffer.byteLength(miss.body));
    assert.equal(by['POST /v1.0/invoke/nosuchapp/method/a/b'].code, inv.status);
    assert.equal(await d.stop(), 0);
  });

  it('health checks are logged unless omitHealthChecks; no useragent field without the header', async () => {
    const d = await startDaprd({ args: ['--enable-api-logging', '--log-as-json'] });
    // the harness polled until 204; earlier polls may have got 500 while starting
    const h = JSON.parse(await d.logs.waitFor(/"code":204,.*"method":"GET \/v1\.0\/healthz"/));
    assert.ok(!('useragent' in h), 'node:http sends no User-Agent');
    assert.equal(await d.stop(), 0);
  });

  it('requests answered by the middleware before it are not logged (401), as in daprd', async () => {
    const d = await startDaprd({ args: ['--enable-api-logging', '--log-as-json'], env: { DAPR_API_TOKEN: 'tok' } });
    assert.equal((await request({ port: d.port, path: '/v1.0/metadata' })).status, 401);
    assert.equal((await request({ port: d.port, path: '/v1.0/metadata', headers: { 'dapr-api-token': 'tok' } })).status, 200);
    await waitCalls(d, 1, jsonApi);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(jsonApi(d).map((c) => [c.method, c.code]), [['GET /v1.0/metadata', 200]]);
    assert.equal(await d.stop(), 0);
  });

  it('--log-level warn does not hide it (daprd pins its API logger at info)', async () => {
    const d = await startDaprd({ args: ['--enable-api-logging', '--log-level', 'warn'] });
    await request({ port: d.port, path: '/v1.0/metadata' });
    const calls = await waitCalls(d, 1, textApi);
    assert.ok(calls.some((l) => l.includes('method="GET /v1.0/metadata"')), calls.join('\n'));
    assert.ok(!d.logs.stdout.some((l) => l.includes('level=info') && !l.includes(MSG)), 'other info lines hidden');
    assert.equal(await d.stop(), 0);
  });
});

describe('spec.logging.apiLogging', () => {
  it('enabled + obfuscateURLs + omitHealthChecks: endpoint names, no health lines', async () => {
    const cfg = config('      enabled: true\n      obfuscateURLs: true\n      omitHealthChecks: true\n');
    const d = await startDaprd({ args: ['--config', cfg] });
    await request({ port: d.port, path: '/v1.0/metadata' });
    await request({ port: d.port, method: 'PUT', path: '/v1.0/metadata/secret-key', body: 'v' });
    await request({ port: d.port, method: 'POST', path: '/v1.0/invoke/orders.prod/method/private/path', body: '{}' });
    await request({ port: d.port, path: '/anything', headers: { 'dapr-app-id': 'billing' } });
    await request({ port: d.port, path: '/no/target' });
    await request({ port: d.port, path: '/v1.0/healthz' });
    await request({ port: d.port, path: '/v1.0/healthz/outbound' });
    const calls = await waitCalls(d, 5);
    await new Promise((r) => setTimeout(r, 200));
    // lines come in the order the exchanges end: the failed invocations take longer
    const methods = textCalls(d).map((l) => /method=("[^"]*"|\S+)/.exec(l)[1]).sort();
    assert.deepEqual(methods, ['GetMetadata', 'InvokeService', 'InvokeService/billing', 'InvokeService/orders.prod', 'PutMetadata']);
    for (const l of calls) {
      assert.ok(!l.includes('secret-key') && !l.includes('private/path') && !l.includes('/v1.0/'), l);
    }
    assert.equal(await d.stop(), 0);
  });

  it('obfuscateURLs keeps health checks by default (Healthz, HealthzOutbound)', async () => {
    const d = await startDaprd({ args: ['--config', config('      enabled: true\n      obfuscateURLs: true\n'), '--log-as-json'] });
    await request({ port: d.port, path: '/v1.0/healthz/outbound' });
    await d.logs.waitFor(/"method":"HealthzOutbound"/);
    const methods = new Set(jsonCalls(d).map((c) => c.method));
    assert.ok(methods.has('Healthz') && methods.has('HealthzOutbound'), [...methods].join(','));
    assert.equal(await d.stop(), 0);
  });

  it('the flag wins over the file: --enable-api-logging=false with enabled: true logs nothing', async () => {
    const d = await startDaprd({ args: ['--config', config('      enabled: true\n'), '--enable-api-logging=false'] });
    await request({ port: d.port, path: '/v1.0/metadata' });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await d.stop(), 0);
    assert.equal(textCalls(d).length, 0, d.logs.text());
  });

  it('and --enable-api-logging with enabled: false logs', async () => {
    const d = await startDaprd({ args: ['--config', config('      enabled: false\n'), '--enable-api-logging'] });
    await request({ port: d.port, path: '/v1.0/metadata' });
    await waitCalls(d, 2);
    assert.equal(await d.stop(), 0);
  });
});
