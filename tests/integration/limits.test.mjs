// Limits and timeouts (reliability-ecosystem.md A5, R5, R6, R7, R9; DESIGN.md "Where Remora is
// deliberately better"): 431 header block/count, 414 request line, 413 body, 408 header/body
// timeouts, idle keep-alive close, per-listener connection cap.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  Conn, assertDaprError, bodyJson, raw, req, request, sleep, startDaprd, stopAll,
} from './lib/harness.mjs';

after(stopAll);

const bigHeader = (n) => ({ Host: 'x', 'X-Big': 'a'.repeat(n), Connection: 'close' });

function manyHeaders(count) {
  // `count` header lines in total, Host included
  const h = [['Host', 'x'], ['Connection', 'close']];
  for (let i = h.length; i < count; i++) h.push([`X-H-${i}`, 'v']);
  return h;
}

describe('header block and request line limits (default --read-buffer-size 4Ki)', () => {
  let d;
  before(async () => { d = await startDaprd(); });
  after(async () => assert.equal(await d.stop(), 0));

  it('a 3 KiB header block is accepted', async () => {
    const r = await raw(d.port, req('GET', '/v1.0/healthz', bigHeader(3000)));
    assert.deepEqual(r.statuses, [204]);
  });

  it('a header block over 4 KiB → 431, then close', async () => {
    const r = await raw(d.port, req('GET', '/v1.0/healthz', bigHeader(5000)) + req('GET', '/v1.0/healthz', { Host: 'x' }));
    assert.deepEqual(r.statuses, [431]);
    assert.equal(r.closed, true);
  });

  it('a header block of 64 KiB → 431 (the server does not buffer it all)', async () => {
    const r = await raw(d.port, req('GET', '/v1.0/healthz', bigHeader(64 * 1024)));
    assert.deepEqual(r.statuses, [431]);
    assert.equal(r.closed, true);
  });

  it('100 header lines are accepted', async () => {
    const r = await raw(d.port, req('GET', '/v1.0/healthz', manyHeaders(100)));
    assert.deepEqual(r.statuses, [204]);
  });

  it('101 header lines → 431, then close', async () => {
    const r = await raw(d.port, req('GET', '/v1.0/healthz', manyHeaders(101)));
    assert.deepEqual(r.statuses, [431]);
    assert.equal(r.closed, true);
  });

  it('431 is a Dapr JSON error', async () => {
    const r = await raw(d.port, req('GET', '/v1.0/healthz', bigHeader(5000)));
    assert.equal(r.responses[0]?.status, 431);
    assert.equal(r.responses[0].headers['content-type'], 'application/json');
    assert.equal(typeof bodyJson(r.responses[0]).errorCode, 'string');
  });

  it('a 3000-byte request target is accepted', async () => {
    const r = await raw(d.port, req('GET', `/v1.0/healthz?x=${'a'.repeat(3000)}`, { Host: 'x', Connection: 'close' }));
    assert.deepEqual(r.statuses, [204]);
  });

  it('a request line over 8 KiB → 414, then close', async () => {
    const r = await raw(d.port, req('GET', `/v1.0/healthz?x=${'a'.repeat(9000)}`, { Host: 'x' }) + req('GET', '/v1.0/healthz', { Host: 'x' }));
    assert.deepEqual(r.statuses, [414]);
    assert.equal(r.closed, true);
  });
});

describe('--read-buffer-size 8Ki', () => {
  let d;
  before(async () => { d = await startDaprd({ args: ['--read-buffer-size', '8Ki'] }); });
  after(async () => assert.equal(await d.stop(), 0));

  it('a 6 KiB header block is accepted', async () => {
    const r = await raw(d.port, req('GET', '/v1.0/healthz', bigHeader(6000)));
    assert.deepEqual(r.statuses, [204]);
  });

  it('a header block over 8 KiB → 431', async () => {
    const r = await raw(d.port, req('GET', '/v1.0/healthz', bigHeader(9000)));
    assert.deepEqual(r.statuses, [431]);
    assert.equal(r.closed, true);
  });
});

describe('--max-body-size 1Ki', () => {
  let d;
  before(async () => { d = await startDaprd({ args: ['--max-body-size', '1Ki'] }); });
  after(async () => assert.equal(await d.stop(), 0));

  const put = (key, len, extra = {}) => req('PUT', `/v1.0/metadata/${key}`, { Host: 'x', 'Content-Length': len, Connection: 'close', ...extra }, 'b'.repeat(len));

  it('Content-Length 1024 (the limit) → 204', async () => {
    const r = await raw(d.port, put('atlimit', 1024));
    assert.deepEqual(r.statuses, [204]);
    const m = (await request({ port: d.port, path: '/v1.0/metadata' })).json();
    assert.equal(m.extended.atlimit, 'b'.repeat(1024));
  });

  it('Content-Length 2000 → 413 ERR_BODY_TOO_LARGE', async () => {
    const r = await raw(d.port, put('big', 2000));
    assert.deepEqual(r.statuses, [413]);
    const res = r.responses[0];
    assertDaprError({ status: res.status, headers: res.headers, body: res.body }, 413, 'ERR_BODY_TOO_LARGE');
    const m = (await request({ port: d.port, path: '/v1.0/metadata' })).json();
    assert.equal(m.extended.big, undefined, 'an over-limit body was stored');
  });

  it('Content-Length 1025 → 413', async () => {
    const r = await raw(d.port, put('big1025', 1025));
    assert.deepEqual(r.statuses, [413]);
  });

  it('Content-Length 10 GiB declared → 413 at once (no body sent)', async () => {
    const r = await raw(d.port, req('PUT', '/v1.0/metadata/huge', { Host: 'x', 'Content-Length': 10 * 1024 ** 3 }), { timeoutMs: 3000 });
    assert.deepEqual(r.statuses, [413]);
    assert.ok(r.elapsedMs < 2500, 'waited for the body before answering 413');
  });

  it('chunked body of 2000 bytes → 413', async () => {
    let body = '';
    for (let i = 0; i < 4; i++) body += `1f4\r\n${'c'.repeat(500)}\r\n`;
    body += '0\r\n\r\n';
    const r = await raw(d.port, 'PUT /v1.0/metadata/chunkbig HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' + body);
    assert.deepEqual(r.statuses, [413]);
    const res = r.responses[0];
    assertDaprError({ status: res.status, headers: res.headers, body: res.body }, 413, 'ERR_BODY_TOO_LARGE');
    const m = (await request({ port: d.port, path: '/v1.0/metadata' })).json();
    assert.equal(m.extended.chunkbig, undefined);
  });

  it('chunked body of exactly 1024 bytes → 204', async () => {
    const body = `400\r\n${'d'.repeat(1024)}\r\n0\r\n\r\n`;
    const r = await raw(d.port, 'PUT /v1.0/metadata/chunkok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' + body);
    assert.deepEqual(r.statuses, [204]);
  });
});

describe('timeouts (--http-read-header-timeout 1s --http-read-body-timeout 1s --http-idle-timeout 1s)', () => {
  let d;
  before(async () => {
    d = await startDaprd({
      args: ['--http-read-header-timeout', '1s', '--http-read-body-timeout', '1s', '--http-idle-timeout', '1s'],
    });
  });
  after(async () => assert.equal(await d.stop(), 0));

  it('partial head → 408, then close, not before ~0.8 s', async () => {
    const r = await raw(d.port, 'GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\n', { timeoutMs: 5000 });
    assert.deepEqual(r.statuses, [408]);
    assert.equal(r.closed, true, 'not closed after 408');
    assert.ok(r.closedAtMs >= 800, `closed after ${r.closedAtMs} ms`);
    assert.ok(r.closedAtMs <= 3000, `closed after ${r.closedAtMs} ms`);
  });

  it('slowloris: a head trickled byte by byte still times out ~1 s after it started', async () => {
    const pieces = ['GET /v1.0/healthz HTTP/1.1\r\n'];
    for (let i = 0; i < 12; i++) pieces.push({ data: `X-${i}: y\r\n`, delayMs: 250 });
    const r = await raw(d.port, pieces, { timeoutMs: 6000 });
    assert.deepEqual(r.statuses, [408]);
    assert.equal(r.closed, true);
    assert.ok(r.closedAtMs >= 800 && r.closedAtMs <= 2500, `closed after ${r.closedAtMs} ms`);
  });

  it('body stalls: Content-Length 10 with 3 bytes → 408, then close', async () => {
    const r = await raw(d.port, 'PUT /v1.0/metadata/stall HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc', { timeoutMs: 5000 });
    assert.deepEqual(r.statuses, [408]);
    assert.equal(r.closed, true);
    assert.ok(r.closedAtMs >= 800, `closed after ${r.closedAtMs} ms`);
    assert.ok(r.closedAtMs <= 3000, `closed after ${r.closedAtMs} ms`);
    const m = (await request({ port: d.port, path: '/v1.0/metadata' })).json();
    assert.equal(m.extended.stall, undefined);
  });

  it('chunked body stalls → 408, then close', async () => {
    const r = await raw(d.port, 'PUT /v1.0/metadata/cstall HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab', { timeoutMs: 5000 });
    assert.deepEqual(r.statuses, [408]);
    assert.equal(r.closed, true);
    assert.ok(r.closedAtMs >= 800 && r.closedAtMs <= 3000, `closed after ${r.closedAtMs} ms`);
  });

  it('idle keep-alive connection is closed without any response bytes', async () => {
    const c = await Conn.open(d.port);
    try {
      await c.write(req('GET', '/v1.0/healthz', { Host: 'x' }));
      assert.equal((await c.response()).status, 204);
      const t0 = Date.now();
      const closed = await c.waitClose(4000);
      const after = Date.now() - t0;
      assert.equal(closed, true, 'idle connection not closed');
      assert.ok(after >= 800, `closed after ${after} ms idle`);
      assert.ok(after <= 3000, `closed after ${after} ms idle`);
      assert.equal(c.pending().length, 0, `bytes sent on idle close: ${JSON.stringify(c.pending().toString('latin1'))}`);
    } finally {
      c.destroy();
    }
  });

  it('a connection that never sends a byte is closed in time', async () => {
    const r = await raw(d.port, '', { timeoutMs: 5000 });
    assert.equal(r.closed, true, 'silent connection kept open');
    assert.ok(r.closedAtMs <= 3000, `closed after ${r.closedAtMs} ms`);
    assert.ok(r.statuses.length === 0 || (r.statuses.length === 1 && r.statuses[0] === 408), `statuses ${r.statuses}`);
  });

  it('a request arriving within the idle window keeps the connection alive', async () => {
    const c = await Conn.open(d.port);
    try {
      for (let i = 0; i < 4; i++) {
        await c.write(req('GET', '/v1.0/healthz', { Host: 'x' }));
        assert.equal((await c.response()).status, 204, `request ${i}`);
        await sleep(500);
      }
      assert.equal(c.closed, false);
    } finally {
      c.destroy();
    }
  });
});

describe('--http-max-connections 5', () => {
  let d;
  before(async () => { d = await startDaprd({ args: ['--http-max-connections', '5'] }); });
  after(async () => assert.equal(await d.stop(), 0));

  it('connections beyond the cap are closed by the server; the first five are served; recovery', async () => {
    await sleep(300); // let the health-poll connections of start-up finish closing
    const conns = [];
    try {
      for (let i = 0; i < 10; i++) {
        conns.push(await Conn.open(d.port));
        await sleep(30);
      }
      await sleep(1000);
      const open = conns.filter((c) => !c.closed);
      const closed = conns.filter((c) => c.closed);
      assert.equal(closed.length, 5, `${closed.length} of 10 closed by the server`);
      assert.deepEqual(conns.map((c) => c.closed), [false, false, false, false, false, true, true, true, true, true]);
      for (const c of closed) assert.equal(c.pending().length, 0, 'bytes sent on a refused connection');
      for (const c of open) {
        await c.write(req('GET', '/v1.0/healthz', { Host: 'x' }));
        assert.equal((await c.response()).status, 204);
      }
    } finally {
      for (const c of conns) c.destroy();
    }
    await sleep(300);
    const r = await raw(d.port, req('GET', '/v1.0/healthz', { Host: 'x', Connection: 'close' }));
    assert.deepEqual(r.statuses, [204], 'not served after the other connections closed');
    // and the cap is reusable: five at once again
    const again = [];
    try {
      for (let i = 0; i < 5; i++) again.push(await Conn.open(d.port));
      for (const c of again) {
        await c.write(req('GET', '/v1.0/healthz', { Host: 'x' }));
        assert.equal((await c.response()).status, 204);
      }
    } finally {
      for (const c of again) c.destroy();
    }
  });
});
