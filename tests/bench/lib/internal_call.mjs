// internal_call.mjs - the request of the internal-direct scenario: one gRPC message for the
// sidecar's internal API (ServiceInvocation/CallLocal), built from the upstream Dapr .proto
// files, and a single real call that checks the answer before h2load repeats it.
//
// h2load counts any 2xx response as a success and never looks at grpc-status, so the check
// call decodes the trailers and the InternalInvokeResponse itself.
import fs from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import { createRequire } from 'node:module';

export const CALL_LOCAL_PATH = '/dapr.proto.internals.v1.ServiceInvocation/CallLocal';

/** protobufjs from the integration tests' packages, and the directory of the Dapr protos. */
function loadProtobuf(nodeModules) {
  const require = createRequire(path.join(nodeModules, 'noop.js'));
  let protobuf;
  try {
    protobuf = require('protobufjs');
  } catch {
    throw new Error(`protobufjs not found under ${nodeModules}: run "npm ci" in tests/integration`);
  }
  const protoDir = path.join(nodeModules, '@dapr', 'dapr', 'proto');
  if (!fs.existsSync(protoDir)) throw new Error(`the Dapr proto files are missing (${protoDir}): run "npm ci" in tests/integration`);
  return { protobuf, protoDir };
}

/** The InternalInvokeRequest and InternalInvokeResponse types. */
export function loadInternalTypes(nodeModules) {
  const { protobuf, protoDir } = loadProtobuf(nodeModules);
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(protoDir, target);
  root.loadSync('dapr/proto/internals/v1/service_invocation.proto', { keepCase: false });
  return {
    Request: root.lookupType('dapr.proto.internals.v1.InternalInvokeRequest'),
    Response: root.lookupType('dapr.proto.internals.v1.InternalInvokeResponse'),
  };
}

/** A gRPC length-prefixed message: flag byte 0 (not compressed), 4-byte big-endian length. */
function grpcFrame(message) {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** The framed CallLocal request: method "echo", a POST with `size` bytes of data. */
export function buildCallLocalBody(types, { callerAppId, calleeAppId, size }) {
  const msg = types.Request.fromObject({
    ver: 'V1',
    metadata: {
      'dapr-caller-app-id': { values: [callerAppId] },
      'dapr-callee-app-id': { values: [calleeAppId] },
    },
    message: {
      method: 'echo',
      data: { typeUrl: '', value: Buffer.alloc(size, 'x') },
      contentType: 'application/octet-stream',
      httpExtension: { verb: 'POST' },
    },
  });
  return grpcFrame(Buffer.from(types.Request.encode(msg).finish()));
}

/** Splits a gRPC response body into its messages. */
function grpcMessages(body) {
  const out = [];
  for (let off = 0; off + 5 <= body.length;) {
    const len = body.readUInt32BE(off + 1);
    out.push(body.subarray(off + 5, off + 5 + len));
    off += 5 + len;
  }
  return out;
}

/**
 * One CallLocal with the prepared body; throws unless the answer is grpc-status 0 with the same
 * data echoed back. Bounded by ms.
 */
export function checkCallLocal(types, port, body, expectedSize, ms = 5000) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const timer = setTimeout(() => fail(new Error(`CallLocal check: no answer within ${ms} ms`)), ms);
    const fail = (err) => { clearTimeout(timer); session.destroy(); reject(err); };
    session.on('error', fail);
    const req = session.request({
      ':method': 'POST', ':path': CALL_LOCAL_PATH, 'content-type': 'application/grpc', te: 'trailers',
    });
    const chunks = [];
    let headers = {};
    let trailers = {};
    req.on('response', (h) => { headers = h; });
    req.on('trailers', (t) => { trailers = t; });
    req.on('data', (c) => chunks.push(c));
    req.on('error', fail);
    req.on('end', () => {
      clearTimeout(timer);
      session.close();
      const status = trailers['grpc-status'] ?? headers['grpc-status'];
      if (headers[':status'] !== 200 || status !== '0') {
        const message = trailers['grpc-message'] ?? headers['grpc-message'] ?? '';
        reject(new Error(`CallLocal check: HTTP ${headers[':status']}, grpc-status ${status}, ${message}`));
        return;
      }
      const [message] = grpcMessages(Buffer.concat(chunks));
      if (!message) { reject(new Error('CallLocal check: the answer has no message')); return; }
      const res = types.Response.decode(message);
      const data = res.message?.data?.value;
      if (!data || data.length !== expectedSize) {
        reject(new Error(`CallLocal check: echoed ${data ? data.length : 0} bytes, want ${expectedSize}`));
        return;
      }
      resolve({ status: res.status?.code ?? 0 });
    });
    req.end(body);
  });
}
