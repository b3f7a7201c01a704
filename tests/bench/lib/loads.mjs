// loads.mjs - the three load generators, each run to completion and its output turned into
// figures: wrk (closed loop, req/s), loadgen (open loop at a constant rate, latency) and h2load
// (HTTP/2, for the sidecar's internal gRPC API).
//
// Every result has the same shape: { requests, errors, error_detail, figures } where requests
// is what the CPU time of the processes is divided by, and errors counts every failed request
// (non-2xx answers, socket errors, timeouts). A generator that did not run throws.
import fs from 'node:fs';
import path from 'node:path';
import { runToCompletion } from './procs.mjs';

/** A wrk Lua script that POSTs a body of `size` bytes; written once per size into dir. */
export function wrkScript(dir, size) {
  const file = path.join(dir, `post-${size}.lua`);
  if (!fs.existsSync(file)) {
    fs.writeFileSync(file, [
      'wrk.method = "POST"',
      `wrk.body = string.rep("x", ${size})`,
      'wrk.headers["Content-Type"] = "application/octet-stream"',
      '',
    ].join('\n'));
  }
  return file;
}

function toolFailure(name, r) {
  return new Error(`${name} failed (code ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr}${r.stdout}`);
}

const UNIT_US = { us: 1, ms: 1000, s: 1e6, m: 60e6, h: 3600e6 };

/** "1.23ms" -> 1230 (µs). */
function wrkDurationUs(text) {
  const m = text.match(/^([\d.]+)(us|ms|s|m|h)$/);
  return m ? Number(m[1]) * UNIT_US[m[2]] : NaN;
}

/** The figures of wrk's --latency output. */
export function parseWrk(out) {
  const num = (re) => { const m = out.match(re); return m ? Number(m[1]) : null; };
  const requests = num(/^\s*(\d+) requests in /m);
  const rps = num(/^Requests\/sec:\s+([\d.]+)/m);
  if (requests === null || rps === null) throw new Error(`unexpected wrk output:\n${out}`);
  const sock = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const socketErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const non2xx = num(/Non-2xx or 3xx responses:\s+(\d+)/) ?? 0;
  const latency = {};
  for (const [, pct, value] of out.matchAll(/^\s+(50|75|90|99)%\s+(\S+)/gm)) latency[`p${pct}`] = wrkDurationUs(value);
  return {
    requests,
    errors: socketErrors + non2xx,
    error_detail: { non2xx, socket: socketErrors },
    figures: { rps, requests, latency_us: latency },
  };
}

/** wrk -t1 -cC for durationS seconds (whole seconds: wrk takes no fraction), POSTing the script's body. */
export async function runWrk({ url, connections, durationS, script, cpu }) {
  durationS = Math.max(1, Math.round(durationS));
  const args = ['-t1', `-c${connections}`, `-d${durationS}s`, '--timeout', '5s', '--latency', '-s', script, url];
  const r = await runToCompletion({ name: 'wrk', bin: 'wrk', args, cpu, ms: (durationS + 30) * 1000 });
  if (r.code !== 0 || r.timedOut) throw toolFailure('wrk', r);
  return parseWrk(r.stdout);
}

/**
 * loadgen at a constant rate. Its counts cover the measured window only, while the processes'
 * CPU time also covers the warm-up; the schedule is fixed (open loop), so the requests sent
 * over the whole run are requests × (warm-up + duration) / duration.
 */
export async function runLoadgen({ bin, url, rate, connections, bodySize, durationS, warmupS, jsonFile, cpu }) {
  const args = [
    '--url', url, '--method', 'POST', '--body-size', String(bodySize),
    '--connections', String(connections), '--rate', String(rate),
    '--duration', String(durationS), '--warmup', String(warmupS), '--json', jsonFile,
  ];
  const r = await runToCompletion({ name: 'loadgen', bin, args, cpu, ms: (durationS + warmupS + 40) * 1000 });
  if (r.code !== 0 || r.timedOut) throw toolFailure('loadgen', r);
  const j = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
  return {
    requests: Math.round(j.requests * (warmupS + durationS) / durationS),
    errors: j.errors,
    error_detail: { non2xx: j.non2xx, socket: j.socket_errors ?? 0, timeouts: j.timeouts ?? 0, overflow: j.overflow ?? 0 },
    figures: {
      target_rate: j.target_rate,
      achieved_rate: j.achieved_rate,
      requests: j.requests,
      uncorrected: j.uncorrected,
      corrected: j.corrected,
    },
  };
}

/** The value at percentile pct (0-100) of sorted numbers (nearest rank). */
export function percentile(sorted, pct) {
  if (!sorted.length) return null;
  const rank = Math.ceil((pct / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Latency percentiles from an h2load --log-file (third column: µs to the end of the response). */
export function h2loadLogPercentiles(file) {
  const values = fs.readFileSync(file, 'utf8').split('\n')
    .map((l) => Number(l.split('\t')[2]))
    .filter((v) => Number.isFinite(v))
    .sort((a, b) => a - b);
  return {
    samples: values.length,
    p50: percentile(values, 50), p90: percentile(values, 90),
    p99: percentile(values, 99), p999: percentile(values, 99.9),
    max: values.length ? values[values.length - 1] : null,
  };
}

/** The figures of h2load's summary. */
export function parseH2load(out) {
  const req = out.match(/requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/);
  const fin = out.match(/finished in [\d.]+\w*, ([\d.]+) req\/s/);
  if (!req || !fin) throw new Error(`unexpected h2load output:\n${out}`);
  const [done, succeeded, failed, errored, timeout] = req.slice(3).map(Number);
  const codes = out.match(/status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/);
  const non2xx = codes ? Number(codes[2]) + Number(codes[3]) + Number(codes[4]) : 0;
  return {
    requests: done,
    errors: failed + errored + timeout + non2xx,
    error_detail: { failed, errored, timeout, non2xx },
    figures: { rps: Number(fin[1]), requests: done, succeeded },
  };
}

/**
 * h2load against a gRPC method: POST of a prepared framed message, for durationS seconds. No
 * warm-up phase (the run's warm-up pass covers it), so the requests it counts are all the
 * requests the processes' CPU time was spent on.
 */
export async function runH2load({ url, bodyFile, clients, streams, durationS, logFile, cpu }) {
  const args = [
    '-t1', `-c${clients}`, `-m${streams}`, '-D', String(durationS),
    '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-d', bodyFile,
  ];
  if (logFile) args.push('--log-file', logFile);
  args.push(url);
  const r = await runToCompletion({ name: 'h2load', bin: 'h2load', args, cpu, ms: (durationS + 30) * 1000 });
  if (r.code !== 0 || r.timedOut) throw toolFailure('h2load', r);
  const res = parseH2load(r.stdout);
  if (logFile) res.figures.latency_us = h2loadLogPercentiles(logFile);
  return res;
}
