// report.mjs - the printed report: one table (a row per scenario), then internal-direct, the
// multi-core ratio, the soak, observability's cost, the ratios and the targets. Figures are medians over rounds;
// req/s also show [min–max]. A figure with an invalid run behind it (errors, or CPU 1 above
// the limit: the load generator or the app, not the system under test, was the bottleneck)
// carries a "!".

import { exportersLabel } from './sidecars.mjs';

const MiB = 1024 * 1024;

/** Short names of the processes, for table cells. */
export const SHORT = {
  'sidecar-A': 'A', 'sidecar-B': 'B', 'sidecar-Bh': "B'", 'nginx-A': 'ngxA', 'nginx-B': 'ngxB',
  'obs-A': 'A', 'obs-B': 'B', collector: 'sink',
  http_echo: 'app', grpc_echo: 'app', 'mc-grpc_echo': 'app',
};

const EXPORTER_SHORT = { otlp: 'OTLP', zipkin: 'Zipkin' };

const fmtNum = (x, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : '–');
const mark = (s) => (s && s.invalid_runs > 0 ? '!' : '');
const med = (s) => (s ? s.median : null);

function fmtRange(st, digits = 0) {
  if (!st) return '–';
  if (st.n === 1) return fmtNum(st.median, digits);
  return `${fmtNum(st.median, digits)} [${fmtNum(st.min, digits)}–${fmtNum(st.max, digits)}]`;
}

function fmtRps(sum) {
  return sum?.rps ? fmtRange(sum.rps) + mark(sum) : '–';
}

function fmtPercentiles(sum, keys = ['p50', 'p90', 'p99', 'p999']) {
  if (!sum?.latency_us) return '–';
  return keys.map((k) => fmtNum(med(sum.latency_us[k]))).join('/') + mark(sum);
}

function fmtAdded(added) {
  if (!added) return '–';
  const marker = added.invalid_runs > 0 ? '!' : '';
  return ['p50', 'p90', 'p99'].map((k) => fmtNum(med(added[k]))).join('/') + marker;
}

function fmtCpu(sum) {
  if (!sum?.cpu_s_per_10k) return '–';
  const parts = Object.entries(sum.cpu_s_per_10k).map(([p, st]) => `${SHORT[p] ?? p} ${fmtNum(med(st), 2)}`);
  return parts.length ? parts.join(' ') + mark(sum) : '–';
}

function fmtMemory(procs, memory) {
  const parts = procs.filter((p) => memory[p]).map((p) => {
    const m = memory[p];
    const mib = (x) => (Number.isFinite(x) ? fmtNum(x / MiB, 1) : '–');
    return `${SHORT[p] ?? p} ${mib(m.idle_rss)}/${mib(m.peak_rss_1k)}/${mib(m.peak_rss_64k)}`;
  });
  return parts.length ? parts.join(' ') : '–';
}

/** Lays out rows (arrays of strings) in aligned columns separated by " │ ". */
function layout(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join(' │ ').trimEnd();
  const rule = widths.map((w) => '─'.repeat(w)).join('─┼─');
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** The main table: one row per HTTP scenario. */
export function scenarioTable({ scenarios, summary, added, memory, memoryProcs }) {
  const header = [
    'scenario', 'req/s c50', 'req/s c1', 'req/s c50 64KiB',
    '@1000/s p50/p90/p99/p99.9 µs', 'corr p99', '@5000/s p50/p90/p99/p99.9 µs', 'corr p99',
    'added @1000/s p50/p90/p99 µs', 'CPU-s/10k req @sat', 'CPU-s/10k req @1000/s', 'RSS MiB idle/peak 1KiB/peak 64KiB',
  ];
  const rows = scenarios.map((s) => {
    const S = summary[s] ?? {};
    return [
      s,
      fmtRps(S.rps_c50), fmtRps(S.rps_c1), fmtRps(S.rps_c50_64k),
      fmtPercentiles(S.lat_1000), fmtNum(med(S.lat_1000?.corrected_latency_us?.p99)),
      fmtPercentiles(S.lat_5000), fmtNum(med(S.lat_5000?.corrected_latency_us?.p99)),
      s === 'direct' ? '(floor)' : fmtAdded(added[s]?.lat_1000),
      fmtCpu(S.rps_c50), fmtCpu(S.lat_1000),
      fmtMemory(memoryProcs[s] ?? [], memory),
    ];
  });
  return layout(header, rows);
}

/** internal-direct: h2load against sidecar B's internal API, apart from the HTTP scenarios. */
export function internalBlock(summary) {
  const S = summary['internal-direct'];
  if (!S) return null;
  return [
    'internal-direct (h2load → sidecar B internal gRPC API CallLocal → grpc_echo; B and app only):',
    `  req/s c4×m16 1KiB: ${fmtRps(S.h2_rps)}    req/s c1×m1: ${fmtRps(S.h2_lat)}`,
    `  latency c1×m1 p50/p90/p99/p99.9 µs: ${fmtPercentiles(S.h2_lat)}`,
    `  CPU-s/10k req @c4×m16: ${fmtCpu(S.h2_rps)}    @c1×m1: ${fmtCpu(S.h2_lat)}`,
  ].join('\n');
}

/** Multi-core: the unpinned remora-grpc chain with 2 worker threads against 1. */
export function multicoreBlock(multicore) {
  if (!multicore) return null;
  return [
    'multi-core (remora-grpc chain, nothing pinned, wrk c50 1KiB):',
    `  --worker-threads 1: ${fmtRange(multicore.wt1?.rps)} req/s   --worker-threads 2: ${fmtRange(multicore.wt2?.rps)} req/s` +
      `   ratio 2/1: ${fmtRange(multicore.ratio, 2)}${multicore.invalid_runs ? ' !' : ''}`,
  ].join('\n');
}

/** Soak: RSS after the first part of the run and at the end, per process. */
export function soakBlock(soak) {
  if (!soak?.length) return null;
  const lines = ['soak (wrk c50 1KiB; RSS MiB at t1 → end, growth):'];
  for (const chain of soak) {
    const parts = Object.entries(chain.processes).map(([p, m]) =>
      `${p} ${fmtNum(m.rss_at_t1 / MiB, 2)} → ${fmtNum(m.rss_end / MiB, 2)} (${m.growth_pct >= 0 ? '+' : ''}` +
      `${fmtNum(m.growth_pct, 1)} %)`);
    const head = `${chain.scenario} ${chain.duration_s} s, t1 = ${chain.t1_s} s, ${fmtNum(chain.rps)} req/s`;
    lines.push(`  ${head}${chain.valid ? '' : ' !'}: ${parts.join('   ')}`);
  }
  return lines.join('\n');
}

/**
 * Observability's cost: the gRPC chain with metrics and tracing on (every request sampled,
 * exported by the chosen exporters: OTLP/HTTP, Zipkin or both) against the same chain with both
 * off, in the same rounds; then what each observability sidecar's metrics say it exported and
 * dropped.
 */
export function observabilityBlock(o) {
  if (!o) return null;
  const f2 = (x) => fmtNum(x, 2);
  const f3 = (x) => fmtNum(x, 3);
  const exporters = o.exporters ?? ['otlp'];
  const label = exportersLabel(exporters);
  const lines = [`observability (${o.obs}: metrics + tracing, samplingRate 1, ${label} export; vs ${o.plain}: both off):`];
  const names = { rps_c50: 'req/s c50', rps_c1: 'req/s c1', rps_c50_64k: 'req/s c50 64KiB', lat_1000: '@1000/s', lat_5000: '@5000/s' };
  for (const [m, r] of Object.entries(o.rps)) {
    lines.push(`  ${names[m].padEnd(15)} plain ${fmtRange(r.plain)}   obs ${fmtRange(r.obs)}   ratio obs/plain ` +
      `${fmtRange(r.ratio, 3)} (per round)${r.invalid_runs ? ' !' : ''}`);
  }
  for (const [key, what] of [['cpu_s_per_10k', 'CPU-s/10k req'], ['cpu_user_s_per_10k', '  user mode  ']]) {
    for (const [m, label] of [['rps_c50', '@sat (c50)'], ['lat_1000', '@1000/s']]) {
      const rows = o[key]?.[m];
      if (!rows) continue;
      const parts = ['A', 'B', 'A+B'].map((k) => `${k} ${f3(rows[k]?.plain)} → ${f3(rows[k]?.obs)} (${f2(rows[k]?.ratio)}×)`);
      lines.push(`  ${what} ${label.padEnd(10)} ${parts.join('   ')}   sink ${f3(rows.collector?.obs)}`);
    }
  }
  const l = o.latency_us.lat_1000;
  if (l) {
    lines.push(`  @1000/s p50/p90/p99 µs: plain ${['p50', 'p90', 'p99'].map((p) => fmtNum(l[p].plain)).join('/')}` +
      `   obs ${['p50', 'p90', 'p99'].map((p) => fmtNum(l[p].obs)).join('/')}`);
  }
  if (Object.keys(o.spans ?? {}).length) {
    lines.push(`  spans per run (medians; per request: exported to ${exporters.map((x) => EXPORTER_SHORT[x]).join(' / to ')}; ` +
      'share of the recorded spans dropped by a full ring):');
    for (const [m, bySidecar] of Object.entries(o.spans)) {
      const parts = Object.entries(bySidecar).map(([name, x]) => {
        const d = x.dropped_queue_full_share;
        const share = d ? `${fmtNum(d.median * 100, 1)} %${d.n > 1 ? ` [${fmtNum(d.min * 100, 1)}–${fmtNum(d.max * 100, 1)}]` : ''}` : '–';
        const per = exporters.map((e) => f2(x[`${e}_per_request`]?.median)).join(' / ');
        return `${SHORT[name] ?? name} ${per}, dropped ${share}` +
          (x.export_failed ? `, ${x.export_failed} failed` : '');
      });
      lines.push(`    ${(names[m] ?? m).padEnd(15)} ${parts.join('   ')}`);
    }
  }
  const e = o.export;
  if (e) {
    const c = (x) => (Number.isFinite(x) ? String(Math.round(x)) : 'missing');
    for (const [name, s] of Object.entries(e.sidecars ?? {})) {
      if (!s.counters) {
        lines.push(`  ${name}: metrics scrape failed (${s.error ?? `status ${s.status}`})`);
        continue;
      }
      const k = s.counters;
      const exported = exporters.map((x) => `${x} ${c(k[`exported_${x}`])}`).join(' ');
      lines.push(`  ${name} whole run: spans exported ${exported}, dropped queue-full ` +
        `${c(k.dropped_queue_full)} export-failed ${c(k.dropped_export_failed)}` +
        (Number.isFinite(s.spans_per_request) ? ` (${s.spans_per_request.toFixed(2)} per request sent, ${exporters[0]})` : ''));
    }
    lines.push(`  requests sent through ${o.obs}: about ${e.requests_sent}; batches received by the sink: ` +
      `${e.sink_requests ?? '–'}; plain sidecars' metrics port: ${e.plain_metrics}`);
  }
  return lines.join('\n');
}

/** Ratio lines: each scenario against direct and nginx (medians of the same run). */
export function ratioBlock(ratioTable) {
  const f = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '–');
  const lines = ['ratios (medians; req/s c50, c1, 64KiB and latency p50, p99 at 1000 req/s):'];
  for (const [s, row] of Object.entries(ratioTable)) {
    const parts = Object.entries(row).map(([base, r]) =>
      `${base.replace('vs_', 'vs ')}: req/s ${f(r.rps_c50)} ${f(r.rps_c1)} ${f(r.rps_c50_64k)}, ` +
      `p50 ${f(r.p50_at_1000)}, p99 ${f(r.p99_at_1000)}`);
    lines.push(`  ${s.padEnd(12)} ${parts.join('   ')}`);
  }
  return lines.join('\n');
}

function fmtTargetValue(v, unit) {
  if (!Number.isFinite(v)) return '–';
  if (unit === 'bytes') return `${Math.round(v)} B (${(v / 1e6).toFixed(2)} MB)`;
  if (unit === 'CPU-s/10k') return `${v.toFixed(3)} ${unit}`;
  if (unit === '%') return `${v.toFixed(1)} %`;
  return `${v.toFixed(0)} ${unit}`;
}

/** The targets block: measured, limit, PASS/FAIL. */
export function targetBlock(targets) {
  const lines = ['targets (medians; remora-grpc vs nginx, and remora-grpc-obs vs remora-grpc):'];
  for (const t of targets) {
    const verdict = t.pass === null ? 'N/A' : t.pass ? 'PASS' : 'FAIL';
    const figures = `measured ${fmtTargetValue(t.measured, t.unit)}, limit ${fmtTargetValue(t.limit, t.unit)}`;
    lines.push(`  ${verdict.padEnd(4)}  ${t.name}: ${figures}`);
  }
  return lines.join('\n');
}

/** The invalid runs, one line each, so a "!" can be traced to its cause. */
export function invalidBlock(runs) {
  const bad = runs.filter((r) => !r.valid);
  if (!bad.length) return 'invalid runs: none';
  const line = (r) => `  ${r.scenario} ${r.measurement} round ${r.round}: ${r.invalid_reasons.join('; ')}`;
  return ['invalid runs (!):', ...bad.map(line)].join('\n');
}
