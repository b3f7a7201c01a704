// Listen addresses, the Unix domain socket and the public port (DESIGN.md "Compatibility
// contract"; dapr-behaviour.md §2.5 public server, §2.6 listen addresses and UDS).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  assertDaprError, connectError, freePort, hasIPv6, request, startDaprd, stopAll, tempDir,
} from './lib/harness.mjs';

after(stopAll);

const HEALTHZ = { path: '/v1.0/healthz' };

function nonLoopbackIPv4() {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === 'IPv4' && !a.internal) return a.address;
    }
  }
  return null;
}

describe('default listen addresses are [::1] and 127.0.0.1', () => {
  it('serves /v1.0/healthz on 127.0.0.1', async () => {
    const d = await startDaprd();
    const r = await request({ ...HEALTHZ, port: d.port, host: '127.0.0.1' });
    assert.equal(r.status, 204);
    assert.equal(r.body, '');
    assert.equal(await d.stop(), 0);
  });

  it('serves /v1.0/healthz on ::1', async (t) => {
    if (!(await hasIPv6())) return t.skip('no ::1 on this machine');
    const d = await startDaprd();
    const r = await request({ ...HEALTHZ, port: d.port, host: '::1' });
    assert.equal(r.status, 204);
    assert.equal(await d.stop(), 0);
  });

  it('does not listen on a non-loopback address', async (t) => {
    const ip = nonLoopbackIPv4();
    if (!ip) return t.skip('no non-loopback IPv4 address on this machine');
    const d = await startDaprd();
    assert.equal(await connectError(d.port, ip), 'ECONNREFUSED', `daprd reachable on ${ip}`);
    assert.equal(await d.stop(), 0);
  });
});

describe('--dapr-listen-addresses', () => {
  it('127.0.0.1 only: not on ::1', async (t) => {
    const d = await startDaprd({ args: ['--dapr-listen-addresses', '127.0.0.1'] });
    assert.equal((await request({ ...HEALTHZ, port: d.port })).status, 204);
    if (await hasIPv6()) {
      assert.equal(await connectError(d.port, '::1'), 'ECONNREFUSED');
    }
    assert.equal(await d.stop(), 0);
  });

  it('[::1] only (bracketed IPv6): on ::1, not on 127.0.0.1', async (t) => {
    if (!(await hasIPv6())) return t.skip('no ::1 on this machine');
    const d = await startDaprd({ args: ['--dapr-listen-addresses', '[::1]'], healthHost: '::1' });
    assert.equal((await request({ ...HEALTHZ, port: d.port, host: '::1' })).status, 204);
    assert.equal(await connectError(d.port, '127.0.0.1'), 'ECONNREFUSED');
    assert.equal(await d.stop(), 0);
  });

  it('an address that cannot be bound next to a good one: warning, still serves', async () => {
    const d = await startDaprd({ args: ['--dapr-listen-addresses', '192.0.2.1,127.0.0.1'] });
    assert.equal((await request({ ...HEALTHZ, port: d.port })).status, 204);
    const warn = d.logs.all().find((l) => l.includes('192.0.2.1') && /level="?warn/.test(l));
    assert.ok(warn, `no warning line naming 192.0.2.1; logs:\n${d.logs.text()}`);
    assert.equal(await d.stop(), 0);
  });

  it('every address failing: exits non-zero with an error line', async () => {
    const d = await startDaprd({ args: ['--dapr-listen-addresses', '192.0.2.1'], wait: false });
    const r = await d.waitExit(10000);
    assert.ok(r, `daprd still running with no usable listen address; logs:\n${d.logs.text()}`);
    assert.notEqual(r.code, 0, 'exit code');
    assert.equal(r.signal, null, `killed by ${r.signal}`);
    const line = d.logs.all().find((l) => /level="?(error|fatal)/.test(l));
    assert.ok(line, `no error line; logs:\n${d.logs.text()}`);
    await d.stop();
  });
});

describe('--unix-domain-socket', () => {
  it('serves HTTP on DIR/dapr-<app-id>-http.socket', async () => {
    const dir = tempDir();
    const appId = 'uds-app';
    const sock = path.join(dir, `dapr-${appId}-http.socket`);
    const d = await startDaprd({ appId, args: ['--unix-domain-socket', dir], healthSocket: sock });
    assert.ok(fs.statSync(sock).isSocket(), `${sock} is not a socket`);
    const h = await request({ ...HEALTHZ, socketPath: sock });
    assert.equal(h.status, 204);
    const m = await request({ path: '/v1.0/metadata', socketPath: sock });
    assert.equal(m.status, 200);
    assert.equal(m.json().id, appId);
    const nf = await request({ path: '/v1.0/nothing', socketPath: sock });
    assertDaprError(nf, 404, 'ERR_DIRECT_INVOKE');
    assert.equal(await d.stop(), 0);
  });

  it('HTTP is then not served on the TCP port (daprd: UDS only)', async () => {
    const dir = tempDir();
    const appId = 'uds-only';
    const sock = path.join(dir, `dapr-${appId}-http.socket`);
    const d = await startDaprd({ appId, args: ['--unix-domain-socket', dir], healthSocket: sock });
    assert.equal(await connectError(d.port, '127.0.0.1'), 'ECONNREFUSED');
    assert.equal(await d.stop(), 0);
  });

  it('removes the socket file on shutdown', async () => {
    const dir = tempDir();
    const appId = 'uds-clean';
    const sock = path.join(dir, `dapr-${appId}-http.socket`);
    const d = await startDaprd({ appId, args: ['--unix-domain-socket', dir], healthSocket: sock });
    assert.equal(await d.stop(), 0);
    assert.equal(fs.existsSync(sock), false, `${sock} left behind`);
  });
});

describe('--dapr-public-port', () => {
  it('serves healthz and metadata, 404 for everything else', async () => {
    const pub = await freePort();
    const d = await startDaprd({ args: ['--dapr-public-port', String(pub)] });
    const h = await request({ ...HEALTHZ, port: pub });
    assert.equal(h.status, 204);
    assert.equal(h.body, '');
    assert.equal((await request({ path: '/v1.0/healthz/outbound', port: pub })).status, 204);
    const m = await request({ path: '/v1.0/metadata', port: pub });
    assert.equal(m.status, 200);
    assert.equal(m.json().id, d.appId);

    const s = await request({ method: 'POST', path: '/v1.0/shutdown', port: pub });
    assert.equal(s.status, 404, 'POST /v1.0/shutdown on the public port');
    const inv = await request({ path: '/v1.0/invoke/x/method/y', port: pub });
    assert.equal(inv.status, 404, 'invoke on the public port');
    const hdr = await request({ path: '/y', port: pub, headers: { 'dapr-app-id': 'x' } });
    assert.equal(hdr.status, 404, 'dapr-app-id invoke on the public port');
    const put = await request({ method: 'PUT', path: '/v1.0/metadata/k', port: pub, body: 'v' });
    assert.equal(put.status, 404, 'PUT /v1.0/metadata/k on the public port');

    // the shutdown request above must not have stopped anything
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(d.exitInfo, null, 'daprd exited after POST /v1.0/shutdown on the public port');
    assert.equal((await request({ ...HEALTHZ, port: d.port })).status, 204);
    assert.equal(await d.stop(), 0);
  });
});
