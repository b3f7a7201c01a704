// nginx.mjs - the reference proxy chain: each nginx is one process (no daemon, no master, one
// worker), so the PID we start is the process that serves and its /proc figures are nginx's
// whole cost. Keep-alive to the client and to the upstream, no access log, request bodies up to
// 128 KiB kept in memory; every path nginx writes is inside the run's temp dir.
import fs from 'node:fs';
import path from 'node:path';

/** Writes the configuration of one nginx listening on port and proxying to upstreamPort. */
export function writeNginxConfig(dir, name, port, upstreamPort) {
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
  client_body_buffer_size 128k;
  client_max_body_size 16m;
  client_body_temp_path ${p('client_body')};
  proxy_temp_path ${p('proxy')};
  fastcgi_temp_path ${p('fastcgi')};
  uwsgi_temp_path ${p('uwsgi')};
  scgi_temp_path ${p('scgi')};

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
}
`;
  fs.writeFileSync(p('nginx.conf'), conf);
  return { prefix: base, conf: p('nginx.conf'), errorLog: p('error.log') };
}

/** nginx's command line for a configuration written by writeNginxConfig. */
export function nginxArgs(cfg) {
  return ['-p', cfg.prefix, '-e', cfg.errorLog, '-c', cfg.conf];
}
