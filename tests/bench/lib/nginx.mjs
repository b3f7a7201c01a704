// nginx.mjs - the reference proxy chain: each nginx is one process (no daemon, no master, one
// worker), so the PID we start is the process that serves and its /proc figures are nginx's
// whole cost. Keep-alive to the client and to the upstream, no access log, request bodies up to
// 128 KiB kept in memory; every path nginx writes is inside the run's temp dir.
//
// The same nginx, configured as a sink, is the trace collector of the observability chain.
import fs from 'node:fs';
import path from 'node:path';

/**
 * Writes dir/name/nginx.conf: one foreground process with one worker, no access log, every
 * path it writes under dir/name, and `http` holding httpExtra (directives, then servers).
 */
function writeConfig(dir, name, httpExtra) {
  const base = path.join(dir, name);
  fs.mkdirSync(base, { recursive: true });
  const p = (f) => path.join(base, f);
  const conf = `daemon off;
master_process off;
worker_processes 1;
pid ${p('nginx.pid')};
error_log ${p('error.log')} warn;

events {
  worker_connections 1024;
}

http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${p('client_body')};
  proxy_temp_path ${p('proxy')};
  fastcgi_temp_path ${p('fastcgi')};
  uwsgi_temp_path ${p('uwsgi')};
  scgi_temp_path ${p('scgi')};
${httpExtra}}
`;
  fs.writeFileSync(p('nginx.conf'), conf);
  return { prefix: base, conf: p('nginx.conf'), errorLog: p('error.log') };
}

/** Writes the configuration of one nginx listening on port and proxying to upstreamPort. */
export function writeNginxConfig(dir, name, port, upstreamPort) {
  return writeConfig(dir, name, `  client_body_buffer_size 128k;
  client_max_body_size 16m;

  upstream up {
    server 127.0.0.1:${upstreamPort};
    keepalive 128;
    keepalive_requests 1000000;
  }

  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
`);
}

/**
 * Writes the configuration of the collector sink: one nginx on port that accepts span batches
 * and throws them away. `return` answers without reading the body into a buffer: nginx
 * discards it as it arrives (ngx_http_discard_request_body, a fixed small buffer) and keeps
 * the connection alive, so the sink costs the client CPU little more than the loopback copy.
 * Zipkin's POST /api/v2/spans gets 202 Accepted, as a Zipkin server answers; OTLP/HTTP's
 * POST /v1/traces gets 200 with an empty ExportTraceServiceResponse ({}), as the OTLP
 * specification asks. GET /status is stub_status, whose request count shows that batches
 * arrived.
 */
export function writeSinkConfig(dir, name, port) {
  return writeConfig(dir, name, `  keepalive_timeout 600s;
  client_max_body_size 0;

  server {
    listen 127.0.0.1:${port};
    location = /status {
      stub_status;
    }
    location = /v1/traces {
      default_type application/json;
      return 200 '{}';
    }
    location / {
      return 202;
    }
  }
`);
}

/** nginx's command line for a configuration written by writeNginxConfig or writeSinkConfig. */
export function nginxArgs(cfg) {
  return ['-p', cfg.prefix, '-e', cfg.errorLog, '-c', cfg.conf];
}
