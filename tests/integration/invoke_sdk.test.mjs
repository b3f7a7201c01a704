// The official Dapr JS SDK on both ends: a DaprServer app over gRPC behind daprd B, and a
// DaprClient over HTTP calling daprd A. Nothing in the SDK is told it talks to Remora.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CommunicationProtocolEnum, DaprClient, DaprServer, HttpMethod } from '@dapr/dapr';
import { freePort, request, sleep, startDaprd, stopAll, uniqueAppId } from './lib/harness.mjs';

let server;
const clients = [];

function newClient(port) {
  const c = new DaprClient({ daprHost: '127.0.0.1', daprPort: String(port), communicationProtocol: CommunicationProtocolEnum.HTTP, logger: { level: 0 } });
  clients.push(c);
  return c;
}

after(async () => {
  for (const c of clients) await c.stop().catch(() => {});
  // The sidecars first: the SDK's gRPC server waits for open connections (daprd B keeps its
  // app connection alive) before it stops.
  await stopAll();
  if (server) {
    await server.stop().catch(() => {});
    await server.client.stop().catch(() => {});
  }
});

describe('Dapr JS SDK: DaprClient (HTTP) → daprd A → daprd B → DaprServer (gRPC)', () => {
  let a;
  const bId = uniqueAppId('sdkapp');

  before(async () => {
    const appPort = await freePort();
    const b = await startDaprd({ appId: bId, args: ['--app-protocol', 'grpc', '--app-port', String(appPort)] });
    a = await startDaprd({ args: ['--app-protocol', 'http', '--app-port', String(await freePort())] });
    server = new DaprServer({
      serverHost: '127.0.0.1',
      serverPort: String(appPort),
      communicationProtocol: CommunicationProtocolEnum.GRPC,
      clientOptions: { daprHost: '127.0.0.1', daprPort: String(b.port), communicationProtocol: CommunicationProtocolEnum.HTTP },
      logger: { level: 0 },
    });
    await server.invoker.listen('orders', async (data) => ({ received: data.body, query: data.query }), { method: HttpMethod.POST });
    await server.invoker.listen('status', async () => ({ ok: true }), { method: HttpMethod.GET });
    await server.start();
    const deadline = Date.now() + 10000;
    for (;;) {
      const r = await request({ port: a.port, path: `/v1.0/invoke/${bId}/method/status` }).catch(() => null);
      if (r && r.status === 200) break;
      if (Date.now() > deadline) throw new Error(`no route to ${bId}: ${r && r.status} ${r && r.body}`);
      await sleep(100);
    }
  });

  it('invoker.invoke POST with a JSON body reaches the SDK app and its answer comes back', async () => {
    const client = newClient(a.port);
    const res = await client.invoker.invoke(bId, 'orders', HttpMethod.POST, { id: 42, item: 'tea' });
    assert.deepEqual(res.received, JSON.stringify({ id: 42, item: 'tea' }));
  });

  it('invoker.invoke GET', async () => {
    const client = newClient(a.port);
    const res = await client.invoker.invoke(bId, 'status', HttpMethod.GET);
    assert.deepEqual(res, { ok: true });
  });
});
