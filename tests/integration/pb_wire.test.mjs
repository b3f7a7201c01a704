// Our protobuf-c code (generated from proto/) against Dapr's own .proto files (the copies in
// @dapr/dapr, loaded with protobufjs): the same schema, and the same bytes understood the same
// way in both directions (dapr-behaviour.md §1; DESIGN.md "Wire: own .proto files with Dapr's
// package, message and field numbers").
//
// tests/support/pb_wire (path in PB_WIRE) decodes bytes to canonical JSON and encodes canonical
// JSON to bytes with our generated descriptors. Canonical JSON = protobufjs toObject() with the
// options in CANON below, so both sides compare as plain objects.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const PB_WIRE = process.env.PB_WIRE;
if (!PB_WIRE) throw new Error('set PB_WIRE to the tests/support/pb_wire binary (ctest does this)');

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const protobuf = require('protobufjs');

// ---------------------------------------------------------------------------------------------
// upstream schema

const UPSTREAM = path.join(here, 'node_modules/@dapr/dapr/proto');
const root = new protobuf.Root();
root.resolvePath = (origin, target) => {
  const p = path.join(UPSTREAM, target);
  return fs.existsSync(p) ? p : protobuf.util.path.resolve(origin, target);
};
root.loadSync([
  'dapr/proto/internals/v1/service_invocation.proto',
  'dapr/proto/runtime/v1/appcallback.proto',
], { keepCase: true });
root.resolveAll();

const CANON = { longs: String, enums: Number, bytes: String, defaults: true, arrays: true, objects: true };
const type = (name) => root.lookupType(name);
const canon = (T, msg) => T.toObject(msg, CANON);

// ---------------------------------------------------------------------------------------------
// the C side

const SANITIZER = ['ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:'];

function pbWire(args, input) {
  const r = spawnSync(PB_WIRE, args, {
    input,
    maxBuffer: 64 << 20,
    env: {
      ...process.env,
      ASAN_OPTIONS: [process.env.ASAN_OPTIONS, 'detect_leaks=1'].filter(Boolean).join(':'),
      UBSAN_OPTIONS: [process.env.UBSAN_OPTIONS, 'print_stacktrace=1'].filter(Boolean).join(':'),
    },
  });
  assert.equal(r.error, undefined, `pb_wire did not run: ${r.error}`);
  const stderr = r.stderr.toString();
  for (const p of SANITIZER) assert.ok(!stderr.includes(p), `sanitizer report from pb_wire ${args.join(' ')}:\n${stderr}`);
  return { status: r.status, stdout: r.stdout, stderr };
}

function cDecode(name, bytes) {
  const r = pbWire(['decode', name], Buffer.from(bytes));
  assert.equal(r.status, 0, `C could not decode ${name}: ${r.stderr}`);
  return JSON.parse(r.stdout.toString());
}

function cEncode(name, obj) {
  const r = pbWire(['encode', name], Buffer.from(JSON.stringify(obj)));
  assert.equal(r.status, 0, `C could not encode ${name}: ${r.stderr}`);
  return r.stdout;
}

// ---------------------------------------------------------------------------------------------
// samples: every message service invocation carries, fully populated, plus the edge cases

const NUL_BYTES = Buffer.from([0x00, 0xff, 0x00, 0x01, 0x80, 0x00, 0x7f]);
const BIG = Buffer.from(Array.from({ length: 70000 }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
const U64_MAX = '18446744073709551615';
const OVER_2_32 = '4294967301'; // 2^32 + 5

const METADATA = {
  'Content-Type': { values: ['application/json'] },
  'X-Multi': { values: ['a', 'b', '', 'a'] },
  'X-Unicode-Ключ': { values: ['日本語 ✓', '😀 emoji', 'ümlaut'] },
  'X-Empty-List': { values: [] },
  'X-Empty-Value': { values: [''] },
  '': { values: ['value under an empty key'] },
  traceparent: { values: ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'] },
  'X-Forwarded-For': { values: ['10.0.0.1', '::1'] },
};

const HTTP_REQUEST = {
  method: 'orders/ä/𝄞',
  data: { type_url: '', value: NUL_BYTES },
  content_type: 'application/octet-stream',
  http_extension: { verb: 9, querystring: 'a=1&b=%C3%A4&c' },
};

const FULL_REQUEST = {
  ver: 1,
  metadata: METADATA,
  message: HTTP_REQUEST,
  actor: { actor_type: 'Cart', actor_id: 'id-ü' },
};

const FULL_STATUS = {
  code: 200,
  message: 'OK ✓',
  details: [
    { type_url: 'type.googleapis.com/google.rpc.ErrorInfo', value: Buffer.from('\x0a\x03why\x12\x00') },
    { type_url: '', value: Buffer.alloc(0) },
    {},
  ],
};

const FULL_RESPONSE = {
  status: FULL_STATUS,
  headers: { 'Content-Type': { values: ['text/plain; charset=utf-8'] }, 'Set-Cookie': { values: ['a=1', 'b=2'] } },
  trailers: { 'grpc-status-details-bin': { values: ['CAMSBHdoeT8='] }, 'x-trailer': { values: ['t1', 't2'] } },
  message: { data: { type_url: 'type.googleapis.com/my.pkg.Reply', value: NUL_BYTES }, content_type: 'application/x-protobuf' },
};

const SAMPLES = [
  ['dapr.proto.internals.v1.InternalInvokeRequest', 'fully populated', FULL_REQUEST],
  ['dapr.proto.internals.v1.InternalInvokeRequest', 'all defaults (empty bytes)', {}],
  ['dapr.proto.internals.v1.InternalInvokeRequest', 'empty strings set explicitly, empty message present',
    { ver: 1, metadata: { k: { values: [''] } }, message: { method: '', content_type: '', data: {}, http_extension: {} } }],
  ['dapr.proto.internals.v1.InternalInvokeRequest', 'unknown enum values are kept',
    { ver: 7, message: { method: 'm', http_extension: { verb: 42, querystring: '' } } }],
  ['dapr.proto.internals.v1.InternalInvokeRequest', 'large body in data',
    { ver: 1, message: { method: 'big', data: { value: BIG } } }],
  ['dapr.proto.internals.v1.InternalInvokeRequestStream', 'leading chunk: request and payload',
    { request: { ver: 1, metadata: METADATA, message: { ...HTTP_REQUEST, data: null } }, payload: { data: NUL_BYTES, seq: 0 } }],
  ['dapr.proto.internals.v1.InternalInvokeRequestStream', 'leading chunk without payload',
    { request: { ver: 1, metadata: {}, message: { method: 'm', http_extension: { verb: 3 } } } }],
  ['dapr.proto.internals.v1.InternalInvokeRequestStream', 'payload only, seq over 2^32, 70000 bytes',
    { payload: { data: BIG, seq: OVER_2_32 } }],
  ['dapr.proto.internals.v1.InternalInvokeRequestStream', 'payload only, seq 2^64-1, no data',
    { payload: { seq: U64_MAX } }],
  ['dapr.proto.internals.v1.InternalInvokeRequestStream', 'payload present but empty (seq 0)',
    { payload: {} }],
  ['dapr.proto.internals.v1.InternalInvokeResponse', 'fully populated', FULL_RESPONSE],
  ['dapr.proto.internals.v1.InternalInvokeResponse', 'negative status code (10-byte varint)',
    { status: { code: -1, message: 'neg' } }],
  ['dapr.proto.internals.v1.InternalInvokeResponse', 'largest int32 status code',
    { status: { code: 2147483647 }, headers: {} }],
  ['dapr.proto.internals.v1.InternalInvokeResponse', 'all defaults', {}],
  ['dapr.proto.internals.v1.InternalInvokeResponseStream', 'leading chunk: response and payload',
    { response: { status: { code: 404, message: '' }, headers: { 'Content-Length': { values: ['7'] } } }, payload: { data: NUL_BYTES, seq: 0 } }],
  ['dapr.proto.internals.v1.InternalInvokeResponseStream', 'gRPC app response with trailers',
    { response: { ...FULL_RESPONSE, status: { code: 5, message: 'not found: ключ', details: FULL_STATUS.details } } }],
  ['dapr.proto.internals.v1.InternalInvokeResponseStream', 'payload only, 70000 bytes, seq 2^32+5',
    { payload: { data: BIG, seq: OVER_2_32 } }],
  ['dapr.proto.common.v1.InvokeRequest', 'fully populated (AppCallback/OnInvoke)', HTTP_REQUEST],
  ['dapr.proto.common.v1.InvokeRequest', 'protobuf data with type_url',
    { method: 'say', data: { type_url: 'type.googleapis.com/google.protobuf.StringValue', value: Buffer.from('\x0a\x02hi') }, content_type: 'application/x-protobuf' }],
  ...Array.from({ length: 10 }, (_, verb) => ['dapr.proto.common.v1.InvokeRequest', `verb ${verb}`,
    { method: 'v', http_extension: { verb, querystring: `q=${verb}` } }]),
  ['dapr.proto.common.v1.InvokeResponse', 'fully populated', FULL_RESPONSE.message],
  ['dapr.proto.common.v1.InvokeResponse', 'all defaults', {}],
  ['dapr.proto.common.v1.StreamPayload', 'seq 2^64-1 and NUL bytes', { data: NUL_BYTES, seq: U64_MAX }],
  ['dapr.proto.common.v1.HTTPExtension', 'PATCH with query', { verb: 9, querystring: 'x=%00&y=ü' }],
  ['dapr.proto.internals.v1.Status', 'with details', FULL_STATUS],
  ['dapr.proto.internals.v1.ListStringValue', 'multi-value with empty and non-ASCII', { values: ['', 'ä', '', 'x'.repeat(300)] }],
  ['dapr.proto.internals.v1.Actor', 'fully populated', FULL_REQUEST.actor],
  ['dapr.proto.internals.v1.Reminder', 'fully populated',
    { actor_id: 'a', actor_type: 't', name: 'r', data: { type_url: '', value: NUL_BYTES }, period: 'R5/PT1S',
      registered_time: { seconds: '-62135596800', nanos: 999999999 }, due_time: '1s',
      expiration_time: { seconds: '253402300799', nanos: 1 }, is_timer: true, skip_lock: true }],
  ['dapr.proto.runtime.v1.HealthCheckResponse', 'empty message', {}],
  ['google.protobuf.Empty', 'empty message', {}],
  ['google.protobuf.Any', 'type_url and NUL bytes', { type_url: 'x/y', value: NUL_BYTES }],
];

const short = (s) => (s.length > 90 ? `${s.slice(0, 90)}…` : s);

describe('schema: our generated descriptors equal the upstream .proto files', () => {
  const ours = JSON.parse(pbWire(['schema']).stdout.toString());
  const upstreamType = (f) => (f.resolvedType ? f.resolvedType.fullName.slice(1) : f.type);

  for (const [name, fields] of Object.entries(ours.messages)) {
    it(`message ${name}: same field names, numbers, types and labels`, () => {
      const T = type(name);
      const theirs = {};
      for (const f of T.fieldsArray) {
        theirs[f.name] = f.map
          ? { id: f.id, keyType: f.keyType, type: upstreamType(f), map: true, repeated: false }
          : { id: f.id, type: upstreamType(f), map: false, repeated: f.repeated };
      }
      assert.deepEqual(fields, theirs);
      assert.equal(T.oneofsArray.length, 0, 'a oneof upstream would need presence handling here');
    });
  }

  for (const [name, values] of Object.entries(ours.enums)) {
    it(`enum ${name}: same names and numbers`, () => {
      assert.deepEqual(values, { ...root.lookupEnum(name).values });
    });
  }

  for (const [name, methods] of Object.entries(ours.services)) {
    it(`service ${name}: every method has upstream's name and types`, () => {
      const S = root.lookupService(name);
      for (const [m, sig] of Object.entries(methods)) {
        const up = S.methods[m];
        assert.ok(up, `${name}/${m} is not upstream`);
        assert.deepEqual(sig, {
          requestType: up.resolvedRequestType.fullName.slice(1),
          responseType: up.resolvedResponseType.fullName.slice(1),
        });
      }
    });
  }

  it('every service invocation method and the app callbacks we use are declared', () => {
    assert.deepEqual(Object.keys(ours.services['dapr.proto.internals.v1.ServiceInvocation']).sort(),
      Object.keys(root.lookupService('dapr.proto.internals.v1.ServiceInvocation').methods).sort());
    assert.ok(ours.services['dapr.proto.runtime.v1.AppCallback'].OnInvoke);
    assert.ok(ours.services['dapr.proto.runtime.v1.AppCallbackHealthCheck'].HealthCheck);
  });
});

describe('upstream encodes, C decodes', () => {
  for (const [name, label, obj] of SAMPLES) {
    it(`${name}: ${label}`, () => {
      const T = type(name);
      const bytes = T.encode(T.fromObject(obj)).finish();
      assert.deepEqual(cDecode(name, bytes), canon(T, T.decode(bytes)));
    });
  }
});

describe('C encodes, upstream decodes', () => {
  for (const [name, label, obj] of SAMPLES) {
    it(`${name}: ${label}`, () => {
      const T = type(name);
      const want = canon(T, T.fromObject(obj));
      const bytes = cEncode(name, want);
      assert.deepEqual(canon(T, T.decode(bytes)), want);
      // and back through our decoder: nothing lost on a C-to-C hop either
      assert.deepEqual(cDecode(name, bytes), want);
    });
  }
});

describe('edge cases pinned to exact bytes', () => {
  it('C writes a present-but-empty payload as the empty submessage 12 00 (presence kept)', () => {
    const bytes = cEncode('dapr.proto.internals.v1.InternalInvokeRequestStream', { payload: { data: '', seq: '0' } });
    assert.equal(bytes.toString('hex'), '1200');
  });

  it('C writes an all-default message as zero bytes', () => {
    assert.equal(cEncode('dapr.proto.runtime.v1.HealthCheckResponse', {}).length, 0);
    assert.equal(cEncode('dapr.proto.internals.v1.InternalInvokeRequest', {}).length, 0);
  });

  it('C and upstream encode seq 2^64-1 and code -1 to the same bytes', () => {
    for (const [name, obj] of [
      ['dapr.proto.common.v1.StreamPayload', { seq: U64_MAX }],
      ['dapr.proto.internals.v1.Status', { code: -1 }],
    ]) {
      const T = type(name);
      const theirs = Buffer.from(T.encode(T.fromObject(obj)).finish());
      assert.equal(cEncode(name, obj).toString('hex'), theirs.toString('hex'));
    }
  });

  it('C skips fields it does not know (a newer Dapr may add some)', () => {
    const T = type('dapr.proto.internals.v1.InternalInvokeRequest');
    const known = Buffer.from(T.encode(T.fromObject(FULL_REQUEST)).finish());
    const unknown = Buffer.from([
      0xfa, 0x06, 0x03, 0x78, 0x79, 0x7a, // field 111, length-delimited "xyz"
      0xa0, 0x06, 0x96, 0x01,             // field 100, varint 150
      0x2d, 0x01, 0x02, 0x03, 0x04,       // field 5, fixed32
    ]);
    assert.deepEqual(cDecode(T.fullName.slice(1), Buffer.concat([unknown, known, unknown])), canon(T, T.decode(known)));
  });

  it('a map entry without a value decodes to a null value (callers must check)', () => {
    // metadata entry { key: "k" } with field 2 (value) absent
    const bytes = Buffer.from('12030a016b', 'hex');
    assert.deepEqual(cDecode('dapr.proto.internals.v1.InternalInvokeRequest', bytes).metadata, { k: null });
  });

  it('a repeated map key reaches C as two entries in wire order (upstream keeps the last)', () => {
    const T = type('dapr.proto.internals.v1.InternalInvokeRequest');
    const one = (v) => Buffer.from(T.encode(T.fromObject({ metadata: { K: { values: [v] } } })).finish());
    const bytes = Buffer.concat([one('first'), one('second')]);
    const r = pbWire(['decode', T.fullName.slice(1)], bytes);
    assert.equal(r.status, 0);
    assert.match(r.stdout.toString(), /"K":\{"values":\["first"\]\},"K":\{"values":\["second"\]\}/);
    // whoever turns the entries into headers must let the last one win to match daprd
    assert.deepEqual(T.toObject(T.decode(bytes), CANON).metadata, { K: { values: ['second'] } });
  });

  it('malformed bytes are rejected with exit 1, never a crash', () => {
    const T = type('dapr.proto.internals.v1.InternalInvokeRequest');
    const good = Buffer.from(T.encode(T.fromObject(FULL_REQUEST)).finish());
    const cases = [
      good.subarray(0, good.length - 1),           // truncated inside the last field
      Buffer.from([0x0f, 0x00]),                   // wire type 7
      Buffer.from([0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f]), // length far past the end
      Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // 11-byte varint
      Buffer.from([0x00]),                         // field number 0
    ];
    for (const bytes of cases) {
      const r = pbWire(['decode', 'dapr.proto.internals.v1.InternalInvokeRequest'], bytes);
      assert.equal(r.status, 1, `accepted ${short(bytes.toString('hex'))}`);
    }
  });
});
