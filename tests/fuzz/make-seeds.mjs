// Writes the HTTP codec seed corpus: every malformed-corpus request plus valid ones, each
// framed for the fuzz target (a length byte before each piece of up to 63 bytes).
// Run: node tests/fuzz/make-seeds.mjs   (the output is committed under corpus/http_codec)
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import cases from '../integration/corpus/malformed.mjs';

const out = join(dirname(fileURLToPath(import.meta.url)), 'corpus', 'http_codec');
mkdirSync(out, { recursive: true });

const valid = [
  'GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n',
  'PUT /x/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello',
  'POST /v1.0/invoke/a/method/b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: v\r\n\r\n',
  'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nHEAD /c HTTP/1.1\r\nHost: x\r\n\r\n',
  'PUT /k HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok',
  'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: [::1]:3500\r\n\r\n',
];

function frame(bytes) {
  const parts = [];
  for (let i = 0; i < bytes.length; i += 63) {
    parts.push(Buffer.from([62]), bytes.subarray(i, i + 63));
  }
  return Buffer.concat(parts);
}

let n = 0;
for (const b of [...valid.map((s) => Buffer.from(s, 'latin1')), ...cases.map((c) => Buffer.from(c.bytes, 'latin1'))]) {
  const seed = frame(b);
  writeFileSync(join(out, createHash('sha1').update(seed).digest('hex').slice(0, 16)), seed);
  n++;
}
console.log(`wrote ${n} seeds to ${out}`);
