// The malformed-request and smuggling corpus (reliability-ecosystem.md R1): every case gets its
// expected status (or a clean close), the connection is closed after a framing error, the
// request appended after the malformed one is never answered, and the server keeps serving with
// no sanitizer report.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import cases, { SMUGGLED } from './corpus/malformed.mjs';
import { assertNoSanitizerReport, raw, req, startDaprd, stopAll } from './lib/harness.mjs';

after(stopAll);

const BATCH = 20;
const CONCURRENCY = 8;

assert.ok(cases.length >= 120, `corpus has only ${cases.length} cases`);

const results = new Map(); // name → first response (for the JSON check)

function show(r) {
  return `statuses=${JSON.stringify(r.statuses)} closed=${r.closed} after ${r.closedAtMs} ms; received ${JSON.stringify(r.data.toString('latin1').slice(0, 300))}`;
}

describe('malformed HTTP/1.1 corpus', () => {
  let d;
  before(async () => {
    d = await startDaprd({
      args: ['--http-read-header-timeout', '2s', '--http-read-body-timeout', '2s', '--http-idle-timeout', '2s'],
    });
  });
  after(async () => assert.equal(await d.stop(), 0, 'exit code after the corpus'));

  async function runCase(c) {
    const bytes = c.smuggle
      ? Buffer.concat([Buffer.isBuffer(c.bytes) ? c.bytes : Buffer.from(c.bytes, 'latin1'), Buffer.from(SMUGGLED, 'latin1')])
      : c.bytes;
    const r = await raw(d.port, bytes, { timeoutMs: c.timeout ? 6000 : 3000, end: c.end });
    const expects = [].concat(c.expect);
    assert.ok(!r.statuses.includes(204), `the appended request was answered: ${show(r)}`);
    if (r.responses.length === 0) {
      assert.ok(expects.includes('close'), `no response, expected ${expects.join('|')}: ${show(r)}`);
      assert.equal(r.closed, true, `neither a response nor a close: ${show(r)}`);
      return;
    }
    assert.equal(r.responses.length, 1, `more than one response: ${show(r)}`);
    const res = r.responses[0];
    results.set(c.name, res);
    assert.ok(expects.includes(res.status), `expected ${expects.join('|')}: ${show(r)}`);
    assert.equal(res.complete, true, `incomplete response: ${show(r)}`);
    assert.equal(r.closed, true, `connection not closed after ${res.status}: ${show(r)}`);
  }

  async function assertServing(label) {
    assert.equal(d.exitInfo, null, `daprd exited ${label}: ${JSON.stringify(d.exitInfo)}\n${d.logs.text().slice(-4000)}`);
    const r = await raw(d.port, req('GET', '/v1.0/healthz', { Host: 'x', Connection: 'close' }));
    assert.deepEqual(r.statuses, [204], `not serving ${label}: ${show(r)}`);
    assertNoSanitizerReport(d.logs);
  }

  for (let b = 0; b * BATCH < cases.length; b++) {
    const batch = cases.slice(b * BATCH, (b + 1) * BATCH);
    describe(`cases ${b * BATCH + 1}–${b * BATCH + batch.length}`, () => {
      describe('requests', { concurrency: CONCURRENCY }, () => {
        for (const c of batch) it(c.name, () => runCase(c));
      });
      it('the server still serves a valid request (204) with no sanitizer report', () => assertServing(`after case ${b * BATCH + batch.length}`));
    });
  }

  it('every error response is a Dapr JSON error', () => {
    const bad = [];
    for (const [name, res] of results) {
      let ok = res.headers['content-type'] === 'application/json';
      if (ok) {
        try {
          const j = JSON.parse(res.body.toString('utf8'));
          ok = typeof j.errorCode === 'string' && typeof j.message === 'string';
        } catch { ok = false; }
      }
      if (!ok) bad.push(`${name}: ${res.status} ${res.headers['content-type']} ${JSON.stringify(res.body.toString('latin1').slice(0, 100))}`);
    }
    assert.deepEqual(bad, []);
  });

  it('the server still serves at the end', () => assertServing('at the end'));
});
