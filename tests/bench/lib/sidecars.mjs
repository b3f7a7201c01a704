// sidecars.mjs - how the benchmark runs a Remora sidecar: its command line with observability
// explicitly off (the plain chains) or on (the observability chain: metrics plus every request
// traced and exported to OTLP/HTTP, to Zipkin, or to both, as chosen), the Configuration that
// turns tracing on, and the scrape of its metrics endpoint that proves the spans were exported
// and not dropped.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { httpRequest } from './procs.mjs';

/** The SHA-256 of a daprd binary (hex), or null when it is missing: recorded with every result
 * so that figures from two runs (run.mjs and callgrind_obs.mjs) can be matched to one build. */
export function daprdDigest(file) {
  return fs.existsSync(file) ? crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex') : null;
}

/**
 * The daprd command line of one sidecar. ports: { http, grpc, internal, metrics }.
 * observability: null for a plain sidecar (--enable-metrics=false, no Configuration, so no
 * exporter), or { config } (a Configuration file from writeObservabilityConfig) for one with
 * metrics and tracing on.
 */
export function daprdArgs({ appId, appPort, appProtocol, workers, ports, observability = null }) {
  const args = [
    '--app-id', appId, '--app-port', String(appPort), '--app-protocol', appProtocol,
    '--dapr-http-port', String(ports.http), '--dapr-grpc-port', String(ports.grpc),
    '--dapr-internal-grpc-port', String(ports.internal), '--metrics-port', String(ports.metrics),
    '--dapr-listen-addresses', '127.0.0.1', '--dapr-internal-grpc-listen-address', '127.0.0.1',
    '--metrics-listen-address', '127.0.0.1', '--log-level', 'warn', '--worker-threads', String(workers),
    '--dapr-graceful-shutdown-seconds', '1',
  ];
  if (observability) args.push('--enable-metrics=true', '--config', observability.config);
  else args.push('--enable-metrics=false');
  return args;
}

/** The trace exporters the observability chain can use, as named by --exporters and by the
 * exporter label of remora_trace_spans_exported_total. */
export const EXPORTERS = ['otlp', 'zipkin'];
/** OTLP/HTTP alone: the protocol Dapr's documentation recommends, and one collector is what a
 * deployment normally sends to. */
export const DEFAULT_EXPORTERS = ['otlp'];
const EXPORTER_NAMES = { otlp: 'OTLP/HTTP', zipkin: 'Zipkin' };

/**
 * The exporters named by an --exporters value ("otlp", "zipkin", "otlp,zipkin"), in the order
 * given, or the default when the value is undefined. Throws an error flagged `plain` (its
 * message says it all) on an empty list, an unknown name or a name given twice.
 */
export function parseExporters(value) {
  if (value === undefined) return [...DEFAULT_EXPORTERS];
  const fail = (why) => Object.assign(new Error(`--exporters: ${why} (want otlp, zipkin or otlp,zipkin)`), { plain: true });
  const list = value.split(',').map((x) => x.trim().toLowerCase());
  if (!list.length || list.some((x) => !x)) throw fail(`empty exporter name in "${value}"`);
  for (const x of list) if (!EXPORTERS.includes(x)) throw fail(`unknown exporter "${x}"`);
  if (new Set(list).size !== list.length) throw fail(`an exporter is named twice in "${value}"`);
  return list;
}

/** How the exporters are named in printed text: "OTLP/HTTP", "Zipkin", "OTLP/HTTP and Zipkin". */
export function exportersLabel(exporters) {
  return exporters.map((x) => EXPORTER_NAMES[x]).join(' and ');
}

/** The spanCounters() key of the spans one exporter delivered. */
export const exportedKey = (exporter) => `exported_${exporter}`;

/**
 * Writes the observability chain's Configuration into dir: metrics on, every request sampled
 * (samplingRate "1"), spans exported to the chosen exporters (a list of 'otlp' and 'zipkin';
 * OTLP/HTTP alone by default), each on the collector sink at 127.0.0.1:collectorPort. Only the
 * chosen exporters' sections are written. Returns the file's path.
 */
export function writeObservabilityConfig(dir, collectorPort, exporters = DEFAULT_EXPORTERS) {
  if (!exporters.length || exporters.some((x) => !EXPORTERS.includes(x))) {
    throw new Error(`writeObservabilityConfig: exporters must be a non-empty list of ${EXPORTERS.join(', ')}`);
  }
  const sections = {
    zipkin: `    zipkin:
      endpointAddress: "http://127.0.0.1:${collectorPort}/api/v2/spans"
`,
    otlp: `    otel:
      endpointAddress: "127.0.0.1:${collectorPort}"
      protocol: http
      isSecure: false
`,
  };
  const file = path.join(dir, 'observability.yaml');
  fs.writeFileSync(file, `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: bench-observability
spec:
  metric:
    enabled: true
  tracing:
    samplingRate: "1"
${exporters.map((x) => sections[x]).join('')}`);
  return file;
}

/** Sum of the samples of one Prometheus family whose labels include `match` (all when {}). */
function familySum(text, family, match = {}) {
  let sum = null;
  const re = new RegExp(`^${family}(?:\\{([^}]*)\\})?\\s+(\\S+)`, 'gm');
  for (const [, labels = '', value] of text.matchAll(re)) {
    const ok = Object.entries(match).every(([k, v]) => labels.includes(`${k}="${v}"`));
    if (ok && Number.isFinite(Number(value))) sum = (sum ?? 0) + Number(value);
  }
  return sum;
}

/**
 * The span counters of one scrape: spans exported per exporter and dropped per reason
 * (null when the family is missing), the requests daprd's HTTP server counted, and how many
 * samples the scrape holds.
 */
export function spanCounters(text) {
  return {
    exported_zipkin: familySum(text, 'remora_trace_spans_exported_total', { exporter: 'zipkin' }),
    exported_otlp: familySum(text, 'remora_trace_spans_exported_total', { exporter: 'otlp' }),
    dropped_queue_full: familySum(text, 'remora_trace_spans_dropped_total', { reason: 'queue_full' }),
    dropped_export_failed: familySum(text, 'remora_trace_spans_dropped_total', { reason: 'export_failed' }),
    http_server_requests: familySum(text, 'dapr_http_server_request_count'),
    grpc_server_requests: familySum(text, 'dapr_grpc_io_server_completed_rpcs'),
    samples: text.split('\n').filter((l) => l && !l.startsWith('#')).length,
  };
}

/** GETs a sidecar's metrics endpoint; resolves { status, counters } (counters null unless 200). */
export async function scrapeMetrics(port) {
  const r = await httpRequest(`http://127.0.0.1:${port}/metrics`, { ms: 5000 });
  const text = r.body.toString('utf8');
  return { status: r.status, bytes: r.body.length, counters: r.status === 200 ? spanCounters(text) : null };
}

/** nginx's stub_status: the requests the collector sink answered before this one (null if
 * unreadable). */
export async function sinkRequests(port) {
  try {
    const r = await httpRequest(`http://127.0.0.1:${port}/status`, { ms: 3000 });
    const m = r.body.toString('utf8').match(/^\s*(\d+)\s+(\d+)\s+(\d+)\s*$/m);
    return m ? Number(m[3]) - 1 : null;
  } catch {
    return null;
  }
}
