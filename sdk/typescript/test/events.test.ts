/** The SSE reader of events.subscribe against a small local event-stream server (the real
 * GET /v1/events is built on another branch): parsing, Last-Event-ID resume, and the clear
 * "not available" error for a server without the endpoint. */

import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';

import { HybridCloudClient, NotAvailableError, type PlatformEvent } from '../src/index.js';

async function serveOnce(handler: (req: IncomingMessage, res: ServerResponse) => void):
    Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

test('subscribe parses events, filters in the query, and resumes with Last-Event-ID', async () => {
  const seen: { query: string; lastEventId?: string; auth?: string }[] = [];
  const server = await serveOnce((req, res) => {
    seen.push({ query: req.url ?? '', lastEventId: req.headers['last-event-id'] as string | undefined,
                auth: req.headers.authorization });
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    if (seen.length === 1) {
      res.end(': keep-alive\nretry: 50\n\nid: 1\nevent: cluster.scaled\ndata: {"cluster_id":"c1"}\n\n'
        + 'id: 2\nevent: application.deployed\ndata: {"a":\ndata: 1}\n\n');
    } else {
      res.write('id: 3\nevent: cluster.scaled\ndata: plain\r\n\r\n');
    }
  });
  const client = new HybridCloudClient({ baseUrl: server.url, apiKey: 'secret-token' });
  const subscription = client.events.subscribe({ clusters: ['c1', 'c2'], events: ['cluster.scaled'] });
  const events: PlatformEvent[] = [];
  await new Promise<void>((resolve) => {
    subscription.on('event', (event: PlatformEvent) => {
      events.push(event);
      if (events.length === 3) resolve();
    });
  });
  subscription.close();
  await server.close();
  assert.deepEqual(events, [
    { id: '1', type: 'cluster.scaled', data: { cluster_id: 'c1' } },
    { id: '2', type: 'application.deployed', data: { a: 1 } },
    { id: '3', type: 'cluster.scaled', data: 'plain' },
  ]);
  assert.equal(seen[0].query, '/v1/events?clusters=c1%2Cc2&events=cluster.scaled');
  assert.equal(seen[0].auth, 'Bearer secret-token');
  assert.equal(seen[0].lastEventId, undefined);
  assert.equal(seen[1].lastEventId, '2');
});

for (const status of [404, 501]) {
  test(`a server answering ${status} makes subscribe emit a not-available error, no events`, async () => {
    const server = await serveOnce((_req, res) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { code: status === 404 ? 'NOT_FOUND' : 'NOT_IMPLEMENTED',
        message: 'no', details: {}, request_id: 'r' } }));
    });
    const client = new HybridCloudClient({ baseUrl: server.url, apiKey: 'k' });
    const subscription = client.events.subscribe({ clusters: ['c1'] });
    const events: unknown[] = [];
    subscription.on('event', (event) => events.push(event));
    const error = await new Promise<Error>((resolve) => subscription.on('error', resolve));
    await server.close();
    assert.ok(error instanceof NotAvailableError);
    assert.match(error.message, /not available on this server/);
    assert.deepEqual(events, []);
  });
}

test('replay asks for the history on the first connection only, then resumes by id', async () => {
  const queries: { url: string; lastEventId?: string }[] = [];
  const server = await serveOnce((req, res) => {
    queries.push({ url: req.url ?? '', lastEventId: req.headers['last-event-id'] as string | undefined });
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.end(`retry: 10\n\nid: h${queries.length}\nevent: cluster.ready\ndata: {}\n\n`);
  });
  const client = new HybridCloudClient({ baseUrl: server.url, apiKey: 'k' });
  const subscription = client.events.subscribe({ replay: true });
  await new Promise<void>((resolve) => {
    let seen = 0;
    subscription.on('event', () => { if (++seen === 2) resolve(); });
  });
  subscription.close();
  await server.close();
  assert.deepEqual(queries.slice(0, 2), [
    { url: '/v1/events?replay=true', lastEventId: undefined },
    { url: '/v1/events', lastEventId: 'h1' },
  ]);
});
