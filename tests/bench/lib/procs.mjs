// procs.mjs - the benchmark's processes: start them (optionally pinned to a CPU), wait until
// they serve, read their CPU time and memory from /proc, and stop them by PID.
//
// Every process started here is registered until it exits. stopAll() stops the survivors
// (SIGTERM, then SIGKILL after a bounded wait); a process 'exit' hook SIGKILLs anything still
// registered, so neither an error nor an interrupt leaves a process behind. Nothing is ever
// stopped by name: other processes on the machine are not ours.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const LOG_LINES_KEPT = 200;
const live = new Set();

process.on('exit', () => {
  for (const p of live) {
    try { process.kill(p.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});

/** A free TCP port on 127.0.0.1 (bound to port 0 and released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The absolute path of an executable found on PATH (plus the sbin directories), or null. */
export function findExecutable(name) {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const d of dirs.filter(Boolean)) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch { /* not here */ }
  }
  return null;
}

/** Calls onLine for each complete line of a stream, and for a last unterminated one. */
function splitLines(stream, onLine) {
  let rest = '';
  stream.on('data', (chunk) => {
    rest += chunk.toString('utf8');
    let i;
    while ((i = rest.indexOf('\n')) >= 0) {
      onLine(rest.slice(0, i).replace(/\r$/, ''));
      rest = rest.slice(i + 1);
    }
  });
  stream.on('end', () => { if (rest) onLine(rest); });
}

/**
 * Starts a long-running process. cpu: a CPU number to pin it to with taskset (taskset execs the
 * program, so the PID is the program's), or null. Returns a handle with the PID, the recent
 * output lines and an `exited` promise.
 */
export function startProcess({ name, bin, args = [], cpu = null, env = {}, cwd }) {
  const [cmd, argv] = cpu === null ? [bin, args] : ['taskset', ['-c', String(cpu), bin, ...args]];
  const proc = spawn(cmd, argv, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const handle = {
    name, pid: proc.pid, cpu, cmdline: [bin, ...args].join(' '), lines: [], watchers: [], exit: null,
  };
  const onLine = (line) => {
    handle.lines.push(line);
    if (handle.lines.length > LOG_LINES_KEPT) handle.lines.shift();
    for (const w of [...handle.watchers]) w(line);
  };
  splitLines(proc.stdout, onLine);
  splitLines(proc.stderr, onLine);
  handle.exited = new Promise((resolve) => {
    const ended = (exit) => { handle.exit = exit; live.delete(handle); resolve(exit); };
    proc.once('error', (err) => { onLine(`spawn error: ${err.message}`); ended({ code: -1, signal: null }); });
    proc.once('exit', (code, signal) => ended({ code, signal }));
  });
  if (proc.pid === undefined) throw new Error(`${name}: cannot start ${cmd}`);
  live.add(handle);
  return handle;
}

function describeFailure(p, what) {
  const status = p.exit ? ` (exited: code ${p.exit.code} signal ${p.exit.signal ?? '-'})` : '';
  return new Error(`${p.name}: ${what}${status}; last output:\n${p.lines.slice(-30).join('\n')}`);
}

/** Resolves once the process printed a line matching re; rejects after ms or if it exits. */
export function waitForLine(p, re, ms) {
  if (p.lines.some((l) => re.test(l))) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err) => {
      clearTimeout(timer);
      p.watchers.splice(p.watchers.indexOf(watch), 1);
      if (err) reject(err); else resolve();
    };
    const watch = (line) => { if (re.test(line)) done(); };
    const timer = setTimeout(() => done(describeFailure(p, `no output matching ${re} within ${ms} ms`)), ms);
    p.watchers.push(watch);
    p.exited.then(() => { if (p.watchers.includes(watch)) done(describeFailure(p, 'exited before it was ready')); });
  });
}

/** One HTTP request; resolves {status, body} or rejects (bounded by ms). */
export function httpRequest(url, { method = 'GET', body = null, headers = {}, ms = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false, timeout: ms }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${ms} ms`)));
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

/** Polls url until it answers with `status`; rejects after ms or if the process exits. */
export async function waitForHttp(p, url, status, ms) {
  const deadline = Date.now() + ms;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (p.exit) throw describeFailure(p, 'exited before it was ready');
    try {
      const r = await httpRequest(url, { ms: 1000 });
      if (r.status === status) return;
      last = `status ${r.status}`;
    } catch (err) {
      last = err.message;
    }
    await sleep(50);
  }
  throw describeFailure(p, `${url} did not answer ${status} within ${ms} ms (last: ${last})`);
}

/** Polls a TCP port until it accepts a connection; rejects after ms or if the process exits. */
export async function waitForPort(p, port, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (p.exit) throw describeFailure(p, 'exited before it was ready');
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.setTimeout(500, () => { s.destroy(); resolve(false); });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw describeFailure(p, `port ${port} not accepting connections within ${ms} ms`);
}

/** SIGTERM, then SIGKILL if the process has not exited after graceMs. */
export async function stopProcess(p, graceMs = 3000) {
  if (p.exit) return p.exit;
  try { process.kill(p.pid, 'SIGTERM'); } catch { /* already gone */ }
  const timer = setTimeout(() => { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
  const exit = await Promise.race([p.exited, sleep(graceMs + 2000).then(() => null)]);
  clearTimeout(timer);
  return exit;
}

/** Stops every process still registered, all at once. */
export async function stopAll(graceMs = 3000) {
  await Promise.all([...live].map((p) => stopProcess(p, graceMs)));
}

/**
 * A run's scratch: a temp directory, and a cleanup that stops every process still registered
 * (SIGKILL after graceMs) and removes the directory, run at most once. On SIGINT or SIGTERM
 * the cleanup runs, onSignal() is told first, and the process exits 130 or 143.
 * Returns { tmp, cleanup }.
 */
export function scratchRun(prefix, label, graceMs, onSignal) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  let stopping = false;
  const cleanup = async () => {
    if (stopping) return;
    stopping = true;
    await stopAll(graceMs);
    fs.rmSync(tmp, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      onSignal();
      process.stderr.write(`\n${label}: ${sig}, stopping every process started\n`);
      cleanup().finally(() => process.exit(128 + (sig === 'SIGINT' ? 2 : 15)));
    });
  }
  return { tmp, cleanup };
}

/**
 * Runs a program to completion (a load generator). Bounded: SIGTERM after ms, SIGKILL 3 s later.
 * Resolves {code, signal, stdout, stderr, timedOut}.
 */
export function runToCompletion({ name, bin, args = [], cpu = null, ms }) {
  const [cmd, argv] = cpu === null ? [bin, args] : ['taskset', ['-c', String(cpu), bin, ...args]];
  return new Promise((resolve) => {
    const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const handle = { name, pid: proc.pid };
    if (proc.pid !== undefined) live.add(handle);
    const out = [];
    const err = [];
    proc.stdout.on('data', (c) => out.push(c));
    proc.stderr.on('data', (c) => err.push(c));
    let timedOut = false;
    let killTimer;
    const timer = setTimeout(() => {
      timedOut = true;
      try { proc.kill('SIGTERM'); } catch { /* gone */ }
      killTimer = setTimeout(() => { try { proc.kill('SIGKILL'); } catch { /* gone */ } }, 3000);
    }, ms);
    const finish = (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      live.delete(handle);
      resolve({
        code, signal, timedOut,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    };
    proc.once('error', (e) => { err.push(Buffer.from(e.message)); finish(-1, null); });
    proc.once('close', finish);
  });
}

// ---------------------------------------------------------------------------------------------
// /proc readers

let clkTck;
/** Clock ticks per second of /proc/<pid>/stat times (read once). */
export function clockTicks() {
  if (clkTck === undefined) {
    clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  }
  return clkTck;
}

/** utime and stime of a process, all threads, in clock ticks (fields 14 and 15 of stat). */
export function cpuTimes(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3
  return { user: Number(fields[14 - 3]), sys: Number(fields[15 - 3]) };
}

/**
 * Starts a new peak-RSS window: writing 5 to clear_refs resets VmHWM to the current RSS
 * (Linux 4.0+), so the VmHWM read after a run is that run's peak. Returns false when the
 * kernel refused (the peak then covers everything since the process started).
 */
export function resetPeak(pid) {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** VmRSS and VmHWM of a process, in bytes. */
export function memory(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key) => Number((status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm')) ?? [])[1]) * 1024;
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

/** The busy and idle jiffies of one CPU from /proc/stat, and when they were read. */
export function cpuJiffies(cpu) {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `));
  if (!line) throw new Error(`/proc/stat has no cpu${cpu} line`);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return { busy: user + nice + system + irq + softirq + (steal || 0), idle: idle + iowait, at: process.hrtime.bigint() };
}

/**
 * Fraction of time a CPU was busy between two cpuJiffies() readings: 1 − idle / elapsed.
 * The kernel measures idle time exactly (it timestamps entering and leaving idle), while the
 * busy columns are sampled by the scheduler tick, which mostly misses short bursts of work
 * between idle periods: at a few thousand requests per second the busy columns can show a
 * tenth of the real load. So the busy fraction is derived from the idle columns and the
 * elapsed time.
 */
export function utilisation(before, after) {
  const elapsedJiffies = (Number(after.at - before.at) / 1e9) * clockTicks();
  if (elapsedJiffies <= 0) return 0;
  return Math.min(1, Math.max(0, 1 - (after.idle - before.idle) / elapsedJiffies));
}

/** The same fraction from the tick-sampled columns alone: busy / (busy + idle). */
export function tickUtilisation(before, after) {
  const busy = after.busy - before.busy;
  const total = busy + (after.idle - before.idle);
  return total > 0 ? busy / total : 0;
}
