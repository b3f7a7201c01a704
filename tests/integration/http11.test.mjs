// HTTP/1.1 connection mechanics on the API port: keep-alive, pipelining, HTTP/1.0, Connection:
// close, HEAD, chunked request bodies, Expect: 100-continue, bodies arriving in pieces
// (RFC 9112 §9.3, §9.3.2, §7.1; RFC 9110 §10.1.1).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Conn, bodyJson, raw, req, request, sleep, startDaprd, stopAll } from './lib/harness.mjs';

after(stopAll);

describe('HTTP/1.1 connection handling', () => {
  let d;
  before(async () => { d = await startDaprd(); });
  after(async () => assert.equal(await d.stop(), 0));

  const metadata = async () => (await request({ port: d.port, path: '/v1.0/metadata' })).json();

  it('keep-alive: three requests on one connection', async () => {
    const c = await Conn.open(d.port);
    try {
      await c.write(req('GET', '/v1.0/healthz', { Host: 'x' }));
      assert.equal((await c.response()).status, 204);
      await c.write(req('GET', '/v1.0/metadata', { Host: 'x' }));
      const m = await c.response();
      assert.equal(m.status, 200);
      assert.equal(bodyJson(m).id, d.appId);
      await c.write(req('GET', '/v1.0/healthz?appid=other', { Host: 'x' }));
      const e = await c.response();
      assert.equal(e.status, 500);
      assert.equal(bodyJson(e).errorCode, 'ERR_HEALTH_APPID_NOT_MATCH');
      assert.equal(c.closed, false, 'server closed a keep-alive connection');
      assert.equal(c.pending().length, 0, 'extra bytes after the third response');
    } finally {
      c.destroy();
    }
  });

  it('pipelining: three requests in one write are answered in order', async () => {
    const bytes = req('GET', '/v1.0/healthz', { Host: 'x' })
      + req('GET', '/v1.0/metadata', { Host: 'x' })
      + req('GET', '/v1.0/healthz?appid=other', { Host: 'x', Connection: 'close' });
    const r = await raw(d.port, bytes);
    assert.deepEqual(r.statuses, [204, 200, 500]);
    assert.ok(r.responses.every((x) => x.complete), 'incomplete response');
    assert.equal(bodyJson(r.responses[1]).id, d.appId);
    assert.equal(bodyJson(r.responses[2]).errorCode, 'ERR_HEALTH_APPID_NOT_MATCH');
    assert.equal(r.closed, true, 'Connection: close on the last request not honoured');
  });

  it('pipelining: a PUT with a body between two GETs', async () => {
    const bytes = req('GET', '/v1.0/healthz', { Host: 'x' })
      + req('PUT', '/v1.0/metadata/pipelined', { Host: 'x', 'Content-Length': 3 }, 'abc')
      + req('GET', '/v1.0/metadata', { Host: 'x', Connection: 'close' });
    const r = await raw(d.port, bytes);
    assert.deepEqual(r.statuses, [204, 204, 200]);
    assert.equal(bodyJson(r.responses[2]).extended.pipelined, 'abc');
  });

  it('HTTP/1.0 without keep-alive: the server closes after the response', async () => {
    const r = await raw(d.port, 'GET /v1.0/healthz HTTP/1.0\r\n\r\n');
    assert.deepEqual(r.statuses, [204]);
    assert.equal(r.closed, true, 'HTTP/1.0 connection left open');
    assert.ok(r.elapsedMs < 2000);
  });

  it('HTTP/1.0 with Connection: keep-alive: the connection stays open', async () => {
    const c = await Conn.open(d.port);
    try {
      await c.write('GET /v1.0/healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
      const r1 = await c.response();
      assert.equal(r1.status, 204);
      await c.write('GET /v1.0/metadata HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
      const r2 = await c.response();
      assert.equal(r2.status, 200);
      assert.ok('content-length' in r2.headers, 'HTTP/1.0 keep-alive response needs Content-Length');
      assert.equal(bodyJson(r2).id, d.appId);
      assert.equal(c.closed, false);
    } finally {
      c.destroy();
    }
  });

  it('HTTP/1.0 response bodies are not chunked', async () => {
    const r = await raw(d.port, 'GET /v1.0/metadata HTTP/1.0\r\n\r\n');
    assert.deepEqual(r.statuses, [200]);
    assert.equal(r.responses[0].headers['transfer-encoding'], undefined);
    assert.equal(bodyJson(r.responses[0]).id, d.appId);
  });

  it('Connection: close is honoured', async () => {
    const r = await raw(d.port, req('GET', '/v1.0/healthz', { Host: 'x', Connection: 'close' })
      + req('GET', '/v1.0/healthz', { Host: 'x' }));
    assert.deepEqual(r.statuses, [204], 'request after Connection: close was answered');
    assert.equal(r.closed, true);
    assert.match(r.responses[0].headers.connection ?? '', /close/i);
  });

  it('HEAD /v1.0/metadata: headers with Content-Length, no body', async () => {
    const get = await request({ port: d.port, path: '/v1.0/metadata' });
    const r = await raw(d.port, req('HEAD', '/v1.0/metadata', { Host: 'x' })
      + req('GET', '/v1.0/healthz', { Host: 'x', Connection: 'close' }), { head: ['HEAD', 'GET'] });
    assert.deepEqual(r.statuses, [200, 204]);
    const h = r.responses[0];
    assert.equal(h.headers['content-type'], 'application/json');
    assert.ok('content-length' in h.headers, 'HEAD response has no Content-Length');
    assert.equal(Number(h.headers['content-length']), Buffer.byteLength(get.body));
    // the second status line follows the first head directly: no body bytes were sent
    assert.equal(r.responses[1].start, h.end, 'HEAD response carried body bytes');
  });

  it('chunked request body to PUT /v1.0/metadata/k', async () => {
    const bytes = 'PUT /v1.0/metadata/chunky HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
      + '2\r\nab\r\n3;ext=1\r\ncde\r\nA\r\nfghijklmno\r\n0\r\n\r\n';
    const r = await raw(d.port, [bytes, req('GET', '/v1.0/healthz', { Host: 'x', Connection: 'close' })]);
    assert.deepEqual(r.statuses, [204, 204]);
    assert.equal((await metadata()).extended.chunky, 'abcdefghijklmno');
  });

  it('chunked request body with a trailer section', async () => {
    const bytes = 'PUT /v1.0/metadata/trailed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
      + '3\r\nxyz\r\n0\r\nX-Trailer: t\r\n\r\n' + req('GET', '/v1.0/healthz', { Host: 'x', Connection: 'close' });
    const r = await raw(d.port, bytes);
    assert.deepEqual(r.statuses, [204, 204]);
    assert.equal((await metadata()).extended.trailed, 'xyz');
  });

  it('chunked body split across writes, including inside chunk-size lines', async () => {
    const r = await raw(d.port, [
      'PUT /v1.0/metadata/slowchunk HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n',
      { data: '4\r', delayMs: 50 },
      { data: '\nab', delayMs: 50 },
      { data: 'cd\r\n', delayMs: 50 },
      { data: '0\r\n', delayMs: 50 },
      { data: '\r\n', delayMs: 50 },
      req('GET', '/v1.0/healthz', { Host: 'x', Connection: 'close' }),
    ]);
    assert.deepEqual(r.statuses, [204, 204]);
    assert.equal((await metadata()).extended.slowchunk, 'abcd');
  });

  it('Expect: 100-continue → interim 100 Continue, then 204', async () => {
    const c = await Conn.open(d.port);
    try {
      await c.write('PUT /v1.0/metadata/expected HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
      const interim = await c.response(2000);
      assert.equal(interim.status, 100);
      assert.match(c.buf.toString('latin1'), /^HTTP\/1\.1 100 Continue\r\n/);
      await c.write('hello');
      const fin = await c.response();
      assert.equal(fin.status, 204);
    } finally {
      c.destroy();
    }
    assert.equal((await metadata()).extended.expected, 'hello');
  });

  it('Expect: 100-continue with the body sent at once: exactly one final response', async () => {
    const r = await raw(d.port, 'PUT /v1.0/metadata/eager HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello'
      + req('GET', '/v1.0/healthz', { Host: 'x', Connection: 'close' }));
    const finals = r.statuses.filter((s) => s !== 100);
    assert.deepEqual(finals, [204, 204]);
    assert.ok(r.statuses.filter((s) => s === 100).length <= 1, `statuses ${r.statuses}`);
    assert.equal((await metadata()).extended.eager, 'hello');
  });

  it('request body split over several writes with delays', async () => {
    const r = await raw(d.port, [
      'PUT /v1.0/metadata/split HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n',
      { data: 'abc', delayMs: 100 },
      { data: 'def', delayMs: 100 },
      { data: 'ghi', delayMs: 100 },
      req('GET', '/v1.0/healthz', { Host: 'x', Connection: 'close' }),
    ]);
    assert.deepEqual(r.statuses, [204, 204]);
    assert.equal((await metadata()).extended.split, 'abcdefghi');
  });

  it('request head split over several writes (one byte at a time for the first line)', async () => {
    const head = 'GET /v1.0/healthz HTTP/1.1\r\n';
    const pieces = [...head].map((ch) => ({ data: ch, delayMs: 2 }));
    pieces.push({ data: 'Host: x\r\n', delayMs: 20 }, { data: 'Connection: close\r\n', delayMs: 20 }, { data: '\r\n', delayMs: 20 });
    const r = await raw(d.port, pieces);
    assert.deepEqual(r.statuses, [204]);
  });

  it('many sequential requests on one connection (no per-request leak of the connection)', async () => {
    const c = await Conn.open(d.port);
    try {
      for (let i = 0; i < 200; i++) {
        await c.write(req('GET', '/v1.0/healthz', { Host: 'x' }));
        const r = await c.response();
        assert.equal(r.status, 204, `request ${i}`);
      }
    } finally {
      c.destroy();
    }
  });

  it('a client that disconnects mid-body does not disturb the server', async () => {
    const r = await raw(d.port, 'PUT /v1.0/metadata/gone HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc', { timeoutMs: 200 });
    assert.deepEqual(r.statuses, []);
    await sleep(100);
    assert.equal((await request({ port: d.port, path: '/v1.0/healthz' })).status, 204);
    assert.equal((await metadata()).extended.gone, undefined, 'a half-received body was stored');
  });
});
