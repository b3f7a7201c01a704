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
    cpu_user_s_per_10k: Object.fromEntries(procs.map((p) => [p, stats(runs.map((r) => r.cpu_user_s_per_10k?.[p]))])),
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
/** Most of the chain's throughput that metrics plus tracing at sampling rate 1 may cost, in %. */
export const OBSERVABILITY_COST_LIMIT_PCT = 5;

/** The plain gRPC chain and the same chain with metrics and tracing on; each sidecar's pair. */
export const OBS_PAIR = { plain: 'remora-grpc', obs: 'remora-grpc-obs' };
export const OBS_SIDECARS = [['sidecar-A', 'obs-A'], ['sidecar-B', 'obs-B']];

/**
 * Observability's cost: remora-grpc-obs against remora-grpc, measured in the same rounds. For
 * req/s the ratio obs / plain is taken round by round (the two run back to back, so drift of
 * the machine cancels) and then summarised; for CPU per request each sidecar's ratio of
 * medians, at saturation (wrk c50) and at 1000 req/s, plus the two sidecars together.
 * export: the span counters scraped from each observability sidecar at the end of the run.
 * exporters: the trace exporters the observability sidecars were configured with ('otlp',
 * 'zipkin'), recorded with the figures.
 */
export function observabilitySummary(runs, summary, exportFigures, exporters = ['otlp']) {
  const { plain, obs } = OBS_PAIR;
  if (!summary[plain] || !summary[obs]) return null;
  const perRound = (m) => runs.filter((r) => r.scenario === obs && r.measurement === m).map((r) => {
    const base = runs.find((b) => b.scenario === plain && b.measurement === m && b.round === r.round);
    const a = r.figures?.rps;
    const b = base?.figures?.rps;
    return { round: r.round, valid: r.valid && !!base?.valid, ratio: a > 0 && b > 0 ? a / b : null };
  });
  const rps = {};
  for (const m of ['rps_c50', 'rps_c1', 'rps_c50_64k']) {
    const rounds = perRound(m);
    if (!rounds.length) continue;
    rps[m] = {
      plain: summary[plain][m]?.rps ?? null,
      obs: summary[obs][m]?.rps ?? null,
      ratio: stats(rounds.map((x) => x.ratio)),
      ratio_of_medians: ratio(med(summary[obs][m]?.rps), med(summary[plain][m]?.rps)),
      rounds,
      invalid_runs: rounds.filter((x) => !x.valid).length,
    };
  }
  const cpuOf = (key) => {
    const cpu = {};
    for (const m of ['rps_c50', 'lat_1000']) cpu[m] = cpuRows(summary, m, key);
    return cpu;
  };
  const latency = {};
  for (const m of ['lat_1000', 'lat_5000']) {
    latency[m] = Object.fromEntries(['p50', 'p90', 'p99'].map((p) => [p, {
      plain: med(summary[plain][m]?.latency_us?.[p]), obs: med(summary[obs][m]?.latency_us?.[p]),
    }]));
  }
  return {
    plain, obs, exporters, rps, cpu_s_per_10k: cpuOf('cpu_s_per_10k'), cpu_user_s_per_10k: cpuOf('cpu_user_s_per_10k'),
    latency_us: latency, spans: spanSummary(runs, obs, exporters), export: exportFigures ?? null,
  };
}

/** CPU per 10k requests of each sidecar, plain against obs, and of the two together (medians). */
function cpuRows(summary, m, key) {
  const { plain, obs } = OBS_PAIR;
  const fig = (s, p) => med(summary[s]?.[m]?.[key]?.[p]);
  const rows = {};
  for (const [pp, op] of OBS_SIDECARS) {
    rows[pp.replace('sidecar-', '')] = { plain: fig(plain, pp), obs: fig(obs, op), ratio: ratio(fig(obs, op), fig(plain, pp)) };
  }
  const sum = (k) => (Object.values(rows).every((x) => Number.isFinite(x[k])) ? Object.values(rows).reduce((a, x) => a + x[k], 0) : null);
  rows['A+B'] = { plain: sum('plain'), obs: sum('obs'), ratio: ratio(sum('obs'), sum('plain')) };
  rows.collector = { obs: fig(obs, 'collector') };
  return rows;
}

/**
 * Per measurement and sidecar, from each run's span counters (after minus before, see
 * run.mjs): spans exported per request sent by each chosen exporter (`<exporter>_per_request`,
 * e.g. otlp_per_request), the share of the spans recorded that a full ring dropped (recorded =
 * sent by the first chosen exporter + dropped because the ring was full), and the export
 * failures. Medians over rounds, with min–max.
 */
function spanSummary(runs, scenario, exporters) {
  const out = {};
  const first = `exported_${exporters[0]}`;
  const measured = runs.filter((r) => r.scenario === scenario && r.spans);
  for (const m of [...new Set(measured.map((r) => r.measurement))]) {
    const rs = measured.filter((r) => r.measurement === m);
    const names = [...new Set(rs.flatMap((r) => Object.keys(r.spans)))];
    out[m] = Object.fromEntries(names.map((name) => {
      const per = (k) => stats(rs.map((r) => (r.requests > 0 && r.spans[name] ? r.spans[name][k] / r.requests : null)));
      const dropped = stats(rs.map((r) => {
        const d = r.spans[name];
        const recorded = d && Number.isFinite(d[first]) && Number.isFinite(d.dropped_queue_full) ? d[first] + d.dropped_queue_full : 0;
        return recorded > 0 ? d.dropped_queue_full / recorded : null;
      }));
      const failed = rs.reduce((a, r) => a + (r.spans[name]?.dropped_export_failed ?? 0), 0);
      const exported = Object.fromEntries(exporters.map((x) => [`${x}_per_request`, per(`exported_${x}`)]));
      return [name, { ...exported, dropped_queue_full_share: dropped, export_failed: failed }];
    }));
  }
  return out;
}

/** The targets for remora-grpc against the nginx chain, each with measured, limit and pass. */
export function evaluateTargets(summary, added, memory, observability = null) {
  const targets = [];
  const compare = { '<=': (a, b) => a <= b, '>=': (a, b) => a >= b, '<': (a, b) => a < b };
  const push = (name, measured, limit, unit, cmp) => {
    const ok = Number.isFinite(measured) && Number.isFinite(limit);
    targets.push({ name, measured, limit, unit, pass: ok ? compare[cmp](measured, limit) : null });
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
  // Metrics plus tracing at sampling rate 1 against the plain chain: the median of the
  // per-round ratios of req/s at 50 connections, as the throughput they cost.
  if (observability) {
    const r = observability.rps?.rps_c50?.ratio?.median;
    push(`observability cost < ${OBSERVABILITY_COST_LIMIT_PCT} % of throughput (remora-grpc-obs vs remora-grpc, req/s c50)`,
      Number.isFinite(r) ? (1 - r) * 100 : null, OBSERVABILITY_COST_LIMIT_PCT, '%', '<');
  }
  return targets;
}
