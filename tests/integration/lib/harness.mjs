// harness.mjs - start daprd, talk raw HTTP/1.1 to it, and make sure nothing is left behind.
//
// Every daprd started here is registered; stopAll() (call it from an after hook) stops the ones
// a test forgot, and a process 'exit' hook SIGKILLs any survivor, so no run leaves an orphan.
// stop() asserts that the process's stderr holds no sanitizer report (ASan/UBSan/LSan builds).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const DAPRD = process.env.DAPRD;
if (!DAPRD) throw new Error('set DAPRD to the daprd binary (ctest does this)');

export const SANITIZER_PATTERNS = [
  'ERROR: AddressSanitizer',
  'ERROR: LeakSanitizer',
  'runtime error:',
];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** p's value, or null after ms; the timer is cleared either way, so it never keeps the
 * process alive. */
export async function raceTimeout(p, ms) {
  let timer;
  const t = new Promise((r) => { timer = setTimeout(() => r(null), ms); });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// ports, temp dirs, files

export async function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.once('error', reject);
    s.listen({ host, port: 0, exclusive: true }, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

let ipv6Cache;
/** True when ::1 can be bound on this machine. */
export async function hasIPv6() {
  if (ipv6Cache !== undefined) return ipv6Cache;
  try {
    await freePort('::1');
    ipv6Cache = true;
  } catch {
    ipv6Cache = false;
  }
  return ipv6Cache;
}

const tempDirs = [];
export function tempDir(prefix = 'remora-it-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

/** Writes files {relativeName: text} into a fresh temp dir and returns the dir. */
export function writeFiles(files, dir = tempDir()) {
  for (const [name, text] of Object.entries(files)) {
    const p = path.join(dir, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text);
  }
  return dir;
}

let idSeq = 0;
export function uniqueAppId(prefix = 'it') {
  idSeq += 1;
  return `${prefix}-${process.pid}-${idSeq}`;
}

// ---------------------------------------------------------------------------------------------
// daprd processes

const live = new Set();

// One HOME per test file: daprd's default name-resolution database lives under ~/.dapr, so
// the sidecars of one file find each other and nothing touches the real home directory.
let testHome = null;
export function testHomeDir() {
  if (!testHome) testHome = tempDir('remora-home-');
  return testHome;
}

function sanitizerEnv(env) {
  const out = { ...process.env, HOME: testHomeDir(), ...env };
  // Keep reports on stderr and the exit code meaningful; never let a report abort silently.
  if (!('ASAN_OPTIONS' in env)) out.ASAN_OPTIONS = [process.env.ASAN_OPTIONS, 'detect_leaks=1'].filter(Boolean).join(':');
  if (!('UBSAN_OPTIONS' in env)) out.UBSAN_OPTIONS = [process.env.UBSAN_OPTIONS, 'print_stacktrace=1'].filter(Boolean).join(':');
  return out;
}

class Logs {
  constructor() {
    this.stdout = [];
    this.stderr = [];
    this.waiters = [];
  }
  push(stream, line) {
    this[stream].push(line);
    for (const w of [...this.waiters]) {
      if (w.re.test(line)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(line);
      }
    }
  }
  all() {
    return [...this.stdout, ...this.stderr];
  }
  text() {
    return this.all().join('\n');
  }
  /** Resolves with the first line (already seen or future) matching re; rejects after ms. */
  waitFor(re, ms = 5000) {
    const hit = this.all().find((l) => re.test(l));
    if (hit !== undefined) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const w = { re, resolve };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no log line matching ${re} within ${ms} ms; logs:\n${this.text()}`));
      }, ms);
      this.waiters.push(w);
    });
  }
}

function lineSplitter(onLine) {
  let rest = '';
  return {
    data(chunk) {
      rest += chunk.toString('utf8');
      let i;
      while ((i = rest.indexOf('\n')) >= 0) {
        onLine(rest.slice(0, i).replace(/\r$/, ''));
        rest = rest.slice(i + 1);
      }
    },
    end() {
      if (rest.length) onLine(rest);
      rest = '';
    },
  };
}

/** Asserts that a process's stderr holds no sanitizer report. */
export function assertNoSanitizerReport(logs, what = 'daprd') {
  const text = logs.stderr.join('\n');
  for (const p of SANITIZER_PATTERNS) {
    assert.ok(!text.includes(p), `${what} stderr contains "${p}":\n${text.slice(0, 8000)}`);
  }
}

/**
 * Spawns daprd. Options:
 *   args        extra command line arguments (appended after the defaults)
 *   env         extra environment
 *   appId       default: a unique id
 *   port        HTTP API port (default: a free one); healthPort: where to poll (default port)
 *   healthHost  default '127.0.0.1'; healthSocket: poll over this Unix socket instead
 *   wait        poll GET /v1.0/healthz until 204 (default true); false: return at once
 *   defaults    false: do not add the default flags (only args)
 * Returns { proc, port, appId, logs, exited (promise of {code, signal}), stop(signal) }.
 */
export async function startDaprd(opts = {}) {
  const appId = opts.appId ?? uniqueAppId();
  const port = opts.port ?? (await freePort());
  const defaults = opts.defaults === false ? [] : [
    '--app-id', appId,
    '--dapr-http-port', String(port),
    '--dapr-grpc-port', String(await freePort()),
    '--dapr-internal-grpc-port', String(await freePort()),
    '--metrics-port', String(await freePort()),
    '--enable-metrics=false',
  ];
  const args = [...defaults, ...(opts.args ?? [])];
  const logs = new Logs();
  const proc = spawn(DAPRD, args, { env: sanitizerEnv(opts.env ?? {}), stdio: ['ignore', 'pipe', 'pipe'] });
  const out = lineSplitter((l) => logs.push('stdout', l));
  const err = lineSplitter((l) => logs.push('stderr', l));
  proc.stdout.on('data', out.data);
  proc.stderr.on('data', err.data);
  let exitInfo = null;
  const streamsDone = Promise.all([
    new Promise((r) => proc.stdout.on('close', r)),
    new Promise((r) => proc.stderr.on('close', r)),
  ]);
  const exited = new Promise((resolve) => {
    proc.on('error', (e) => {
      exitInfo = { code: null, signal: null, error: e };
      resolve(exitInfo);
    });
    proc.on('exit', async (code, signal) => {
      await Promise.race([streamsDone, sleep(2000)]);
      out.end();
      err.end();
      exitInfo = { code, signal };
      live.delete(d);
      resolve(exitInfo);
    });
  });

  const d = {
    proc, port, appId, args, logs, exited,
    get exitInfo() { return exitInfo; },
    /** Sends `signal` (default SIGTERM), waits up to timeoutMs for exit (else SIGKILL and
     * fail), asserts no sanitizer report, returns the exit code. */
    async stop(signal = 'SIGTERM', timeoutMs = 10000) {
      if (!exitInfo) {
        try { proc.kill(signal); } catch { /* already gone */ }
      }
      const r = await raceTimeout(exited, timeoutMs);
      if (!r) {
        proc.kill('SIGKILL');
        await exited;
        assert.fail(`daprd did not exit within ${timeoutMs} ms of ${signal}; logs:\n${logs.text().slice(-4000)}`);
      }
      assertNoSanitizerReport(logs);
      return r.code;
    },
    /** Waits for the process to exit by itself; returns {code, signal} or null on timeout. */
    async waitExit(timeoutMs = 10000) {
      return raceTimeout(exited, timeoutMs);
    },
  };
  live.add(d);

  if (opts.wait === false) return d;
  const healthPort = opts.healthPort ?? port;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 10000);
  for (;;) {
    if (exitInfo) {
      throw new Error(`daprd exited during start-up (${JSON.stringify(exitInfo)}); args: ${args.join(' ')}\nlogs:\n${logs.text().slice(-4000)}`);
    }
    try {
      const r = await request({
        host: opts.healthHost ?? '127.0.0.1', port: healthPort, socketPath: opts.healthSocket,
        path: '/v1.0/healthz', timeoutMs: 1000,
      });
      if (r.status === 204) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      await exited;
      throw new Error(`daprd not healthy within 10 s; args: ${args.join(' ')}\nlogs:\n${logs.text().slice(-4000)}`);
    }
    await sleep(50);
  }
  return d;
}

/** Runs daprd to completion (no health wait); defaults: true adds startDaprd's default flags
 * (app id, free ports). Returns {code, signal, stdout, stderr, lines}. */
export async function runDaprd(args, { env = {}, timeoutMs = 5000, defaults = false } = {}) {
  const d = await startDaprd({ args, env, wait: false, defaults });
  const r = await d.waitExit(timeoutMs);
  if (!r) {
    d.proc.kill('SIGKILL');
    await d.exited;
    assert.fail(`daprd ${args.join(' ')} did not exit within ${timeoutMs} ms; logs:\n${d.logs.text().slice(-4000)}`);
  }
  assertNoSanitizerReport(d.logs);
  return {
    code: r.code, signal: r.signal,
    stdout: d.logs.stdout.join('\n'), stderr: d.logs.stderr.join('\n'),
    lines: d.logs.all().filter((l) => l.trim() !== ''),
  };
}

/** Stops every daprd still running (SIGKILL after 10 s) and asserts none left a sanitizer
 * report. Use as an after hook. */
export async function stopAll() {
  const errors = [];
  for (const d of [...live]) {
    try {
      await d.stop('SIGTERM');
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length) throw errors[0];
}

process.on('exit', () => {
  for (const d of live) {
    try { d.proc.kill('SIGKILL'); } catch { /* gone */ }
  }
  for (const t of tempDirs) {
    try { fs.rmSync(t, { recursive: true, force: true }); } catch { /* ignore */ }
  }
});

// ---------------------------------------------------------------------------------------------
// HTTP through node:http (well-formed requests)

/**
 * One request on a fresh connection (no agent). Options: host, port, socketPath, method, path,
 * headers, body, timeoutMs. Resolves {status, headers, body (string), json()}.
 */
export function request(o) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: o.host ?? '127.0.0.1', port: o.port, socketPath: o.socketPath,
      method: o.method ?? 'GET', path: o.path ?? '/', headers: o.headers ?? {}, agent: false,
      family: o.family,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        const buffer = Buffer.concat(chunks);
        const body = buffer.toString('utf8');
        resolve({
          status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, body, buffer,
          json() { return JSON.parse(body); },
        });
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`timeout ${o.method ?? 'GET'} ${o.path}`)), o.timeoutMs ?? 5000);
    req.on('error', (e) => { clearTimeout(timer); reject(e); });
    if (o.body !== undefined) req.end(o.body);
    else req.end();
  });
}

/** Asserts a Dapr JSON error: status, Content-Type application/json, exact body. */
export function assertDaprError(r, status, errorCode, message) {
  assert.equal(r.status, status, `status; body: ${r.body}`);
  const ct = r.headers['content-type'];
  assert.equal(ct, 'application/json', `content-type of the ${status} error`);
  let j;
  try { j = JSON.parse(typeof r.body === 'string' ? r.body : r.body.toString('utf8')); } catch (e) {
    assert.fail(`error body is not JSON: ${JSON.stringify(String(r.body))}`);
  }
  assert.equal(j.errorCode, errorCode, `errorCode in ${JSON.stringify(j)}`);
  if (message !== undefined) assert.equal(j.message, message, `message in ${JSON.stringify(j)}`);
  return j;
}

// ---------------------------------------------------------------------------------------------
// raw HTTP/1.1

function toBuf(b) {
  return Buffer.isBuffer(b) ? b : Buffer.from(b, 'latin1');
}

/**
 * Opens a TCP (or Unix, with opts.socketPath) connection, writes `bytes` and collects everything
 * until the server closes or timeoutMs elapses. `bytes` is a string (latin1), a Buffer, or an
 * array of pieces: string/Buffer, or {data, delayMs} (sleep delayMs before writing data).
 * opts.end: half-close (FIN) after the last piece. opts.head: methods for parseResponses.
 * Resolves {data, closed, reset, error, elapsedMs, closedAtMs, responses, statuses}.
 */
export function raw(port, bytes, opts = {}) {
  const timeoutMs = opts.timeoutMs ?? 3000;
  return new Promise((resolve) => {
    const started = Date.now();
    const chunks = [];
    let closed = false;
    let reset = false;
    let error = null;
    let closedAtMs = null;
    let done = false;
    const sock = opts.socketPath
      ? net.createConnection({ path: opts.socketPath })
      : net.createConnection({ host: opts.host ?? '127.0.0.1', port });
    sock.setNoDelay(true);
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const data = Buffer.concat(chunks);
      const responses = parseResponses(data, { head: opts.head });
      resolve({
        data, closed, reset, error, elapsedMs: Date.now() - started, closedAtMs,
        responses, statuses: responses.map((r) => r.status),
      });
    };
    const timer = setTimeout(finish, timeoutMs);
    sock.on('data', (c) => chunks.push(c));
    sock.on('end', () => { closed = true; closedAtMs = Date.now() - started; finish(); });
    sock.on('error', (e) => {
      error = e;
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') reset = true;
      closed = true;
      closedAtMs = Date.now() - started;
      finish();
    });
    sock.on('connect', async () => {
      const pieces = Array.isArray(bytes) ? bytes : [bytes];
      for (const p of pieces) {
        if (done) return;
        const piece = (typeof p === 'object' && !Buffer.isBuffer(p)) ? p : { data: p };
        if (piece.delayMs) await sleep(piece.delayMs);
        if (done || sock.destroyed) return;
        if (piece.data !== undefined && piece.data.length) sock.write(toBuf(piece.data));
      }
      if (opts.end && !sock.destroyed) sock.end();
    });
  });
}

/** raw() over a Unix domain socket. */
export function rawUnix(socketPath, bytes, opts = {}) {
  return raw(0, bytes, { ...opts, socketPath });
}

/**
 * Splits a byte stream of HTTP/1.x responses. opts.head: array of request methods in order
 * (a 'HEAD' entry means that response has no body); 1xx responses do not consume an entry.
 * Returns [{version, status, reason, headers (lower-cased name → value, repeats joined by ', '),
 * rawHeaders [[name, value]], body (Buffer), complete, raw (Buffer of the whole response)}].
 * A final incomplete response is returned with complete=false.
 */
export function parseResponses(buf, opts = {}) {
  const out = [];
  let pos = 0;
  let reqIndex = 0;
  while (pos < buf.length) {
    const start = pos;
    const headEnd = buf.indexOf('\r\n\r\n', pos, 'latin1');
    if (headEnd < 0) {
      out.push({ status: parseStatus(buf.subarray(pos)), complete: false, partial: buf.subarray(pos), headers: {}, rawHeaders: [], body: Buffer.alloc(0) });
      break;
    }
    const head = buf.subarray(pos, headEnd).toString('latin1');
    const lines = head.split('\r\n');
    const m = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
    if (!m) {
      out.push({ status: null, complete: false, garbage: true, partial: buf.subarray(pos), headers: {}, rawHeaders: [], body: Buffer.alloc(0) });
      break;
    }
    const r = { version: m[1], status: Number(m[2]), reason: m[3] ?? '', headers: {}, rawHeaders: [], body: Buffer.alloc(0), complete: true };
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      const name = (i < 0 ? l : l.slice(0, i)).trim();
      const value = i < 0 ? '' : l.slice(i + 1).trim();
      r.rawHeaders.push([name, value]);
      const k = name.toLowerCase();
      r.headers[k] = k in r.headers ? `${r.headers[k]}, ${value}` : value;
    }
    let bodyStart = headEnd + 4;
    const informational = r.status >= 100 && r.status < 200;
    const isHead = !informational && opts.head && opts.head[reqIndex] === 'HEAD';
    if (!informational) reqIndex += 1;
    if (informational || isHead || r.status === 204 || r.status === 304) {
      pos = bodyStart;
    } else if (/\bchunked\b/i.test(r.headers['transfer-encoding'] ?? '')) {
      const chunksOut = [];
      let p = bodyStart;
      let ok = false;
      for (;;) {
        const le = buf.indexOf('\r\n', p, 'latin1');
        if (le < 0) break;
        const size = parseInt(buf.subarray(p, le).toString('latin1').split(';')[0].trim(), 16);
        if (Number.isNaN(size)) break;
        p = le + 2;
        if (size === 0) {
          // trailers until an empty line
          const te = buf.indexOf('\r\n\r\n', p - 2, 'latin1');
          if (te < 0) break;
          p = te + 4;
          ok = true;
          break;
        }
        if (p + size + 2 > buf.length) break;
        chunksOut.push(buf.subarray(p, p + size));
        p += size + 2;
      }
      r.body = Buffer.concat(chunksOut);
      if (!ok) { r.complete = false; out.push(r); break; }
      pos = p;
    } else if ('content-length' in r.headers) {
      const n = Number(r.headers['content-length']);
      if (bodyStart + n > buf.length) {
        r.body = buf.subarray(bodyStart);
        r.complete = false;
        out.push(r);
        break;
      }
      r.body = buf.subarray(bodyStart, bodyStart + n);
      pos = bodyStart + n;
    } else {
      // close-delimited
      r.body = buf.subarray(bodyStart);
      pos = buf.length;
    }
    r.start = start;
    r.end = pos;
    out.push(r);
  }
  return out;
}

function parseStatus(b) {
  const m = /^HTTP\/\d\.\d (\d{3})/.exec(b.toString('latin1'));
  return m ? Number(m[1]) : null;
}

export function bodyJson(r) {
  return JSON.parse(r.body.toString('utf8'));
}

// ---------------------------------------------------------------------------------------------
// a persistent raw connection (keep-alive, interim responses, timeouts)

export class Conn {
  /** Connects (TCP 127.0.0.1:port, or opts.host / opts.socketPath). */
  static open(port, opts = {}) {
    return new Promise((resolve, reject) => {
      const c = new Conn();
      const sock = opts.socketPath
        ? net.createConnection({ path: opts.socketPath })
        : net.createConnection({ host: opts.host ?? '127.0.0.1', port });
      c.sock = sock;
      sock.setNoDelay(true);
      const onErr = (e) => reject(e);
      sock.once('error', onErr);
      sock.once('connect', () => {
        sock.off('error', onErr);
        c.opened = Date.now();
        resolve(c);
      });
      sock.on('data', (d) => { c.buf = Buffer.concat([c.buf, d]); c.kick(); });
      sock.on('end', () => { c.closed = true; c.closedAt = Date.now(); c.kick(); });
      sock.on('error', (e) => { c.error = e; c.closed = true; c.closedAt ??= Date.now(); c.kick(); });
      sock.on('close', () => { c.closed = true; c.closedAt ??= Date.now(); c.kick(); });
    });
  }

  constructor() {
    this.buf = Buffer.alloc(0);
    this.closed = false;
    this.closedAt = null;
    this.error = null;
    this.consumed = 0; // bytes of buf already returned as responses
    this.waiters = [];
  }

  kick() {
    for (const w of [...this.waiters]) w();
  }

  write(bytes) {
    return new Promise((resolve, reject) => {
      if (this.sock.destroyed) return reject(new Error('socket destroyed'));
      this.sock.write(toBuf(bytes), (e) => (e ? reject(e) : resolve()));
    });
  }

  /** Waits until `pred()` is true, the connection closes, or ms elapse. Returns pred(). */
  until(pred, ms) {
    return new Promise((resolve) => {
      const check = () => {
        if (pred() || this.closed) {
          clearTimeout(timer);
          this.waiters.splice(this.waiters.indexOf(check), 1);
          resolve(pred());
        }
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(check), 1);
        resolve(pred());
      }, ms);
      this.waiters.push(check);
      check();
    });
  }

  /** Unconsumed bytes received so far. */
  pending() {
    return this.buf.subarray(this.consumed);
  }

  /** Next complete response (interim ones included) or throws after ms. */
  async response(ms = 3000, opts = {}) {
    const next = () => {
      const rs = parseResponses(this.pending(), { head: opts.head });
      return rs.length && rs[0].complete ? rs[0] : null;
    };
    await this.until(() => next() !== null, ms);
    const r = next();
    if (!r) {
      throw new Error(`no complete response within ${ms} ms (closed=${this.closed}); got ${JSON.stringify(this.pending().toString('latin1').slice(0, 500))}`);
    }
    this.consumed += r.end;
    return r;
  }

  /** Resolves true if the server closed within ms. */
  async waitClose(ms) {
    return this.until(() => this.closed, ms);
  }

  destroy() {
    this.sock.destroy();
  }
}

/** Builds a request string. headers: array of [name, value] or object. */
export function req(method, target, headers = {}, body = '', version = 'HTTP/1.1') {
  const list = Array.isArray(headers) ? headers : Object.entries(headers);
  let s = `${method} ${target} ${version}\r\n`;
  for (const [k, v] of list) s += `${k}: ${v}\r\n`;
  return `${s}\r\n${body}`;
}

/** Connects and returns the error code ('ECONNREFUSED', ...) or null when the connect
 * succeeded (the socket is then closed at once). */
export function connectError(port, host = '127.0.0.1', ms = 2000) {
  return new Promise((resolve) => {
    const s = net.createConnection({ host, port });
    const t = setTimeout(() => { s.destroy(); resolve('ETIMEDOUT'); }, ms);
    s.once('connect', () => { clearTimeout(t); s.destroy(); resolve(null); });
    s.once('error', (e) => { clearTimeout(t); resolve(e.code); });
  });
}

export const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
