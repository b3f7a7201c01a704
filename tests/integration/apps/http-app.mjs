// A plain HTTP app for the invocation tests, started as: node http-app.mjs <port>
// Routes:
//   /status/<code>      answer <code> with X-Status and two Set-Cookie headers, body "status <code>"
//   /echo               the request body back, same Content-Type
//   /big/<bytes>        <bytes> of a deterministic pattern, streamed in 64 KiB writes
//   /slow/<ms>          answer after <ms>
//   anything else       JSON describing the request: method, path, query, headers, body length
//                       and SHA-256 of the body
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';

const port = Number(process.argv[2]);

export function pattern(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 10)) & 0xff;
  return b;
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const url = new URL(req.url, 'http://x');
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts[0] === 'status') {
      const code = Number(parts[1]);
      res.writeHead(code, { 'Content-Type': 'text/plain', 'X-Status': String(code), 'Set-Cookie': ['a=1', 'b=2'] });
      res.end(`status ${code}`);
    } else if (parts[0] === 'echo') {
      res.writeHead(200, { 'Content-Type': req.headers['content-type'] ?? 'application/octet-stream' });
      res.end(body);
    } else if (parts[0] === 'big') {
      const n = Number(parts[1]);
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(n) });
      const data = pattern(Math.min(n, 1 << 20));
      let sent = 0;
      const pump = () => {
        while (sent < n) {
          const k = Math.min(65536, n - sent);
          const off = sent % data.length;
          const piece = off + k <= data.length ? data.subarray(off, off + k) : pattern(k);
          sent += k;
          if (!res.write(piece)) return res.once('drain', pump);
        }
        res.end();
      };
      pump();
    } else if (parts[0] === 'slow') {
      setTimeout(() => { res.writeHead(200); res.end('slow'); }, Number(parts[1]));
    } else {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({
        method: req.method,
        path: url.pathname,
        query: url.search.slice(1),
        headers: req.headers,
        bodyLength: body.length,
        bodySha256: createHash('sha256').update(body).digest('hex'),
      }));
    }
  });
});
server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => console.log(`listening ${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
