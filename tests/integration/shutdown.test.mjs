// Graceful shutdown on SIGTERM and SIGINT (reliability-ecosystem.md A5, R8; dapr-behaviour.md §4
// --dapr-graceful-shutdown-seconds): stop accepting, fail readiness at once, finish in-flight
// requests within the grace period, then exit 0.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  Conn, assertDaprError, connectError, req, sleep, startDaprd, stopAll,
} from './lib/harness.mjs';

after(stopAll);

const HEALTHZ = req('GET', '/v1.0/healthz', { Host: 'x' });

for (const signal of ['SIGTERM', 'SIGINT']) {
  describe(signal, () => {
    it('loses no in-flight request; new connections refused; exit 0 within the grace period', async () => {
      const grace = 5;
      const d = await startDaprd({ args: ['--dapr-graceful-shutdown-seconds', String(grace)] });
      const inflight = [];
      try {
        for (let i = 0; i < 20; i++) {
          const c = await Conn.open(d.port);
          inflight.push(c);
          await c.write(`PUT /v1.0/metadata/k${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345`);
        }
        await sleep(200); // the server has every head and half of every body

        const t0 = Date.now();
        d.proc.kill(signal);
        await sleep(200);

        assert.equal(await connectError(d.port), 'ECONNREFUSED', 'a new connection was accepted during shutdown');

        assert.deepEqual(inflight.map((c) => c.closed), Array(20).fill(false), 'in-flight connections closed at the signal');
        await Promise.all(inflight.map((c) => c.write('67890')));
        const statuses = [];
        for (const c of inflight) statuses.push((await c.response(3000)).status);
        assert.deepEqual(statuses, Array(20).fill(204));

        const e = await d.waitExit(Math.max(0, t0 + (grace + 1) * 1000 - Date.now()));
        assert.ok(e, `still running ${Date.now() - t0} ms after ${signal} (grace ${grace} s)`);
        assert.equal(e.code, 0, `exit ${JSON.stringify(e)}`);
        assert.equal(e.signal, null);
        for (const c of inflight) assert.equal(await c.waitClose(1000), true, 'a connection outlived the process');
      } finally {
        for (const c of inflight) c.destroy();
      }
      assert.equal(await d.stop(), 0);
    });

    it('readiness fails at once (500 ERR_HEALTH_NOT_READY on a request in flight); idle keep-alive connections close', async () => {
      // Idle keep-alive connections close when the drain starts, as with Go's Server.Shutdown;
      // readiness is observed on a connection whose request head is still arriving, which is in
      // flight and so kept until it is answered.
      const d = await startDaprd({ args: ['--dapr-graceful-shutdown-seconds', '5'] });
      const k = await Conn.open(d.port);
      const idle = await Conn.open(d.port);
      const c = await Conn.open(d.port);
      try {
        await k.write(HEALTHZ);
        assert.equal((await k.response()).status, 204);
        await idle.write(HEALTHZ);
        assert.equal((await idle.response()).status, 204);
        await k.write('GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\n');
        // one request in flight keeps the drain going while readiness is checked
        await c.write('PUT /v1.0/metadata/pending HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345');
        await sleep(200);
        d.proc.kill(signal);
        assert.equal(await idle.waitClose(1000), true, 'an idle keep-alive connection was kept open during the drain');
        assert.equal(idle.pending().length, 0, 'bytes sent to an idle connection at shutdown');
        assert.equal(k.closed, false, 'a connection with a request head in flight was closed');
        await k.write('\r\n');
        const h = await k.response();
        assertDaprError({ status: h.status, headers: h.headers, body: h.body }, 500, 'ERR_HEALTH_NOT_READY', 'dapr is not ready');
        assert.equal(h.headers.connection, 'close');
        await c.write('67890');
        assert.equal((await c.response(3000)).status, 204, 'the in-flight request');
        const e = await d.waitExit(6000);
        assert.ok(e, 'still running');
        assert.equal(e.code, 0);
      } finally {
        k.destroy();
        idle.destroy();
        c.destroy();
      }
      assert.equal(await d.stop(), 0);
    });

    it('a request that never finishes: exit 0 after the grace period (1 s)', async () => {
      const d = await startDaprd({ args: ['--dapr-graceful-shutdown-seconds', '1'] });
      const c = await Conn.open(d.port);
      try {
        await c.write('PUT /v1.0/metadata/never HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345');
        await sleep(200);
        const t0 = Date.now();
        d.proc.kill(signal);
        const e = await d.waitExit(4000);
        const took = Date.now() - t0;
        assert.ok(e, `still running ${took} ms after ${signal} with a 1 s grace period`);
        assert.equal(e.code, 0, `exit ${JSON.stringify(e)}`);
        assert.ok(took >= 800, `exited after ${took} ms: did not wait for the in-flight request`);
        assert.ok(took <= 2500, `exited after ${took} ms with a 1 s grace period`);
        assert.equal(await c.waitClose(1000), true, 'the unfinished connection was not closed');
      } finally {
        c.destroy();
      }
      assert.equal(await d.stop(), 0);
    });

    it('nothing in flight (an idle keep-alive connection open): exits 0 promptly', async () => {
      const d = await startDaprd({ args: ['--dapr-graceful-shutdown-seconds', '5'] });
      const k = await Conn.open(d.port);
      try {
        await k.write(HEALTHZ);
        assert.equal((await k.response()).status, 204);
        const t0 = Date.now();
        d.proc.kill(signal);
        const e = await d.waitExit(6000);
        const took = Date.now() - t0;
        assert.ok(e, `still running after ${took} ms`);
        assert.equal(e.code, 0);
        assert.ok(took <= 2000, `took ${took} ms to exit with nothing in flight`);
        assert.equal(await k.waitClose(1000), true);
        assert.equal(k.pending().length, 0, 'bytes sent to an idle connection at shutdown');
      } finally {
        k.destroy();
      }
      assert.equal(await d.stop(), 0);
    });
  });
}
