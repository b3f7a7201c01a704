// summary.mjs - from raw runs to figures: median and min–max over rounds, latency added over
// the direct path (round by round), ratios and the targets Remora is held to against nginx.
//
// A summary keeps every round's value, valid or not, and says how many runs were invalid; the
// table marks such figures instead of hiding them.

/** { median, min, max, n, values } of the finite numbers in values, or null if there are none. */
export function stats(values) {
  const v = values.filter((x) => Number.isFinite(x));
  if (!v.length) return null;
  const s = [...v].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1], n: s.length, values: v };
}

const get = (obj, keys) => keys.reduce((o, k) => (o == null ? undefined : o[k]), obj);

/** Summaries of one scenario × measurement: every numeric figure over its rounds. */
function summariseRuns(runs) {
  const figure = (...keys) => stats(runs.map((r) => get(r.figures, keys)));
  const procs = [...new Set(runs.flatMap((r) => Object.keys(r.cpu_s_per_10k ?? {})))];
  const out = {
    runs: runs.length,
    invalid_runs: runs.filter((r) => !r.valid).length,
    error_runs: runs.filter((r) => r.failed || r.errors > 0 || !(r.requests > 0)).length,
    requests: stats(runs.map((r) => r.requests)),
    cpu1_util: stats(runs.map((r) => r.cpu1_util)),
    cpu0_util: stats(runs.map((r) => r.cpu0_util)),
    cpu_s_per_10k: Object.fromEntries(procs.map((p) => [p, stats(runs.map((r) => r.cpu_s_per_10k?.[p]))])),
  };
  if (runs.some((r) => r.figures?.rps !== undefined)) out.rps = figure('rps');
  if (runs.some((r) => r.figures?.uncorrected)) {
    out.latency_us = Object.fromEntries(['p50', 'p90', 'p99', 'p999', 'max', 'mean'].map((k) => [k, figure('uncorrected', k)]));
    out.corrected_latency_us = Object.fromEntries(['p50', 'p90', 'p99', 'p999'].map((k) => [k, figure('corrected', k)]));
    out.achieved_rate = figure('achieved_rate');
  } else if (runs.some((r) => r.figures?.latency_us)) {
    const keys = Object.keys(runs.find((r) => r.figures?.latency_us).figures.latency_us).filter((k) => k !== 'samples');
    out.latency_us = Object.fromEntries(keys.map((k) => [k, figure('latency_us', k)]));
  }
  return out;
}

/** summary[scenario][measurement] for every scenario and measurement that has runs. */
export function summarise(runs) {
  const out = {};
  for (const r of runs) {
    out[r.scenario] ??= {};
    out[r.scenario][r.measurement] ??= [];
    out[r.scenario][r.measurement].push(r);
  }
  for (const s of Object.keys(out)) {
    for (const m of Object.keys(out[s])) out[s][m] = summariseRuns(out[s][m]);
  }
  return out;
}

export const PERCENTILES = ['p50', 'p90', 'p99', 'p999'];

/**
 * Latency added by each scenario over direct, per percentile: scenario − direct within the same
 * round, then summarised over rounds. added[scenario][measurement][pXX].
 */
export function addedLatency(runs, scenarios, measurements) {
  const find = (s, m, round) => runs.find((r) => r.scenario === s && r.measurement === m && r.round === round);
  const out = {};
  for (const s of scenarios.filter((x) => x !== 'direct')) {
    for (const m of measurements) {
      const perRound = runs.filter((r) => r.scenario === s && r.measurement === m).map((r) => {
        const base = find('direct', m, r.round);
        const valid = r.valid && base?.valid;
        const diffs = Object.fromEntries(PERCENTILES.map((p) => {
          const a = r.figures?.uncorrected?.[p];
          const b = base?.figures?.uncorrected?.[p];
          return [p, Number.isFinite(a) && Number.isFinite(b) ? a - b : null];
        }));
        return { round: r.round, valid, ...diffs };
      });
      if (!perRound.length) continue;
      out[s] ??= {};
      out[s][m] = {
        rounds: perRound,
        invalid_runs: perRound.filter((x) => !x.valid).length,
        ...Object.fromEntries(PERCENTILES.map((p) => [p, stats(perRound.map((x) => x[p]))])),
      };
    }
  }
  return out;
}

const med = (s) => (s ? s.median : null);
const scaled = (x, factor) => (Number.isFinite(x) ? x * factor : null);
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : null);

/** Ratios of each scenario's medians against direct and against nginx. */
export function ratios(summary, scenarios) {
  const fig = (s, m, ...keys) => med(get(summary, [s, m, ...keys]));
  const out = {};
  for (const s of scenarios.filter((x) => x !== 'direct')) {
    const row = {};
    for (const base of ['direct', 'nginx'].filter((b) => b !== s && summary[b])) {
      row[`vs_${base}`] = {
        rps_c50: ratio(fig(s, 'rps_c50', 'rps'), fig(base, 'rps_c50', 'rps')),
        rps_c1: ratio(fig(s, 'rps_c1', 'rps'), fig(base, 'rps_c1', 'rps')),
        rps_c50_64k: ratio(fig(s, 'rps_c50_64k', 'rps'), fig(base, 'rps_c50_64k', 'rps')),
        p50_at_1000: ratio(fig(s, 'lat_1000', 'latency_us', 'p50'), fig(base, 'lat_1000', 'latency_us', 'p50')),
        p99_at_1000: ratio(fig(s, 'lat_1000', 'latency_us', 'p99'), fig(base, 'lat_1000', 'latency_us', 'p99')),
      };
    }
    out[s] = row;
  }
  return out;
}

export const PEAK_RSS_LIMIT = 12_000_000;
const CPU_FACTOR = 1.25;
const RPS_FRACTION = 0.8;

/** The targets for remora-grpc against the nginx chain, each with measured, limit and pass. */
export function evaluateTargets(summary, added, memory) {
  const targets = [];
  const push = (name, measured, limit, unit, cmp) => {
    const ok = Number.isFinite(measured) && Number.isFinite(limit);
    targets.push({ name, measured, limit, unit, pass: ok ? (cmp === '<=' ? measured <= limit : measured >= limit) : null });
  };
  for (const p of ['p50', 'p90', 'p99']) {
    const remora = med(added['remora-grpc']?.lat_1000?.[p]);
    push(`added latency ${p} at 1000 req/s <= nginx's`, remora, med(added.nginx?.lat_1000?.[p]), 'µs', '<=');
  }
  const rps = med(summary['remora-grpc']?.rps_c50?.rps);
  const nginxRps = med(summary.nginx?.rps_c50?.rps);
  push('req/s c50 >= 80 % of nginx', rps, scaled(nginxRps, RPS_FRACTION), 'req/s', '>=');
  const cpu = (s, p) => med(summary[s]?.lat_1000?.cpu_s_per_10k?.[p]);
  const pairs = [['sidecar-A', 'nginx-A'], ['sidecar-B', 'nginx-B']];
  for (const [sc, ng] of pairs) {
    const limit = cpu('nginx', ng);
    push(`CPU per request at 1000 req/s: ${sc} <= 1.25 x ${ng}`, cpu('remora-grpc', sc), scaled(limit, CPU_FACTOR), 'CPU-s/10k', '<=');
  }
  const mean = (xs) => (xs.every(Number.isFinite) ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  const sidecarMean = mean(pairs.map(([sc]) => cpu('remora-grpc', sc)));
  const nginxMean = mean(pairs.map(([, ng]) => cpu('nginx', ng)));
  push('CPU per request at 1000 req/s: mean of sidecars <= 1.25 x mean of nginx', sidecarMean, scaled(nginxMean, CPU_FACTOR),
    'CPU-s/10k', '<=');
  // The footprint target is for the standard 1 KiB load; the 64 KiB throughput run's peak (50
  // bodies of 64 KiB in flight, each buffered whole by the callee for OnInvoke) is reported next
  // to it, and the whole run's peak in the memory table.
  for (const sc of ['sidecar-A', 'sidecar-B']) {
    push(`peak RSS of ${sc} under the 1 KiB loads <= 12 MB`, memory[sc]?.peak_rss_1k ?? null, PEAK_RSS_LIMIT, 'bytes', '<=');
  }
  return targets;
}
