// Remora's gRPC (pkg/rpc: nghttp2 on libuv) against the reference implementations, both
// directions: our client → gRPC C core server and → @grpc/grpc-js server; gRPC C core client
// and grpc-js client → our server. Same echo service and case list everywhere
// (tests/support/interop_common.h): unary, bidi streaming, 3 MiB messages, error status with
// special characters, deadline, cancel, unknown method, over-limit messages.
//
// The C peers are tests/support programs (paths from ctest's environment):
//   GRPC_CORE_ECHO_SERVER, GRPC_CORE_CLIENT  gRPC C core
//   RPC_ECHO_SERVER, RPC_CLIENT_PROBE        Remora
// Servers listen on 127.0.0.1 with a port chosen at run time and print "PORT <n>".
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');

const BIN = {};
for (const k of ['GRPC_CORE_ECHO_SERVER', 'GRPC_CORE_CLIENT', 'RPC_ECHO_SERVER', 'RPC_CLIENT_PROBE']) {
  BIN[k] = process.env[k];
  if (!BIN[k]) throw new Error(`set ${k} (ctest does this)`);
}

const SANITIZER = ['ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:'];
const MIB = 1024 * 1024;
const SPECIAL = 'bad: 100% ünïcødé ☃ "quoted" \\ tab\there ~!@#$^&*()';

// ---------------------------------------------------------------------------------------------
// payload pattern and the expected result of each case (interop_common.h)

function fill(len, seed) {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed * 7 + 1) & 0xff;
  return b;
}
const check = (buf, seed) => buf.equals(fill(buf.length, seed));

// case → predicate over the JSON result; `ours` says whether the peer under test is Remora
const CASES = [
  ['unary:10', (r) => r.status === 0 && r.echo && r.msgs === 1 && r.hdr === 'interop' && r.trl === 'done'],
  ['unary:0', (r) => r.status === 0 && r.echo && r.msgs === 1 && r.bytes === 0],
  ['stream:200:1000', (r) => r.status === 0 && r.echo && r.msgs === 200],
  ['stream:4:1048576', (r) => r.status === 0 && r.echo && r.msgs === 4],
  [`fail:9:${SPECIAL}`, (r) => r.status === 9 && r.message === SPECIAL],
  ['fail:14:', (r) => r.status === 14],
  ['sleep:3000:300', (r) => r.status === 4],
  ['sleep:50:5000', (r) => r.status === 0 && r.msgs === 1],
  ['big:3145728', (r) => r.status === 0 && r.echo && r.bytes === 3 * MIB],
  ['unary:3145728', (r) => r.status === 0 && r.echo && r.bytes === 3 * MIB],
  ['unknown', (r) => r.status === 12],
  ['cancel:200', (r) => r.status === 1],
  ['big:5000000', (r) => r.status === 8], // over 4 MiB: the server refuses to send or the client to receive
  ['unary:10', (r) => r.status === 0 && r.echo], // the connection survived all that
];
// Run by the client after the others with a larger send limit, so the server's receive
// limit is what refuses (C core and grpc-js clients have no send limit by default).
const OVER_SEND = ['unary:9000000', (r) => r.status === 8];

// ---------------------------------------------------------------------------------------------
// processes

function sanitizerEnv(leaks) {
  return {
    ...process.env,
    ASAN_OPTIONS: [process.env.ASAN_OPTIONS, `detect_leaks=${leaks ? 1 : 0}`].filter(Boolean).join(':'),
    UBSAN_OPTIONS: [process.env.UBSAN_OPTIONS, 'print_stacktrace=1'].filter(Boolean).join(':'),
  };
}

function assertClean(name, stderr) {
  for (const p of SANITIZER) assert.ok(!stderr.includes(p), `sanitizer report from ${name}:\n${stderr}`);
}

const live = new Set();
process.on('exit', () => { for (const p of live) try { p.kill('SIGKILL'); } catch { /* gone */ } });

/** Starts a server program and resolves once it printed its port. */
function startServer(bin, args = [], { ours = false } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, args, { env: sanitizerEnv(ours), stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(proc);
    let out = '';
    const s = { proc, stderr: '', port: 0, name: bin.split('/').pop() };
    proc.stderr.on('data', (d) => { s.stderr += d; });
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /PORT (\d+)/.exec(out);
      if (m && !s.port) {
        s.port = Number(m[1]);
        resolve(s);
      }
    });
    proc.on('exit', (code) => {
      live.delete(proc);
      s.exitCode = code;
      if (!s.port) reject(new Error(`${bin} exited (${code}) before listening:\n${s.stderr}`));
    });
  });
}

/** SIGTERM, wait for exit (bounded), return the exit code. */
function stopServer(s, ms = 10000) {
  return new Promise((resolve) => {
    if (s.exitCode !== undefined) return resolve(s.exitCode);
    const t = setTimeout(() => s.proc.kill('SIGKILL'), ms);
    s.proc.on('exit', (code, sig) => { clearTimeout(t); resolve(code ?? sig); });
    s.proc.kill('SIGTERM');
  });
}

/** Runs a C client program over the cases; resolves with its JSON results. */
function runClient(bin, address, cases, { ours = false, maxMsg } = {}) {
  return new Promise((resolve, reject) => {
    const args = [address, ...(maxMsg ? ['--max-msg', String(maxMsg)] : []), ...cases];
    const proc = spawn(bin, args, { env: sanitizerEnv(ours), stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(proc);
    let out = '', err = '';
    proc.stdout.on('data', (d) => { out += d; });
    proc.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => proc.kill('SIGKILL'), 60000);
    proc.on('exit', (code) => {
      clearTimeout(t);
      live.delete(proc);
      try {
        assertClean(bin, err);
        assert.equal(code, 0, `${bin} exited ${code}:\n${err}`);
        resolve(out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)));
      } catch (e) { reject(e); }
    });
  });
}

function assertResults(results, cases) {
  assert.equal(results.length, cases.length, `one result per case: ${JSON.stringify(results)}`);
  cases.forEach(([name, pred], i) => {
    assert.equal(results[i].case, name);
    assert.ok(pred(results[i]), `case ${name}: ${JSON.stringify(results[i])}`);
  });
}

// ---------------------------------------------------------------------------------------------
// grpc-js peers: identity (de)serialisation, raw Buffers

const ident = (x) => x;
const method = (name, stream) => ({
  path: `/remora.test.Echo/${name}`,
  requestStream: stream,
  responseStream: stream,
  requestSerialize: ident,
  requestDeserialize: ident,
  responseSerialize: ident,
  responseDeserialize: ident,
});
const SERVICE = {
  Unary: method('Unary', false),
  Stream: method('Stream', true),
  Fail: method('Fail', false),
  Sleep: method('Sleep', false),
  Big: method('Big', false),
};
const CLIENT_SERVICE = { ...SERVICE, Nope: method('Nope', false) };

function startGrpcJsServer() {
  const server = new grpc.Server();
  server.addService(SERVICE, {
    Unary(call, cb) {
      const v = call.metadata.get('x-test');
      if (v.length) {
        const md = new grpc.Metadata();
        md.set('x-echo', v[0]);
        call.sendMetadata(md);
      }
      const tr = new grpc.Metadata();
      tr.set('x-trailer', 'done');
      cb(null, call.request, tr);
    },
    Stream(call) {
      call.on('data', (d) => call.write(d));
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
    Fail(call, cb) {
      const t = call.request.toString();
      const sp = t.indexOf(' ');
      cb({ code: Number(t.slice(0, sp)), details: sp >= 0 ? t.slice(sp + 1) : '' });
    },
    Sleep(call, cb) {
      const timer = setTimeout(() => cb(null, Buffer.from('slept')), Number(call.request.toString()));
      call.on('cancelled', () => clearTimeout(timer));
    },
    Big(call, cb) {
      cb(null, fill(Number(call.request.toString()), 0));
    },
  });
  return new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err) return reject(err);
      resolve({ server, port });
    });
  });
}

/** The client cases with grpc-js; same result shape as the C clients. */
async function grpcJsRun(address, cases, { maxMsg } = {}) {
  const Client = grpc.makeGenericClientConstructor(CLIENT_SERVICE, 'Echo');
  const opts = maxMsg ? { 'grpc.max_send_message_length': maxMsg } : {};
  const client = new Client(address, grpc.credentials.createInsecure(), opts);
  const results = [];
  for (const name of cases) results.push(await grpcJsCase(client, name));
  client.close();
  return results;
}

function grpcJsCase(client, name) {
  const r = { case: name, status: -1, message: '', msgs: 0, bytes: 0, echo: false, hdr: '', trl: '' };
  const [kind, a, ...rest] = name.split(':');
  const md = new grpc.Metadata();
  md.set('x-test', 'interop');
  return new Promise((resolve) => {
    const done = (st) => {
      r.status = st.code;
      r.message = st.details ?? '';
      const t = st.metadata?.get('x-trailer');
      if (t?.length) r.trl = String(t[0]);
      resolve(r);
    };
    const onMeta = (m) => { const v = m.get('x-echo'); if (v.length) r.hdr = String(v[0]); };
    const unary = (m, req, deadlineMs, check) => {
      const call = client[m](req, md, { deadline: Date.now() + deadlineMs }, (err, res) => {
        if (res) {
          r.msgs = 1;
          r.bytes = res.length;
          r.echo = check ? check(res) : true;
        }
      });
      call.on('metadata', onMeta);
      call.on('status', done);
      return call;
    };
    switch (kind) {
      case 'unary': { const req = fill(Number(a), 1); unary('Unary', req, 60000, (res) => res.equals(req)); break; }
      case 'big': unary('Big', Buffer.from(a), 60000, (res) => res.length === Number(a) && check(res, 0)); break;
      case 'fail': unary('Fail', Buffer.from(`${a} ${rest.join(':')}`), 60000); break;
      case 'sleep': unary('Sleep', Buffer.from(a), Number(rest[0])); break;
      case 'unknown': unary('Nope', Buffer.from('x'), 60000); break;
      case 'cancel': { const call = unary('Sleep', Buffer.from('10000'), 60000); setTimeout(() => call.cancel(), Number(a)); break; }
      case 'stream': {
        const count = Number(a), size = Number(rest[0]);
        const call = client.Stream(md);
        r.echo = true;
        call.on('metadata', onMeta);
        call.on('data', (d) => {
          if (d.length !== size || !check(d, r.msgs)) r.echo = false;
          r.msgs++;
          r.bytes += d.length;
        });
        call.on('error', () => {});
        call.on('status', (st) => { if (r.msgs !== count) r.echo = false; done(st); });
        let i = 0;
        const pump = () => {
          while (i < count) {
            if (!call.write(fill(size, i++))) return call.once('drain', pump);
          }
          call.end();
        };
        pump();
        break;
      }
      default: resolve(r);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// the matrix

describe('gRPC interop: Remora client', () => {
  let core, js;
  before(async () => {
    core = await startServer(BIN.GRPC_CORE_ECHO_SERVER);
    js = await startGrpcJsServer();
  });
  after(async () => {
    if (core) await stopServer(core);
    if (js) await new Promise((r) => js.server.tryShutdown(r));
  });

  it('talks to a gRPC C core server', async () => {
    const names = CASES.map(([n]) => n);
    assertResults(await runClient(BIN.RPC_CLIENT_PROBE, `127.0.0.1:${core.port}`, names, { ours: true }), CASES);
    assertResults(await runClient(BIN.RPC_CLIENT_PROBE, `127.0.0.1:${core.port}`, [OVER_SEND[0]],
      { ours: true, maxMsg: 16 * MIB }), [OVER_SEND]);
  });

  it('talks to a @grpc/grpc-js server', async () => {
    const names = CASES.map(([n]) => n);
    assertResults(await runClient(BIN.RPC_CLIENT_PROBE, `127.0.0.1:${js.port}`, names, { ours: true }), CASES);
    assertResults(await runClient(BIN.RPC_CLIENT_PROBE, `127.0.0.1:${js.port}`, [OVER_SEND[0]],
      { ours: true, maxMsg: 16 * MIB }), [OVER_SEND]);
  });

  it('refuses to send over its own limit, and reports a closed port as UNAVAILABLE', async () => {
    const r = await runClient(BIN.RPC_CLIENT_PROBE, `127.0.0.1:${core.port}`, ['unary:5000000'], { ours: true });
    assert.equal(r[0].status, 8);
    const closed = await startServer(BIN.GRPC_CORE_ECHO_SERVER);
    await stopServer(closed);
    const u = await runClient(BIN.RPC_CLIENT_PROBE, `127.0.0.1:${closed.port}`, ['unary:10'], { ours: true });
    assert.equal(u[0].status, 14);
    assert.match(u[0].message, /connection error/);
  });
});

describe('gRPC interop: Remora server', () => {
  let ours;
  before(async () => {
    ours = await startServer(BIN.RPC_ECHO_SERVER, [], { ours: true });
  });
  after(async () => {
    if (!ours) return;
    const code = await stopServer(ours);
    assertClean('rpc_echo_server', ours.stderr);
    assert.equal(code, 0, `rpc_echo_server exit ${code} (drain with every handle closed):\n${ours.stderr}`);
  });

  it('serves a gRPC C core client', async () => {
    const names = CASES.map(([n]) => n);
    assertResults(await runClient(BIN.GRPC_CORE_CLIENT, `127.0.0.1:${ours.port}`, names), CASES);
    assertResults(await runClient(BIN.GRPC_CORE_CLIENT, `127.0.0.1:${ours.port}`, [OVER_SEND[0]],
      { maxMsg: 16 * MIB }), [OVER_SEND]);
  });

  it('serves a @grpc/grpc-js client', async () => {
    const names = CASES.map(([n]) => n);
    assertResults(await grpcJsRun(`127.0.0.1:${ours.port}`, names), CASES);
    assertResults(await grpcJsRun(`127.0.0.1:${ours.port}`, [OVER_SEND[0]], { maxMsg: 16 * MIB }), [OVER_SEND]);
  });

  it('serves many concurrent grpc-js calls on one connection', async () => {
    const Client = grpc.makeGenericClientConstructor(CLIENT_SERVICE, 'Echo');
    const client = new Client(`127.0.0.1:${ours.port}`, grpc.credentials.createInsecure());
    const N = 300;
    const res = await Promise.all(Array.from({ length: N }, (_, i) => new Promise((resolve) => {
      const req = fill(100 + i, i);
      client.Unary(req, (err, out) => resolve(!err && out.equals(req)));
    })));
    client.close();
    assert.equal(res.filter(Boolean).length, N);
  });

  it('drains on SIGTERM: calls in flight finish, new connections are refused', async () => {
    const s = await startServer(BIN.RPC_ECHO_SERVER, [], { ours: true });
    const Client = grpc.makeGenericClientConstructor(CLIENT_SERVICE, 'Echo');
    const client = new Client(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure());
    const inflight = Array.from({ length: 5 }, () => new Promise((resolve) => {
      client.Sleep(Buffer.from('500'), (err, out) => resolve(err ? `error ${err.code}` : out.toString()));
    }));
    await new Promise((r) => setTimeout(r, 200));
    const exited = stopServer(s);
    await new Promise((r) => setTimeout(r, 100));
    const fresh = new Client(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure());
    const refused = await new Promise((resolve) => {
      fresh.Unary(Buffer.from('x'), { deadline: Date.now() + 2000 }, (err) => resolve(err?.code));
    });
    fresh.close();
    assert.ok(refused === grpc.status.UNAVAILABLE || refused === grpc.status.DEADLINE_EXCEEDED, `got ${refused}`);
    assert.deepEqual(await Promise.all(inflight), Array(5).fill('slept'));
    assert.equal(await exited, 0);
    assertClean('rpc_echo_server', s.stderr);
    client.close();
  });
});
