// Malformed and smuggling HTTP/1.1 requests (reliability-ecosystem.md A2, A3, R1).
//
// Each case: { name, bytes (latin1 string or Buffer), expect, smuggle?, timeout? }
//   expect   400 | 408 | 413 | 414 | 431 | 501 | 505 | 'close', or an array of acceptable ones
//            ('close' = the server closes without sending any response).
//   smuggle  (default true) SMUGGLED is appended after the case's bytes: it must never be
//            answered (the connection must be closed after the error, and never parsed on).
//   timeout  the case only ends by a server timeout (408): give it more time.
//
// Categories follow Http11Probe (body, content-length, headers, host-header, line-endings,
// malformed-input) and the smuggling families CL.TE, TE.CL, TE.TE, CL.CL.
export const SMUGGLED = 'GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n';

const H = 'Host: x\r\n';
const PUT = 'PUT /v1.0/metadata/smuggle HTTP/1.1\r\n';
const GET = 'GET /v1.0/healthz HTTP/1.1\r\n';

const cases = [];
const add = (name, bytes, expect, extra = {}) => cases.push({ name, bytes, expect, smuggle: true, ...extra });

// ---------------------------------------------------------------- content-length (CL.CL, invalid)
add('cl-te-both (CL first)', `${PUT}${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG`, 400);
add('te-cl-both (TE first)', `${PUT}${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n`, 400);
add('cl-te-both CL 0', `${PUT}${H}Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, 400);
add('cl-te-both TE uppercase CHUNKED', `${PUT}${H}Content-Length: 5\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n`, 400);
add('duplicate CL differing', `${PUT}${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, 400);
add('duplicate CL differing (second smaller)', `${PUT}${H}Content-Length: 6\r\nContent-Length: 0\r\n\r\nhello!`, 400);
add('CL list differing "5, 6"', `${PUT}${H}Content-Length: 5, 6\r\n\r\nhello!`, 400);
add('CL +5', `${PUT}${H}Content-Length: +5\r\n\r\nhello`, 400);
add('CL -1', `${PUT}${H}Content-Length: -1\r\n\r\n`, 400);
add('CL -0', `${PUT}${H}Content-Length: -0\r\n\r\n`, 400);
add('CL "5 5"', `${PUT}${H}Content-Length: 5 5\r\n\r\nhello`, 400);
add('CL hex 0x5', `${PUT}${H}Content-Length: 0x5\r\n\r\nhello`, 400);
add('CL decimal 5.0', `${PUT}${H}Content-Length: 5.0\r\n\r\nhello`, 400);
add('CL alpha', `${PUT}${H}Content-Length: abc\r\n\r\n`, 400);
add('CL trailing garbage 5x', `${PUT}${H}Content-Length: 5x\r\n\r\nhello`, 400);
add('CL empty', `${PUT}${H}Content-Length: \r\n\r\n`, 400);
add('CL overflow (20 digits)', `${PUT}${H}Content-Length: 99999999999999999999\r\n\r\n`, 400);
add('CL overflow 2^64', `${PUT}${H}Content-Length: 18446744073709551616\r\n\r\n`, 400);
add('CL with inner tab', `${PUT}${H}Content-Length: 5\t5\r\n\r\nhello`, 400);
add('CL fullwidth digit', Buffer.concat([Buffer.from(`${PUT}${H}Content-Length: `), Buffer.from('５', 'utf8'), Buffer.from('\r\n\r\nhello')]), 400);
add('CL huge but valid (10 GiB) → over the body limit', `${PUT}${H}Content-Length: 10737418240\r\n\r\n`, 413);
add('CL.0: CL with space before colon', `${PUT}${H}Content-Length : 5\r\n\r\nhello`, 400);
add('CL name with NUL', `${PUT}${H}Content-Length\x00: 5\r\n\r\nhello`, 400);
add('CL obs-folded value', `${PUT}${H}Content-Length:\r\n 5\r\n\r\nhello`, 400);
add('CL body shorter than declared (smuggled request is body)', `${PUT}${H}Content-Length: 200\r\n\r\nabc`, 408, { timeout: true });

// ---------------------------------------------------------------- transfer-encoding (TE.TE)
add('TE identity', `${PUT}${H}Transfer-Encoding: identity\r\n\r\nhello`, 400);
add('TE gzip only', `${PUT}${H}Transfer-Encoding: gzip\r\n\r\nhello`, 400);
add('TE chunked not last "chunked, gzip"', `${PUT}${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`, 400);
add('TE "chunked, identity"', `${PUT}${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`, 400);
add('TE "gzip, chunked" (unknown coding)', `${PUT}${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, [400, 501]);
add('TE xchunked', `${PUT}${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, 400);
add('TE chunkedx', `${PUT}${H}Transfer-Encoding: chunkedx\r\n\r\n0\r\n\r\n`, 400);
add('TE "chunked" quoted', `${PUT}${H}Transfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n`, 400);
add('TE chun-ked', `${PUT}${H}Transfer-Encoding: chun-ked\r\n\r\n0\r\n\r\n`, 400);
add('TE space before colon', `${PUT}${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, 400);
add('TE tab before colon', `${PUT}${H}Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n`, 400);
add('TE vertical tab before value', `${PUT}${H}Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n`, 400);
add('TE form feed before value', `${PUT}${H}Transfer-Encoding: \x0cchunked\r\n\r\n0\r\n\r\n`, 400);
add('TE NUL after chunked', `${PUT}${H}Transfer-Encoding: chunked\x00\r\n\r\n0\r\n\r\n`, 400);
add('TE obs-fold', `${PUT}${H}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`, 400);
add('TE twice (chunked applied twice)', `${PUT}${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400);
add('TE chunked then TE x', `${PUT}${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n`, 400);
add('TE "chunked, chunked"', `${PUT}${H}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n`, 400);
add('TE xchunked with CL', `${PUT}${H}Content-Length: 5\r\nTransfer-Encoding: xchunked\r\n\r\nhello`, 400);
add('TE name with bare LF before it', `${PUT}${H}X: y\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400);
add('TE name then bare LF before colon', `${PUT}${H}Transfer-Encoding\n: chunked\r\n\r\n0\r\n\r\n`, 400);
add('TE leading space line (folded onto Host)', `${PUT}${H} Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400);
add('TE bare CR inside header block', `${PUT}${H}Transfer-Encoding: chunked\rX: y\r\n\r\n0\r\n\r\n`, 400);
add('TE + CL on a GET', `GET /v1.0/healthz HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n`, 400);

// ---------------------------------------------------------------- chunked body
const TE = `${PUT}${H}Transfer-Encoding: chunked\r\n\r\n`;
add('chunk size non-hex G', `${TE}G\r\nhello\r\n0\r\n\r\n`, 400);
add('chunk size negative', `${TE}-5\r\nhello\r\n0\r\n\r\n`, 400);
add('chunk size +5', `${TE}+5\r\nhello\r\n0\r\n\r\n`, 400);
add('chunk size 0x5', `${TE}0x5\r\nhello\r\n0\r\n\r\n`, 400);
add('chunk size overflow', `${TE}FFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n`, 400);
add('chunk size huge but valid → over the body limit', `${TE}FFFFFFFF\r\nhello`, 413, { timeout: true });
add('chunk size empty', `${TE}\r\nhello\r\n0\r\n\r\n`, 400);
add('chunk size leading space', `${TE} 5\r\nhello\r\n0\r\n\r\n`, 400);
add('chunk size trailing space', `${TE}5 \r\nhello\r\n0\r\n\r\n`, 400);
add('chunk size underscore 1_0', `${TE}1_0\r\n${'a'.repeat(16)}\r\n0\r\n\r\n`, 400);
add('chunk data longer than size', `${TE}3\r\nhello\r\n0\r\n\r\n`, 400);
add('chunk data not followed by CRLF', `${TE}5\r\nhelloXX0\r\n\r\n`, 400);
add('chunk data followed by bare LF', `${TE}5\r\nhello\n0\r\n\r\n`, 400);
add('chunk size line ends with bare LF', `${TE}5\nhello\r\n0\r\n\r\n`, 400);
add('chunk size line ends with bare CR', `${TE}5\rhello\r\n0\r\n\r\n`, 400);
add('last chunk with bare LF terminators', `${TE}0\n\n`, 400);
add('chunk extension empty name "5;"', `${TE}5;\r\nhello\r\n0\r\n\r\n`, 400);
add('chunk extension control char', `${TE}5;a=\x01\r\nhello\r\n0\r\n\r\n`, 400);
add('chunk extension NUL', `${TE}5;a\x00=b\r\nhello\r\n0\r\n\r\n`, 400);
add('chunk extension unterminated quote', `${TE}5;a="b\r\nhello\r\n0\r\n\r\n`, 400);
add('chunk extension space in name', `${TE}5;a b=c\r\nhello\r\n0\r\n\r\n`, 400);
add('chunk extension bare CR', `${TE}5;a=b\rc\r\nhello\r\n0\r\n\r\n`, 400);
add('trailer without colon', `${TE}0\r\nBad Trailer\r\n\r\n`, 400);
add('trailer with space before colon', `${TE}0\r\nX-T : v\r\n\r\n`, 400);
add('trailer obs-fold', `${TE}0\r\nX-T: a\r\n b\r\n\r\n`, 400);
add('TE.0: last chunk without final CRLF (smuggled line becomes a trailer)', `${TE}0\r\n`, 400);
// (nothing appended: an appended request would be read as the next chunk-size line → 400)
add('chunked body never terminated', `${TE}5\r\nhello\r\n`, 408, { timeout: true, smuggle: false });
add('TE.CL: TE chunked + CL, chunk hides a request', `${PUT}${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n`, 400);

// ---------------------------------------------------------------- header syntax
add('space before colon (Host : x)', `${GET}Host : x\r\n\r\n`, 400);
add('space before colon (X-A : b)', `${GET}${H}X-A : b\r\n\r\n`, 400);
add('tab before colon', `${GET}${H}X-A\t: b\r\n\r\n`, 400);
add('obs-fold SP', `${GET}${H}X-A: a\r\n b\r\n\r\n`, 400);
add('obs-fold HTAB', `${GET}${H}X-A: a\r\n\tb\r\n\r\n`, 400);
add('obs-fold of an empty value', `${GET}${H}X-A:\r\n b\r\n\r\n`, 400);
// RFC 9112 §2.2: reject, or ignore the whitespace-preceded line (then Host is missing): 400 both ways
add('whitespace line before the first header', `${GET} Host: x\r\n\r\n`, 400);
add('tab line before the first header', `${GET}\tHost: x\r\n\r\n`, 400);
add('empty field name', `${GET}${H}: value\r\n\r\n`, 400);
add('no colon', `${GET}${H}NoColonHere\r\n\r\n`, 400);
add('no colon, value with space', `${GET}${H}No Colon Here\r\n\r\n`, 400);
add('NUL in field name', `${GET}${H}X\x00A: b\r\n\r\n`, 400);
add('NUL in field value', `${GET}${H}X-A: a\x00b\r\n\r\n`, 400);
add('value only NUL', `${GET}${H}X-A: \x00\r\n\r\n`, 400);
add('SOH in field value', `${GET}${H}X-A: a\x01b\r\n\r\n`, 400);
add('ESC in field value', `${GET}${H}X-A: a\x1bb\r\n\r\n`, 400);
add('DEL in field value', `${GET}${H}X-A: a\x7fb\r\n\r\n`, 400);
add('SOH in field name', `${GET}${H}X\x01A: b\r\n\r\n`, 400);
add('DEL in field name', `${GET}${H}X\x7fA: b\r\n\r\n`, 400);
add('high byte in field name', `${GET}${H}X\xe9A: b\r\n\r\n`, 400);
for (const ch of ['(', ')', '"', '/', '[', ']', '@', ',', ';', '=', '{', '}', '?', '\\', '<', '>']) {
  add(`separator ${JSON.stringify(ch)} in field name`, `${GET}${H}X${ch}A: b\r\n\r\n`, 400);
}
add('space inside field name', `${GET}${H}X A: b\r\n\r\n`, 400);
add('bare CR in field value', `${GET}${H}X-A: a\rb\r\n\r\n`, 400);
add('bare CR before CRLF', `${GET}${H}X-A: a\r\r\n\r\n`, 400);
add('field name too long (5000) → header block too large', `${GET}${H}${'X'.repeat(5000)}: b\r\n\r\n`, 431);
add('200 header lines', `${GET}${H}${Array.from({ length: 200 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`, 431);
add('header block 16 KiB', `${GET}${H}X-Big: ${'b'.repeat(16384)}\r\n\r\n`, 431);

// ---------------------------------------------------------------- line endings
add('bare LF everywhere', 'GET /v1.0/healthz HTTP/1.1\nHost: x\n\n', 400);
add('bare LF after request line', 'GET /v1.0/healthz HTTP/1.1\nHost: x\r\n\r\n', 400);
add('bare LF after a header', `${GET}Host: x\n\r\n`, 400);
add('bare LF ending the head', `${GET}${H}\n`, 400);
add('CR only everywhere', 'GET /v1.0/healthz HTTP/1.1\rHost: x\r\r', 400);
add('CR only after request line', 'GET /v1.0/healthz HTTP/1.1\rHost: x\r\n\r\n', 400);
add('LF CR instead of CRLF', 'GET /v1.0/healthz HTTP/1.1\n\rHost: x\n\r\n\r', 400);

// ---------------------------------------------------------------- host header
add('missing Host on HTTP/1.1', `${GET}X-A: b\r\n\r\n`, 400);
add('duplicate Host, different values', `${GET}Host: a\r\nHost: b\r\n\r\n`, 400);
add('duplicate Host, same value (RFC 9112 §3.2: more than one Host line → 400)', `${GET}Host: a\r\nHost: a\r\n\r\n`, 400);
add('Host with space', `${GET}Host: a b\r\n\r\n`, 400);
add('Host with userinfo', `${GET}Host: user@x\r\n\r\n`, 400);
add('Host with path', `${GET}Host: x/path\r\n\r\n`, 400);
add('Host with non-numeric port', `${GET}Host: x:abc\r\n\r\n`, 400);
add('Host with unclosed IPv6 bracket', `${GET}Host: [::1\r\n\r\n`, 400);
add('Host with control char', `${GET}Host: x\x01y\r\n\r\n`, 400);

// ---------------------------------------------------------------- request line
add('invalid method token G@T', 'G@T /v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('method with slash', 'GE/T /v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('method with NUL', 'GE\x00T /v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('method with high byte', 'G\xc9T /v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('empty method (leading space)', ' /v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('very long method (10000 bytes)', `${'A'.repeat(10000)} /v1.0/healthz HTTP/1.1\r\n${H}\r\n`, [400, 414, 501]);
add('missing target', 'GET HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('missing version (HTTP/0.9 style)', 'GET /v1.0/healthz\r\nHost: x\r\n\r\n', [400, 505]);
add('extra token after version', 'GET /v1.0/healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n', 400);
add('trailing space after version', 'GET /v1.0/healthz HTTP/1.1 \r\nHost: x\r\n\r\n', 400);
add('space inside target', 'GET /v1.0/health z HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('tab as separator', 'GET\t/v1.0/healthz\tHTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('NUL in target', 'GET /v1.0/he\x00althz HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('SOH in target', 'GET /v1.0/he\x01althz HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('DEL in target', 'GET /v1.0/he\x7falthz HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('tab in target', 'GET /v1.0/he\talthz HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('target without leading slash', 'GET v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('target only a query', 'GET ?a=b HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('target only a fragment', 'GET #frag HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('absolute-form ftp scheme', 'GET ftp://x/v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('absolute-form file scheme', 'GET file:///etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('absolute-form javascript scheme', 'GET javascript:alert(1) HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('absolute-form data scheme', 'GET data:text/plain,hi HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('absolute-form gopher scheme', 'GET gopher://x:70/v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400);
add('CONNECT with origin-form target', 'CONNECT /v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n', [400, 405, 501, 'close']);
add('version HTTP/2.0', 'GET /v1.0/healthz HTTP/2.0\r\nHost: x\r\n\r\n', [505, 400]);
add('version HTTP/3.0', 'GET /v1.0/healthz HTTP/3.0\r\nHost: x\r\n\r\n', [505, 400]);
add('version HTTP/1.2', 'GET /v1.0/healthz HTTP/1.2\r\nHost: x\r\n\r\n', [505, 400]);
add('version HTTP/0.9', 'GET /v1.0/healthz HTTP/0.9\r\nHost: x\r\n\r\n', [505, 400]);
add('version lowercase http/1.1', 'GET /v1.0/healthz http/1.1\r\nHost: x\r\n\r\n', 400);
add('version HTTP/1.1.1', 'GET /v1.0/healthz HTTP/1.1.1\r\nHost: x\r\n\r\n', 400);
add('version HTTP/1', 'GET /v1.0/healthz HTTP/1\r\nHost: x\r\n\r\n', 400);
add('version HTTP/11', 'GET /v1.0/healthz HTTP/11\r\nHost: x\r\n\r\n', 400);
add('version HTTP/1.x', 'GET /v1.0/healthz HTTP/1.x\r\nHost: x\r\n\r\n', 400);
add('version HTTP/ 1.1', 'GET /v1.0/healthz HTTP/ 1.1\r\nHost: x\r\n\r\n', 400);
add('version HTTPS/1.1', 'GET /v1.0/healthz HTTPS/1.1\r\nHost: x\r\n\r\n', 400);
add('version HTTP/01.1', 'GET /v1.0/healthz HTTP/01.1\r\nHost: x\r\n\r\n', 400);
add('version HTTP/1.01', 'GET /v1.0/healthz HTTP/1.01\r\nHost: x\r\n\r\n', 400);
add('request line over 8 KiB', `GET /v1.0/healthz?q=${'a'.repeat(9000)} HTTP/1.1\r\n${H}\r\n`, 414);
add('request line 64 KiB', `GET /${'a'.repeat(65536)} HTTP/1.1\r\n${H}\r\n`, 414);

// ---------------------------------------------------------------- malformed input
function lcg(seed) {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s >>> 24; };
}
for (const seed of [1, 2, 3, 4]) {
  const r = lcg(seed);
  const b = Buffer.alloc(512);
  for (let i = 0; i < b.length; i++) b[i] = r();
  b[0] = 0x80 | b[0]; // never starts like a method
  add(`binary garbage (seed ${seed})`, b, 400);
}
add('all NUL bytes', Buffer.alloc(256), 400);
add('all 0xFF bytes', Buffer.alloc(256, 0xff), 400);
add('TLS 1.2 ClientHello', Buffer.from(
  '16030100a5010000a10303' + '00'.repeat(32) + '000020c02bc02fc02cc030cca9cca8c009c013c00ac014009c009d002f0035c012000a'
  + '01000058000000140012000f7777772e6578616d706c652e636f6d000500050100000000000a000a0008001d001700180019000b00020100'
  + '000d0012001004010403050105030601060302010203ff0100010000120000', 'hex'), 400);
add('SSH banner', 'SSH-2.0-OpenSSH_9.2p1\r\n', 400);
add('SMTP EHLO', 'EHLO example.com\r\n', 400);
add('an HTTP response instead of a request', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 400);
add('UTF-8 BOM before the request line', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${GET}${H}\r\n`)]), 400);
add('request line of spaces', '          \r\nHost: x\r\n\r\n', 400);
add('GET followed by 0xFF', Buffer.concat([Buffer.from('GET '), Buffer.alloc(16, 0xff), Buffer.from(' HTTP/1.1\r\n\r\n')]), 400);
add('lone CR LF CR LF then garbage', '\r\n\r\n\x01\x02\x03\r\n\r\n', 400);
add('incomplete request line, then silence', 'GET /v1.0/healthz HTTP/1.1', 408, { timeout: true, smuggle: false });
add('incomplete head, then silence', `${GET}${H}X-A: b\r\n`, 408, { timeout: true, smuggle: false });
add('empty input, then client FIN', '', 'close', { smuggle: false, end: true });
add('partial head, then client FIN', `${GET}${H}`, [400, 'close'], { smuggle: false, end: true });

export default cases;
