// Wire compatibility of Remora's internal gRPC API (dapr.proto.internals.v1.ServiceInvocation)
// with real daprd's, in both roles, through the UPSTREAM .proto files shipped in @dapr/dapr,
// loaded with @grpc/proto-loader and spoken by @grpc/grpc-js:
//   1. a grpc-js client plays a real daprd A calling Remora daprd B's internal API
//      (B → the HTTP test app), CallLocalStream and CallLocal, plus B's validation errors;
//   2. a grpc-js server plays a real daprd B called by Remora daprd A: the fake is registered
//      in the SQLite resolver's `hosts` table (this file's HOME/.dapr/nr.db) with the sqlite3
//      CLI, and every field A puts on the wire is checked.
// Expectations are dapr v1.15.14's (dapr-behaviour.md §1, §2.3, §5.4; upstream sources named at
// each case), except hop-by-hop request headers, which Remora strips as daprd ≥1.18 does.
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  assertDaprError, freePort, request, sleep, startDaprd, stopAll, testHomeDir, uniqueAppId,
} from './lib/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

// ---------------------------------------------------------------------------------------------
// upstream schema

const UPSTREAM = path.join(here, 'node_modules/@dapr/dapr/proto');
const definition = protoLoader.loadSync('dapr/proto/internals/v1/service_invocation.proto', {
  keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true, includeDirs: [UPSTREAM],
});
const ServiceInvocation = grpc.loadPackageDefinition(definition).dapr.proto.internals.v1.ServiceInvocation;

const V1 = 1;
const VERB = { GET: 1, POST: 3, PUT: 4 };
const S = grpc.status;

// ---------------------------------------------------------------------------------------------
// helpers

const apps = [];
const servers = [];
const clients = [];

async function startHttpApp() {
  const port = await freePort();
  const proc = spawn(process.execPath, [path.join(here, 'apps', 'http-app.mjs'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  apps.push(proc);
  await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => { if (String(d).includes('listening')) resolve(); });
    proc.on('exit', (c) => reject(new Error(`http app exited ${c}`)));
  });
  return { port, proc };
}

function pattern(n, salt = 0) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 10) + salt) & 0xff;
  return b;
}

const sha = (b) => createHash('sha256').update(b).digest('hex');

/** The value of `--flag <v>` in a started daprd's argument list. */
function argOf(d, flag) {
  const i = d.args.lastIndexOf(flag);
  assert.ok(i >= 0 && i + 1 < d.args.length, `${flag} not among ${d.args.join(' ')}`);
  return d.args[i + 1];
}

/** Go's http.CanonicalHeaderKey for the token characters used here. */
const canonical = (k) => k.split('-').map((w) => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase()).join('-');

/** {key: {values: [...]}} → {key: [...]} for comparisons. */
const plainMap = (m) => Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, [...(v?.values ?? [])]]));
const listMap = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, { values: Array.isArray(v) ? v : [v] }]));

/** The 29-byte OpenCensus binary span context daprd puts in grpc-trace-bin (BinaryFromSpanContext). */
function traceBin(traceId, spanId, flags) {
  return Buffer.concat([
    Buffer.from([0, 0]), Buffer.from(traceId, 'hex'), Buffer.from([1]), Buffer.from(spanId, 'hex'),
    Buffer.from([2, flags]),
  ]);
}

function parseTraceBin(b) {
  assert.ok(Buffer.isBuffer(b), 'grpc-trace-bin is binary metadata');
  assert.equal(b.length, 29, `grpc-trace-bin length: ${b.toString('hex')}`);
  assert.equal(b[0], 0, 'version 0');
  assert.equal(b[1], 0, 'field 0 = trace id');
  assert.equal(b[18], 1, 'field 1 = span id');
  assert.equal(b[27], 2, 'field 2 = trace options');
  return { traceId: b.subarray(2, 18).toString('hex'), spanId: b.subarray(19, 27).toString('hex'), flags: b[28] };
}

/**
 * One CallLocalStream: writes `messages` (honouring back-pressure), half-closes, collects the
 * answer. Resolves {messages, status: {code, details, metadata}}; never rejects.
 */
function callStream(client, messages, { metadata = new grpc.Metadata(), deadlineMs = 30000 } = {}) {
  return new Promise((resolve) => {
    const got = [];
    let status = null;
    let finished = false;
    const call = client.CallLocalStream(metadata, { deadline: Date.now() + deadlineMs });
    const done = () => { if (status && finished) resolve({ messages: got, status }); };
    call.on('data', (m) => got.push(m));
    call.on('end', () => { finished = true; done(); });
    call.on('error', () => { finished = true; done(); });
    call.on('status', (s) => { status = s; done(); });
    (async () => {
      for (const m of messages) {
        if (status) return;
        if (!call.write(m)) await new Promise((r) => { call.once('drain', r); call.once('status', r); });
      }
      if (!status) call.end();
    })();
  });
}

/** One unary CallLocal; resolves {response, status}. */
function callUnary(client, req, { metadata = new grpc.Metadata(), deadlineMs = 30000 } = {}) {
  return new Promise((resolve) => {
    let response = null;
    let status = null;
    let cbDone = false;
    const done = () => { if (status && cbDone) resolve({ response, status }); };
    const call = client.CallLocal(req, metadata, { deadline: Date.now() + deadlineMs }, (err, res) => {
      response = err ? null : res;
      cbDone = true;
      done();
    });
    call.on('status', (s) => { status = s; done(); });
  });
}

/** Checks the InternalInvokeResponseStream rules and returns {leading, body}. */
function reassembleResponse(r) {
  assert.equal(r.status.code, S.OK, `gRPC status: ${r.status.code} ${r.status.details}`);
  assert.ok(r.messages.length >= 1, 'at least one response message');
  const [first] = r.messages;
  assert.ok(first.response, 'the leading message carries the response');
  assert.ok(first.response.status, 'the leading response carries the status');
  const chunks = [];
  let seq = 0;
  r.messages.forEach((m, i) => {
    if (i > 0) {
      assert.equal(m.response, null, `message ${i}: response only in the leading message`);
      assert.ok(m.payload, `message ${i}: a non-leading message carries a payload`);
    }
    if (m.payload) {
      assert.equal(m.payload.seq, String(seq), `message ${i}: payload seq`);
      seq += 1;
      chunks.push(m.payload.data);
    }
  });
  return { leading: first.response, body: Buffer.concat(chunks), chunks };
}

// The metadata a real daprd A (1.15) sends for an HTTP-origin call from app "caller-a":
// the app's headers in canonical form plus what direct_messaging.go adds.
function callerMetadata(bId, extra = {}) {
  return listMap({
    'Content-Type': 'text/plain',
    'X-Custom': ['a', 'b'],
    Traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    'X-Forwarded-For': '192.0.2.1',
    'X-Forwarded-Host': 'caller-host',
    Forwarded: 'for=192.0.2.1;by=192.0.2.1;host=caller-host',
    'destination-app-id': bId,
    'dapr-caller-app-id': 'caller-a',
    'dapr-callee-app-id': bId,
    ...extra,
  });
}

function leadingRequest(bId, { method = 'orders/new', verb = VERB.POST, query = 'x=1', contentType = 'text/plain', extra = {}, ver = V1 } = {}) {
  return {
    ver,
    metadata: callerMetadata(bId, { 'Content-Type': contentType, ...extra }),
    message: { method, content_type: contentType, http_extension: { verb, querystring: query } },
  };
}

/** Splits body into daprd-sized (2 KiB) StreamPayload chunks; the first rides with `request`. */
function streamMessages(request, body, chunk = 2048) {
  const out = [];
  let seq = 0;
  for (let off = 0; off < body.length || (off === 0 && out.length === 0); off += chunk) {
    const payload = body.length ? { data: body.subarray(off, off + chunk), seq: seq++ } : null;
    out.push(out.length === 0 ? { request, payload } : { payload });
    if (!body.length) break;
  }
  return out;
}

after(async () => {
  for (const c of clients) c.close();
  for (const s of servers) {
    await new Promise((resolve) => {
      const t = setTimeout(() => { s.forceShutdown(); resolve(); }, 2000);
      s.tryShutdown(() => { clearTimeout(t); resolve(); });
    });
  }
  await stopAll();
  for (const p of apps) p.kill('SIGTERM');
});

// =============================================================================================
// 1. a real daprd A (played by grpc-js) → Remora daprd B → HTTP app

describe('Remora as the callee: a grpc-js client speaking upstream protos to the internal API', () => {
  const bId = uniqueAppId('wire-callee');
  const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
  let app, b, client;

  before(async () => {
    testHomeDir();
    app = await startHttpApp();
    b = await startDaprd({ appId: bId, args: ['--app-protocol', 'http', '--app-port', String(app.port), '--max-body-size', '8Mi'] });
    client = new ServiceInvocation(`127.0.0.1:${argOf(b, '--dapr-internal-grpc-port')}`, grpc.credentials.createInsecure());
    clients.push(client);
  });

  it('CallLocalStream: request in chunks reaches the app; status, headers and body come back in chunks', async () => {
    const body = pattern(5000, 3);
    const md = new grpc.Metadata();
    md.set('grpc-trace-bin', traceBin(TRACE_ID, '00f067aa0ba902b7', 1));
    const req = leadingRequest(bId, { extra: { 'Content-Length': String(body.length) } });
    const msgs = streamMessages(req, body);
    assert.ok(msgs.length >= 3, 'several payload chunks');
    const r = await callStream(client, msgs, { metadata: md });
    const { leading, body: answer } = reassembleResponse(r);

    // the HTTP app's status travels in status.code (IsHTTPResponse ⇔ code ≥ 100), message empty
    assert.equal(leading.status.code, 200);
    assert.equal(leading.status.message, '');
    assert.deepEqual(leading.status.details, []);
    // headers: the app's response headers, Go-canonical keys; content type also in message
    const headers = plainMap(leading.headers);
    for (const k of Object.keys(headers)) assert.equal(k, canonical(k), `response header key ${k} is canonical`);
    assert.deepEqual(headers['Content-Type'], ['application/json']);
    assert.equal(leading.message?.content_type, 'application/json');
    assert.deepEqual(leading.trailers, {}, 'trailers only for gRPC apps');

    const seen = JSON.parse(answer.toString('utf8'));
    assert.equal(seen.method, 'POST');
    assert.equal(seen.path, '/orders/new');
    assert.equal(seen.query, 'x=1');
    assert.equal(seen.headers['x-custom'], 'a, b', 'both X-Custom values');
    assert.equal(seen.headers['content-type'], 'text/plain');
    assert.equal(seen.headers['dapr-caller-app-id'], 'caller-a');
    assert.equal(seen.headers['dapr-callee-app-id'], bId);
    assert.equal(seen.headers['destination-app-id'], undefined, 'destination-app-id is internal');
    assert.match(seen.headers.traceparent ?? '', new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`), 'trace id reaches the app');
    assert.equal(seen.bodyLength, body.length);
    assert.equal(seen.bodySha256, sha(body));
  });

  it('CallLocalStream: the leading message may carry the whole small body; an empty body is one message', async () => {
    const small = await callStream(client, [{ request: leadingRequest(bId), payload: { data: Buffer.from('tiny'), seq: 0 } }]);
    const a = reassembleResponse(small);
    assert.equal(a.leading.status.code, 200);
    assert.equal(JSON.parse(a.body).bodySha256, sha(Buffer.from('tiny')));

    const empty = await callStream(client, [{ request: leadingRequest(bId, { verb: VERB.GET, method: 'nobody', query: '' }) }]);
    const e = reassembleResponse(empty);
    assert.equal(e.leading.status.code, 200);
    const seen = JSON.parse(e.body);
    assert.equal(seen.method, 'GET');
    assert.equal(seen.path, '/nobody');
    assert.equal(seen.bodyLength, 0);
  });

  // daprd A sends the span of its hop only in the grpc-trace-bin call metadata (the app's own
  // traceparent header, if any, rides in the metadata); daprd B's gRPC tracing interceptor
  // (grpc_tracing.go SpanContextFromIncomingGRPCMetadata) continues that trace.
  it('CallLocalStream: grpc-trace-bin alone carries the trace to the app (no Traceparent in metadata)', async () => {
    const traceId = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const md = new grpc.Metadata();
    md.set('grpc-trace-bin', traceBin(traceId, '1122334455667788', 1));
    const req = leadingRequest(bId);
    delete req.metadata.Traceparent;
    const r = await callStream(client, [{ request: req, payload: { data: Buffer.from('t'), seq: 0 } }], { metadata: md });
    const { leading, body } = reassembleResponse(r);
    assert.equal(leading.status.code, 200);
    const seen = JSON.parse(body);
    assert.match(seen.headers.traceparent ?? '(none)', new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`), 'the app continues the caller\'s trace');
  });

  it('CallLocal (unary): message.data.value is the body; the answer is in message.data.value', async () => {
    const body = Buffer.from('{"order":42}');
    const req = {
      ver: V1,
      metadata: callerMetadata(bId, { 'Content-Type': 'application/json' }),
      message: {
        method: 'orders/new', data: { type_url: '', value: body }, content_type: 'application/json',
        http_extension: { verb: VERB.POST, querystring: 'x=1' },
      },
    };
    const { response, status } = await callUnary(client, req);
    assert.equal(status.code, S.OK, status.details);
    assert.equal(response.status.code, 200);
    assert.equal(response.status.message, '');
    assert.deepEqual(plainMap(response.headers)['Content-Type'], ['application/json']);
    assert.equal(response.message.content_type, 'application/json');
    assert.equal(response.message.data.type_url, '');
    const seen = JSON.parse(response.message.data.value.toString('utf8'));
    assert.equal(seen.method, 'POST');
    assert.equal(seen.path, '/orders/new');
    assert.equal(seen.query, 'x=1');
    assert.equal(seen.headers['x-custom'], 'a, b');
    assert.equal(seen.headers['content-type'], 'application/json');
    assert.equal(seen.bodySha256, sha(body));
  });

  // daprinternal.go CallLocalStream: a nil request.metadata or request.message in the leading
  // chunk → InvalidArgument with messages.ErrInternalInvokeRequest ("parsing
  // InternalInvokeRequest error: %s").
  it('leading chunk without a request → INVALID_ARGUMENT "parsing InternalInvokeRequest error: request does not contain ..."', async () => {
    const r = await callStream(client, [{ payload: { data: Buffer.from('x'), seq: 0 } }]);
    assert.equal(r.status.code, S.INVALID_ARGUMENT, r.status.details);
    assert.equal(r.status.details, 'parsing InternalInvokeRequest error: request does not contain the required fields in the leading chunk');
  });

  // The version is checked by the app channel (http_channel.go InvokeMethod: Unimplemented
  // "Unsupported spec version: %d"), and CallLocalStream wraps every app channel error as
  // Internal messages.ErrChannelInvoke ("error invoking app channel: %s", err = the status error).
  it('ver 0 (APIVERSION_UNSPECIFIED) → INTERNAL "error invoking app channel: ... Unsupported spec version: 0"', async () => {
    const r = await callStream(client, [{ request: leadingRequest(bId, { ver: 0 }), payload: { data: Buffer.from('x'), seq: 0 } }]);
    assert.equal(r.status.code, S.INTERNAL, `${r.status.code} ${r.status.details}`);
    assert.equal(r.status.details, 'error invoking app channel: rpc error: code = Unimplemented desc = Unsupported spec version: 0');
    const u = await callUnary(client, { ...leadingRequest(bId, { ver: 0 }) });
    assert.equal(u.status.code, S.INTERNAL, `unary: ${u.status.code} ${u.status.details}`);
    assert.equal(u.status.details, 'error invoking app channel: rpc error: code = Unimplemented desc = Unsupported spec version: 0');
  });

  // http_channel.go InvokeMethod, before the version: no http_extension → InvalidArgument
  // "missing HTTP extension field"; verb NONE or CONNECT → InvalidArgument "invalid HTTP verb";
  // wrapped by CallLocalStream as Internal "error invoking app channel: %s".
  it('HTTP verb NONE, CONNECT or no http_extension → INTERNAL "error invoking app channel: ... InvalidArgument ..."', async () => {
    const cases = [
      [leadingRequest(bId, { verb: 0 }), 'invalid HTTP verb'],
      [leadingRequest(bId, { verb: 6 }), 'invalid HTTP verb'],
      [{ ...leadingRequest(bId), message: { method: 'orders/new', content_type: 'text/plain' } }, 'missing HTTP extension field'],
    ];
    const got = [];
    const want = [];
    for (const [req, text] of cases) {
      const r = await callStream(client, [{ request: req, payload: { data: Buffer.from('x'), seq: 0 } }]);
      const what = `verb ${req.message.http_extension?.verb ?? '(none)'}`;
      got.push(`${what}: ${r.status.code} ${r.status.details}`);
      want.push(`${what}: ${S.INTERNAL} error invoking app channel: rpc error: code = InvalidArgument desc = ${text}`);
    }
    assert.deepEqual(got, want);
  });

  // Sequence and non-leading checks run in the goroutine that feeds the request body pipe
  // (pw.CloseWithError(...)); the app's HTTP request then fails and CallLocalStream answers
  // Internal "error invoking app channel: <the HTTP client's error, which ends with that text>".
  it('payload seq 1 first → INTERNAL "error invoking app channel: ... invalid sequence number received: 1 (expected: 0)"', async () => {
    const r = await callStream(client, [
      { request: leadingRequest(bId) },
      { payload: { data: Buffer.from('x'), seq: 1 } },
    ]);
    assert.equal(r.status.code, S.INTERNAL, `${r.status.code} ${r.status.details}`);
    assert.match(r.status.details, /^error invoking app channel: /);
    assert.ok(r.status.details.includes('invalid sequence number received: 1 (expected: 0)'), r.status.details);
  });

  it('request metadata in a non-leading chunk → INTERNAL "... request metadata found in non-leading chunk"', async () => {
    const r = await callStream(client, [
      { request: leadingRequest(bId), payload: { data: Buffer.from('x'), seq: 0 } },
      { request: leadingRequest(bId), payload: { data: Buffer.from('y'), seq: 1 } },
    ]);
    assert.equal(r.status.code, S.INTERNAL, `${r.status.code} ${r.status.details}`);
    assert.match(r.status.details, /^error invoking app channel: /);
    assert.ok(r.status.details.includes('request metadata found in non-leading chunk'), r.status.details);
  });

  it('app status 404: status.code 404, both Set-Cookie values, body in payload chunks', async () => {
    const r = await callStream(client, [{ request: leadingRequest(bId, { method: 'status/404', verb: VERB.GET, query: '' }) }]);
    const { leading, body } = reassembleResponse(r);
    assert.equal(leading.status.code, 404);
    const headers = plainMap(leading.headers);
    assert.deepEqual(headers['Set-Cookie'], ['a=1', 'b=2']);
    assert.deepEqual(headers['X-Status'], ['404']);
    assert.deepEqual(headers['Content-Type'], ['text/plain']);
    assert.equal(leading.message?.content_type, 'text/plain');
    assert.equal(body.toString(), 'status 404');
  });

  it('3 MiB in 2 KiB chunks (as daprd sends them) through /echo, byte-exact', async () => {
    const body = pattern(3 << 20, 11);
    const req = leadingRequest(bId, {
      method: 'echo', query: '', contentType: 'application/octet-stream',
      extra: { 'Content-Length': String(body.length) },
    });
    const msgs = streamMessages(req, body);
    assert.equal(msgs.length, 1536);
    const r = await callStream(client, msgs, { deadlineMs: 60000 });
    const { leading, body: answer } = reassembleResponse(r);
    assert.equal(leading.status.code, 200);
    assert.equal(leading.message?.content_type, 'application/octet-stream');
    assert.equal(answer.length, body.length);
    assert.equal(sha(answer), sha(body));
  });
});

// =============================================================================================
// 2. Remora daprd A → a fake daprd B (grpc-js server implementing the upstream service)

const SQLITE = 'sqlite3';
const hasSqlite = spawnSync(SQLITE, ['-version']).status === 0;

function sqlite(db, sql) {
  return new Promise((resolve, reject) => {
    execFile(SQLITE, ['-cmd', '.timeout 3000', db, sql], { timeout: 5000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`sqlite3 ${sql}: ${err.message} ${stderr}`));
      else resolve(stdout);
    });
  });
}

/**
 * A grpc-js server playing daprd B. `stream: false` leaves CallLocalStream out, so grpc-js
 * answers it UNIMPLEMENTED like a daprd older than 1.11. Every call is recorded in `calls`.
 */
async function startFakeDaprd({ stream = true } = {}) {
  const calls = [];
  const impl = {
    CallLocal(call, cb) {
      calls.push({ kind: 'unary', md: call.metadata, request: call.request });
      cb(null, {
        status: { code: 200, message: '' },
        headers: listMap({ 'X-Old': '1' }),
        message: { data: { type_url: '', value: Buffer.from('old-answer') }, content_type: 'text/plain' },
      });
    },
  };
  if (stream) {
    impl.CallLocalStream = (call) => {
      const rec = { kind: 'stream', md: call.metadata, msgs: [] };
      calls.push(rec);
      let failed = false;
      call.on('error', () => {});
      call.on('data', (m) => {
        rec.msgs.push(m);
        if (rec.msgs.length !== 1) return;
        const method = m.request?.message?.method;
        // access control runs on the leading chunk (daprinternal.go callLocalValidateACL)
        if (method === 'denied') {
          failed = true;
          call.emit('error', { code: S.PERMISSION_DENIED, details: 'access control policy has denied access to id: x operation: denied verb: POST' });
        } else if (method === 'broken') {
          failed = true;
          call.emit('error', { code: S.INTERNAL, details: 'error invoking app channel: boom' });
        }
      });
      call.on('end', () => {
        if (failed) return;
        const method = rec.msgs[0]?.request?.message?.method;
        if (method === 'ping') {
          call.write({ response: { status: { code: 200 }, headers: {}, message: { content_type: 'text/plain' } }, payload: { data: Buffer.from('pong'), seq: 0 } });
        } else {
          call.write({
            response: { status: { code: 201, message: '' }, headers: listMap({ 'X-Answer': 'yes' }), message: { content_type: 'text/plain' } },
            payload: { data: Buffer.from('answer-0|'), seq: 0 },
          });
          call.write({ payload: { data: Buffer.from('answer-1|'), seq: 1 } });
          call.write({ payload: { data: Buffer.from('answer-2'), seq: 2 } });
        }
        call.end();
      });
    };
  }
  const server = new grpc.Server();
  server.addService(ServiceInvocation.service, impl);
  servers.push(server);
  const port = await new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return { server, port, calls };
}

describe('Remora as the caller: everything daprd A puts on the wire, seen by a grpc-js fake daprd B', () => {
  const aId = uniqueAppId('wire-caller');
  const fakeId = uniqueAppId('wire-fake');
  const oldId = uniqueAppId('wire-old');
  const TOKEN = 'wire-test-token';
  const HOST_IP = '192.0.2.7'; // DAPR_HOST_IP: daprd's GetHostAddress() answer, used for X-Forwarded-For
  const HOSTNAME = os.hostname();
  const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  let a, fake, old, db, refresher, refreshing = Promise.resolve();

  const register = () => sqlite(db,
    `REPLACE INTO hosts (registration_id, address, app_id, namespace, last_update) VALUES
       ('${fakeId}-reg', '127.0.0.1:${fake.port}', '${fakeId}', '', unixepoch(CURRENT_TIMESTAMP)),
       ('${oldId}-reg', '127.0.0.1:${old.port}', '${oldId}', '', unixepoch(CURRENT_TIMESTAMP));`);

  const invoke = (o) => request({ port: a.port, timeoutMs: 15000, ...o, headers: { 'dapr-api-token': TOKEN, ...(o.headers ?? {}) } });

  before(async () => {
    assert.ok(hasSqlite, 'the sqlite3 CLI is needed to register the fake daprd (deploy/install-deps.sh installs it)');
    const home = testHomeDir();
    fake = await startFakeDaprd();
    old = await startFakeDaprd({ stream: false });
    a = await startDaprd({
      appId: aId,
      args: ['--app-protocol', 'http', '--app-port', String(await freePort()), '--max-body-size', '16Mi'],
      env: { DAPR_API_TOKEN: TOKEN, DAPR_HOST_IP: HOST_IP },
    });
    // A has created the resolver's schema and registered itself by now.
    db = path.join(home, '.dapr', 'nr.db');
    assert.ok(fs.existsSync(db), `${db} exists`);
    const schema = await sqlite(db, '.schema hosts');
    assert.match(schema, /registration_id TEXT NOT NULL PRIMARY KEY/i, schema);
    await register();
    // keep last_update fresh: rows older than updateInterval (5 s) are not resolved
    refresher = setInterval(() => { refreshing = register().catch(() => {}); }, 1000);
    const deadline = Date.now() + 10000;
    for (;;) {
      const r = await invoke({ path: `/v1.0/invoke/${fakeId}/method/ping` }).catch((e) => ({ status: 0, body: String(e) }));
      if (r.status === 200 && r.body === 'pong') break;
      if (Date.now() > deadline) throw new Error(`no route from A to the fake: ${r.status} ${r.body}`);
      await sleep(100);
    }
  });

  after(async () => {
    clearInterval(refresher);
    await refreshing;
    if (db && fs.existsSync(db)) await sqlite(db, `DELETE FROM hosts WHERE app_id IN ('${fakeId}', '${oldId}');`).catch(() => {});
  });

  describe('POST /v1.0/invoke/<fake>/method/orders/new?x=1 through CallLocalStream', () => {
    const body = pattern(9000, 5);
    let res, rec;

    before(async () => {
      const n = fake.calls.length;
      res = await invoke({
        method: 'POST', path: `/v1.0/invoke/${fakeId}/method/orders/new?x=1`, body,
        headers: {
          'content-type': 'text/plain',
          'content-length': String(body.length),
          'x-custom': ['a', 'b'],
          'x-multi-part-NAME': 'v',
          traceparent: TP,
          tracestate: 'congo=t61rcWkgMzE',
          'x-forwarded-for': '10.9.8.7',
          'dapr-caller-app-id': 'spoofed',
          'keep-alive': 'timeout=5',
        },
      });
      rec = fake.calls.slice(n).find((c) => c.kind === 'stream' && c.msgs[0]?.request?.message?.method === 'orders/new');
    });

    it('the HTTP caller gets the fake\'s 201, X-Answer, content type and the reassembled body', () => {
      assert.equal(res.status, 201, res.body);
      assert.equal(res.headers['x-answer'], 'yes');
      assert.equal(res.headers['content-type'], 'text/plain');
      assert.equal(res.body, 'answer-0|answer-1|answer-2');
    });

    it('call metadata: grpc-trace-bin is the 29-byte OpenCensus span context of the caller\'s trace', () => {
      assert.ok(rec, 'the fake received the call');
      const v = rec.md.get('grpc-trace-bin');
      assert.equal(v.length, 1, 'one grpc-trace-bin');
      const t = parseTraceBin(v[0]);
      assert.equal(t.traceId, TP.split('-')[1], 'trace id of the incoming traceparent');
      assert.notEqual(t.spanId, '0000000000000000');
      assert.equal(t.flags, 1, 'sampled');
      assert.equal(rec.md.get('dapr-app-id').length, 0, 'no dapr-app-id call metadata');
      assert.equal(rec.md.get('dapr-api-token').length, 0, 'no dapr-api-token call metadata');
    });

    it('leading InternalInvokeRequestStream.request: ver 1, method, content type, HTTP extension, no data, no actor', () => {
      assert.ok(rec, 'the fake received the call');
      const q = rec.msgs[0].request;
      assert.equal(q.ver, V1);
      assert.equal(q.message.method, 'orders/new');
      assert.equal(q.message.content_type, 'text/plain');
      assert.deepEqual(q.message.http_extension, { verb: VERB.POST, querystring: 'x=1' });
      assert.ok(q.message.data === null || q.message.data.value.length === 0, 'the body is not in message.data');
      assert.equal(q.actor, null);
    });

    it('payload chunks: seq 0, 1, ... reassemble the body; only the leading message has the request', () => {
      assert.ok(rec, 'the fake received the call');
      const chunks = [];
      rec.msgs.forEach((m, i) => {
        if (i > 0) {
          assert.equal(m.request, null, `message ${i}: no request`);
          assert.ok(m.payload, `message ${i}: a payload`);
        }
        if (m.payload) {
          assert.equal(m.payload.seq, String(chunks.length), `message ${i}: seq`);
          chunks.push(m.payload.data);
        }
      });
      for (const c of chunks) assert.ok(c.length > 0, 'no empty payloads (daprd sends a chunk only when n > 0)');
      assert.equal(sha(Buffer.concat(chunks)), sha(body));
    });

    it('metadata: the client\'s headers in Go canonical form, multi-values kept', () => {
      const md = plainMap(rec.msgs[0].request.metadata);
      assert.deepEqual(md['Content-Type'], ['text/plain']);
      assert.deepEqual(md['Content-Length'], [String(body.length)]);
      assert.deepEqual(md['X-Custom'], ['a', 'b']);
      assert.deepEqual(md['X-Multi-Part-Name'], ['v']);
      assert.deepEqual(md.Tracestate, ['congo=t61rcWkgMzE']);
    });

    // pkg/api/http/directmessaging.go copies r.Header as it came (WithHTTPHeaders); the new
    // span of this hop travels only in grpc-trace-bin.
    it('metadata: Traceparent is the caller\'s header, verbatim', () => {
      const md = plainMap(rec.msgs[0].request.metadata);
      assert.deepEqual(md.Traceparent, [TP]);
      assert.equal(md.traceparent, undefined);
    });

    // direct_messaging.go addForwardedHeadersToMetadata: d.hostAddress = utils.GetHostAddress()
    // (DAPR_HOST_IP, else the outbound interface address), d.hostName = os.Hostname(); appended.
    it('metadata: X-Forwarded-For/-Host and Forwarded name the sidecar\'s host, appended to the client\'s', () => {
      const md = plainMap(rec.msgs[0].request.metadata);
      assert.deepEqual(md['X-Forwarded-For'], ['10.9.8.7', HOST_IP]);
      assert.deepEqual(md['X-Forwarded-Host'], [HOSTNAME]);
      assert.deepEqual(md.Forwarded, [`for=${HOST_IP};by=${HOST_IP};host=${HOSTNAME}`]);
    });

    // addDestinationAppIDHeaderToMetadata, addCallerAndCalleeAppIDHeaderToMetadata (overwrite)
    // (the client's own dapr-caller-app-id header stays under its canonical key, a different
    // map key from the lower-case one daprd sets, exactly as in daprd's map)
    it('metadata: destination-app-id, dapr-caller-app-id, dapr-callee-app-id (lower-case keys, set by the sidecar)', () => {
      const md = plainMap(rec.msgs[0].request.metadata);
      assert.deepEqual(md['destination-app-id'], [fakeId]);
      assert.deepEqual(md['dapr-caller-app-id'], [aId]);
      assert.deepEqual(md['dapr-callee-app-id'], [fakeId]);
      assert.deepEqual(md['Dapr-Caller-App-Id'], ['spoofed']);
    });

    it('metadata: nothing else — no dapr-api-token, Host, Connection, Keep-Alive', () => {
      const md = plainMap(rec.msgs[0].request.metadata);
      const keys = Object.keys(md).sort();
      for (const k of keys) {
        assert.ok(!/^(dapr-api-token|dapr-app-id|host|connection|keep-alive|transfer-encoding)$/i.test(k), `${k} must not be forwarded`);
      }
      assert.deepEqual(keys, [
        'Content-Length', 'Content-Type', 'Dapr-Caller-App-Id', 'Forwarded', 'Traceparent', 'Tracestate', 'X-Custom', 'X-Forwarded-For',
        'X-Forwarded-Host', 'X-Multi-Part-Name', 'dapr-callee-app-id', 'dapr-caller-app-id', 'destination-app-id',
      ].sort());
    });
  });

  it('GET with no body: one message carrying only the request, verb GET (1), empty querystring', async () => {
    const n = fake.calls.length;
    const r = await invoke({ path: `/v1.0/invoke/${fakeId}/method/nobody`, headers: { traceparent: TP } });
    assert.equal(r.status, 201, r.body);
    const rec = fake.calls.slice(n).find((c) => c.kind === 'stream' && c.msgs[0]?.request?.message?.method === 'nobody');
    assert.ok(rec, 'the fake received the call');
    assert.equal(rec.msgs.length, 1, 'a single message');
    assert.equal(rec.msgs[0].payload, null, 'no payload');
    assert.deepEqual(rec.msgs[0].request.message.http_extension, { verb: VERB.GET, querystring: '' });
  });

  it('dapr-app-id header routing: method = the path, dapr-app-id not forwarded', async () => {
    const n = fake.calls.length;
    const r = await invoke({ method: 'POST', path: '/orders/viaheader?x=1', headers: { 'dapr-app-id': fakeId, 'content-type': 'text/plain' }, body: 'hi' });
    assert.equal(r.status, 201, r.body);
    const rec = fake.calls.slice(n).find((c) => c.kind === 'stream' && c.msgs[0]?.request?.message?.method === 'orders/viaheader');
    assert.ok(rec, 'the fake received the call');
    const md = plainMap(rec.msgs[0].request.metadata);
    for (const k of Object.keys(md)) assert.notEqual(k.toLowerCase(), 'dapr-app-id');
    assert.equal(rec.msgs[0].request.message.http_extension.querystring, 'x=1');
  });

  // daprd sends the body in 2 KiB payloads (StreamBufferSize), so a callee's per-message limit
  // (MaxRecvMsgSize = its --max-body-size, 4 MiB by default; grpc-js' default is the same) never
  // applies to the body: a caller with a larger --max-body-size can send more.
  it('a 6 MiB body streams in chunks a callee with the default 4 MiB message limit accepts', async () => {
    const n = fake.calls.length;
    const body = pattern(6 << 20, 13);
    const r = await invoke({
      method: 'POST', path: `/v1.0/invoke/${fakeId}/method/big/upload`, body, timeoutMs: 30000,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.length) },
    });
    assert.equal(r.status, 201, r.body);
    const rec = fake.calls.slice(n).find((c) => c.kind === 'stream' && c.msgs[0]?.request?.message?.method === 'big/upload');
    assert.ok(rec, 'the fake received the call');
    const chunks = rec.msgs.filter((m) => m.payload).map((m) => m.payload.data);
    rec.msgs.filter((m) => m.payload).forEach((m, i) => assert.equal(m.payload.seq, String(i)));
    assert.equal(sha(Buffer.concat(chunks)), sha(body));
  });

  it('callee answers CallLocalStream UNIMPLEMENTED (older daprd) → A re-sends as unary CallLocal with the whole body', async () => {
    const n = old.calls.length;
    const body = pattern(6000, 9);
    const r = await invoke({
      method: 'PUT', path: `/v1.0/invoke/${oldId}/method/legacy/call?a=1&b=2`, body,
      headers: { 'content-type': 'application/json', 'content-length': String(body.length), traceparent: TP, 'x-custom': ['a', 'b'] },
    });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'old-answer');
    assert.equal(r.headers['x-old'], '1');
    assert.equal(r.headers['content-type'], 'text/plain');
    const rec = old.calls.slice(n).find((c) => c.kind === 'unary');
    assert.ok(rec, 'CallLocal reached the fake');
    const q = rec.request;
    assert.equal(q.ver, V1);
    assert.equal(q.message.method, 'legacy/call');
    assert.equal(q.message.content_type, 'application/json');
    assert.deepEqual(q.message.http_extension, { verb: VERB.PUT, querystring: 'a=1&b=2' });
    assert.equal(q.message.data?.type_url, '');
    assert.equal(sha(q.message.data.value), sha(body), 'message.data.value = the whole body');
    const md = plainMap(q.metadata);
    assert.deepEqual(md['X-Custom'], ['a', 'b']);
    assert.deepEqual(md['dapr-caller-app-id'], [aId]);
    assert.deepEqual(md['dapr-callee-app-id'], [oldId]);
    assert.equal(md['dapr-api-token'], undefined);
    const t = parseTraceBin(rec.md.get('grpc-trace-bin')[0]);
    assert.equal(t.traceId, TP.split('-')[1]);
  });

  it('callee answers PERMISSION_DENIED → 403 ERR_DIRECT_INVOKE', async () => {
    const r = await invoke({ method: 'POST', path: `/v1.0/invoke/${fakeId}/method/denied`, body: 'x', headers: { 'content-type': 'text/plain' } });
    assertDaprError(r, 403, 'ERR_DIRECT_INVOKE',
      `failed to invoke, id: ${fakeId}, err: rpc error: code = PermissionDenied desc = access control policy has denied access to id: x operation: denied verb: POST`);
  });

  it('callee answers INTERNAL → 500 ERR_DIRECT_INVOKE with the remote message', async () => {
    const r = await invoke({ method: 'POST', path: `/v1.0/invoke/${fakeId}/method/broken`, body: 'x', headers: { 'content-type': 'text/plain' } });
    assertDaprError(r, 500, 'ERR_DIRECT_INVOKE',
      `failed to invoke, id: ${fakeId}, err: rpc error: code = Internal desc = error invoking app channel: boom`);
  });
});
