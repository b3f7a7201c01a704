// A small "orders" service for the demo: the app a Remora sidecar stands next to.
//   POST /new   {"item": "..."}  → 201 {"id": N, "item": "...", "caller": "<dapr-caller-app-id>"}
//   GET  /list                    → 200 [orders]
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 3000);
const orders = [];

createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const url = new URL(req.url, 'http://app');
    if (req.method === 'POST' && url.pathname === '/new') {
      let item = 'unknown';
      try { item = JSON.parse(Buffer.concat(chunks).toString() || '{}').item ?? item; } catch { /* keep default */ }
      const order = { id: orders.length + 1, item, caller: req.headers['dapr-caller-app-id'] ?? null };
      orders.push(order);
      res.writeHead(201, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(order));
    } else if (req.method === 'GET' && url.pathname === '/list') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(orders));
    } else {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: `no route ${req.method} ${url.pathname}` }));
    }
  });
}).listen(port, '127.0.0.1');
