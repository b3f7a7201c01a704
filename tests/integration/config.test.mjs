// Command line, configuration files and logs (dapr-behaviour.md §4, §5; DESIGN.md "Compatibility
// contract": invalid values → clear message, exit 2; unknown `dapr run` flags → warning).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  freePort, request, runDaprd, sleep, startDaprd, stopAll, tempDir, writeFiles,
} from './lib/harness.mjs';

after(stopAll);

const RATELIMIT_COMPONENT = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: limiter
spec:
  type: middleware.http.ratelimit
  version: v1
  metadata:
  - name: maxRequestsPerSecond
    value: "100"
`;

describe('invalid command lines exit 2 with one line', () => {
  for (const [args, mention] of [
    [['--dapr-http-port', '35x'], 'dapr-http-port'],
    [['--dapr-http-port', '70000'], 'dapr-http-port'],
    [['--app-protocol', 'foo'], 'app-protocol'],
    [['--max-body-size', '4Qi'], 'max-body-size'],
    [['--read-buffer-size', 'lots'], 'read-buffer-size'],
    [['--nope'], 'nope'],
    [['--log-level', 'loud'], 'log-level'],
    [['--dapr-graceful-shutdown-seconds', 'soon'], 'dapr-graceful-shutdown-seconds'],
    [['--log-level'], 'log-level'],
  ]) {
    it(args.join(' '), async () => {
      const r = await runDaprd(args, { defaults: true });
      assert.equal(r.code, 2, `exit code; output:\n${r.lines.join('\n')}`);
      assert.equal(r.lines.length, 1, `expected one line, got:\n${r.lines.join('\n')}`);
      assert.ok(r.lines[0].includes(mention), `line does not name ${mention}: ${r.lines[0]}`);
    });
  }
});

describe('--config files', () => {
  it('malformed YAML → exit 2, message names the file and line:column', async () => {
    const dir = writeFiles({
      'broken-config.yaml': 'apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: x\nspec:\n  tracing: [unclosed\n  other: {a: b\n',
    });
    const r = await runDaprd(['--config', path.join(dir, 'broken-config.yaml')], { defaults: true });
    assert.equal(r.code, 2, `exit code; output:\n${r.lines.join('\n')}`);
    const line = r.lines.find((l) => l.includes('broken-config.yaml'));
    assert.ok(line, `no line names the file:\n${r.lines.join('\n')}`);
    assert.match(line, /\d+:\d+/, 'no line:column');
  });

  it('tab-indented YAML → exit 2 with line:column', async () => {
    const dir = writeFiles({ 'tabs.yaml': 'apiVersion: dapr.io/v1alpha1\nkind: Configuration\nspec:\n\ttracing:\n\t\tsamplingRate: "1"\n' });
    const r = await runDaprd(['--config', path.join(dir, 'tabs.yaml')], { defaults: true });
    assert.equal(r.code, 2, `exit code; output:\n${r.lines.join('\n')}`);
    const line = r.lines.find((l) => l.includes('tabs.yaml'));
    assert.ok(line, `no line names the file:\n${r.lines.join('\n')}`);
    assert.match(line, /\d+:\d+/);
  });

  it('a --config path that does not exist → exit 2 naming it', async () => {
    const p = path.join(tempDir(), 'missing.yaml');
    const r = await runDaprd(['--config', p], { defaults: true });
    assert.equal(r.code, 2, `exit code; output:\n${r.lines.join('\n')}`);
    assert.ok(r.lines.some((l) => l.includes('missing.yaml')), r.lines.join('\n'));
  });

  it('a --config path that is a directory → exit 2', async () => {
    const r = await runDaprd(['--config', tempDir()], { defaults: true });
    assert.equal(r.code, 2, `exit code; output:\n${r.lines.join('\n')}`);
  });

  it('a valid Configuration is accepted', async () => {
    const dir = writeFiles({
      'ok.yaml': 'apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: ok\nspec:\n  tracing:\n    samplingRate: "1"\n  metric:\n    enabled: false\n',
    });
    const d = await startDaprd({ args: ['--config', path.join(dir, 'ok.yaml')] });
    assert.equal(await d.stop(), 0);
  });
});

describe('--version and --help', () => {
  it('--version prints a version and exits 0', async () => {
    const r = await runDaprd(['--version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /\d+\.\d+\.\d+/);
  });

  it('--help exits 0 and mentions --app-id', async () => {
    const r = await runDaprd(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout + r.stderr, /--app-id/);
  });
});

describe('compatibility with dapr run', () => {
  it('deprecated --components-path works and logs a deprecation warning', async () => {
    const dir = writeFiles({ 'limiter.yaml': RATELIMIT_COMPONENT });
    const d = await startDaprd({ args: ['--components-path', dir] });
    const m = (await request({ port: d.port, path: '/v1.0/metadata' })).json();
    assert.deepEqual(m.components?.map((c) => c.name), ['limiter']);
    const warn = d.logs.all().find((l) => l.includes('components-path') && /deprecat/i.test(l));
    assert.ok(warn, `no deprecation warning:\n${d.logs.text()}`);
    assert.match(warn, /level="?warn/);
    assert.equal(await d.stop(), 0);
  });

  it('--enable-profiling is accepted with a warning', async () => {
    const d = await startDaprd({ args: ['--enable-profiling'] });
    const warn = d.logs.all().find((l) => l.includes('enable-profiling'));
    assert.ok(warn, `no warning naming --enable-profiling:\n${d.logs.text()}`);
    assert.match(warn, /level="?warn/);
    assert.equal(await d.stop(), 0);
  });

  it('single-dash long flags are accepted (-app-id, -dapr-http-port)', async () => {
    const port = await freePort();
    const d = await startDaprd({
      defaults: false, port, appId: 'dash',
      args: ['-app-id', 'dash', '-dapr-http-port', String(port), '-dapr-internal-grpc-port', String(await freePort()),
        '-dapr-grpc-port', String(await freePort()), '-enable-metrics=false'],
    });
    assert.equal((await request({ port, path: '/v1.0/metadata' })).json().id, 'dash');
    assert.equal(await d.stop(), 0);
  });
});

describe('logs', () => {
  it('--log-as-json: every stdout line is a JSON object with Dapr\'s fields', async () => {
    const d = await startDaprd({ args: ['--log-as-json'] });
    await request({ port: d.port, path: '/v1.0/metadata' });
    assert.equal(await d.stop(), 0);
    const lines = d.logs.stdout.filter((l) => l.trim() !== '');
    assert.ok(lines.length > 0, 'no log lines on stdout');
    for (const l of lines) {
      let j;
      try { j = JSON.parse(l); } catch { assert.fail(`not JSON: ${l}`); }
      for (const k of ['time', 'level', 'type', 'msg', 'scope', 'instance', 'app_id', 'ver']) {
        assert.ok(k in j, `field ${k} missing: ${l}`);
      }
      assert.equal(j.type, 'log', l);
      assert.equal(j.app_id, d.appId, l);
      assert.ok(['debug', 'info', 'warning', 'error', 'fatal'].includes(j.level), `level ${j.level}`);
      assert.ok(!Number.isNaN(Date.parse(j.time)), `time ${j.time}`);
      assert.ok(String(j.ver).length > 0);
    }
  });

  it('default text logs carry time=, level=, msg=, app_id=', async () => {
    const d = await startDaprd();
    assert.equal(await d.stop(), 0);
    const lines = d.logs.stdout.filter((l) => l.trim() !== '');
    assert.ok(lines.length > 0, 'no log lines on stdout');
    for (const l of lines) {
      for (const k of ['time=', 'level=', 'msg=', 'app_id=']) assert.ok(l.includes(k), `${k} missing: ${l}`);
      assert.ok(l.includes(`app_id=${d.appId}`), l);
    }
  });

  it('--log-level warn: no info lines', async () => {
    const d = await startDaprd({ args: ['--log-level', 'warn', '--log-as-json'] });
    assert.equal(await d.stop(), 0);
    for (const l of d.logs.stdout.filter((x) => x.trim() !== '')) {
      const j = JSON.parse(l);
      assert.ok(!['debug', 'info'].includes(j.level), l);
    }
  });

  it('--enable-api-logging: one "HTTP API Called" line per API call', async () => {
    const d = await startDaprd({ args: ['--enable-api-logging', '--log-as-json'] });
    assert.equal((await request({ port: d.port, path: '/v1.0/metadata' })).status, 200);
    assert.equal((await request({ port: d.port, method: 'PUT', path: '/v1.0/metadata/k', body: 'v' })).status, 204);
    await sleep(300);
    assert.equal(await d.stop(), 0);
    const calls = d.logs.stdout.map((l) => { try { return JSON.parse(l); } catch { return null; } })
      .filter((j) => j && j.msg === 'HTTP API Called');
    const get = calls.filter((j) => j.method === 'GET /v1.0/metadata');
    assert.equal(get.length, 1, `GET lines: ${JSON.stringify(calls)}`);
    assert.equal(calls.filter((j) => j.method === 'PUT /v1.0/metadata/k').length, 1, JSON.stringify(calls));
    assert.equal(get[0].scope, 'dapr.runtime.http-info');
    assert.equal(get[0].app_id, d.appId);
  });

  it('--enable-api-logging in text format', async () => {
    const d = await startDaprd({ args: ['--enable-api-logging'] });
    await request({ port: d.port, path: '/v1.0/metadata' });
    await sleep(300);
    assert.equal(await d.stop(), 0);
    const lines = d.logs.stdout.filter((l) => l.includes('HTTP API Called') && l.includes('GET /v1.0/metadata'));
    assert.equal(lines.length, 1, d.logs.stdout.join('\n'));
    assert.match(lines[0], /method="GET \/v1\.0\/metadata"/);
  });

  it('without --enable-api-logging: no "HTTP API Called" lines', async () => {
    const d = await startDaprd();
    await request({ port: d.port, path: '/v1.0/metadata' });
    await sleep(200);
    assert.equal(await d.stop(), 0);
    assert.equal(d.logs.all().filter((l) => l.includes('HTTP API Called')).length, 0);
  });
});
