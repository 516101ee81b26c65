/** The SDK against a live API: tests/sdk/test_typescript_sdk.py starts the real API on the real
 * control plane and passes HYBRIDCLOUD_SDK_* variables; without them these tests skip. */

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';

import { ApiError, ConnectionError, HybridCloudClient, NotAvailableError } from '../src/index.js';

const env = process.env;
const live = { skip: env.HYBRIDCLOUD_SDK_BASE_URL ? false : 'HYBRIDCLOUD_SDK_BASE_URL is not set' };
const base = env.HYBRIDCLOUD_SDK_BASE_URL ?? '';
const token = env.HYBRIDCLOUD_SDK_TOKEN ?? '';

async function rejectsWith(promise: Promise<unknown>, status: number, code: string): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ApiError, `want an ApiError, got ${String(error)}`);
    assert.equal(error.status, status);
    assert.equal(error.code, code);
    assert.ok(error.requestId && error.message && typeof error.details === 'object');
    return error;
  }
  assert.fail(`want ${status} ${code}, the call succeeded`);
}

test('the contract example lists clusters and deploys an application', live, async () => {
  const client = new HybridCloudClient({
    baseUrl: base,
    apiKey: token
  });

  // List clusters
  const clusters = await client.clusters.list();

  // Deploy application
  const application = await client.applications.deploy('cluster-001', {
    name: 'sample-app',
    namespace: 'production',
    source: {
      repository: 'https://github.com/example/app.git',
      path: 'k8s',
      revision: 'main'
    },
    values: {
      image: { tag: 'v1.2.3' },
      replicas: 3
    }
  });

  // Subscribe to real-time updates
  const subscription = client.events.subscribe({
    clusters: ['cluster-001'],
    events: ['application.deployed', 'cluster.scaled']
  });

  const received: unknown[] = [];
  subscription.on('event', (event) => {
    received.push(event);
  });

  // Beyond the example: the effects are on the server, and the event stream either delivers
  // real events or says clearly that this server has none.
  assert.deepEqual(clusters.clusters.map((c) => c.id), ['cluster-001', 'cluster-002']);
  assert.equal(application.id, 'sample-app');
  assert.equal(application.status, 'creating');
  const listed = await client.applications.list('cluster-001');
  assert.ok(listed.applications.some((a) => a.id === 'sample-app'));
  const outcome = await new Promise<Error | 'open'>((resolve) => {
    subscription.on('error', resolve);
    subscription.on('open', () => resolve('open'));
  });
  subscription.close();
  if (outcome !== 'open') {
    assert.ok(outcome instanceof NotAvailableError, String(outcome));
    assert.match(outcome.message, /not available on this server/);
    assert.deepEqual(received, []);
  }
});

test('clusters get, create, update and delete, multi-cluster status and operations', live, async () => {
  const client = new HybridCloudClient({ baseUrl: base, apiKey: token });
  const details = await client.clusters.get('cluster-001');
  assert.equal(details.status, 'active');
  const pools = { node_pools: [{ name: 'workers', size: 1 }] };
  const created = await client.clusters.create({ name: 'ts-sdk-made', provider: 'local', configuration: pools });
  assert.equal(created.status, 'creating');
  await rejectsWith(client.clusters.create({ name: 'ts-sdk-made', provider: 'local', configuration: pools }),
    409, 'CONFLICT');
  const operation = await client.operations.get(created.operation_id);
  assert.equal(operation.id, created.operation_id);
  const updated = await client.clusters.update('ts-sdk-made', { labels: { team: 'ts' } });
  assert.equal(updated.id, 'ts-sdk-made');
  assert.equal((await client.clusters.delete('ts-sdk-made')).status, 'deleting');
  const status = await client.multiCluster.status();
  assert.ok(status.clusters.total >= 2);
  assert.ok(Array.isArray((await client.security.listPolicies()).policies));
});

test('pagination iterates every cluster across pages', live, async () => {
  const client = new HybridCloudClient({ baseUrl: base, apiKey: token });
  const ids: string[] = [];
  for await (const cluster of client.clusters.all({ per_page: 1 })) ids.push(cluster.id);
  const first = await client.clusters.list({ per_page: 1 });
  assert.ok(first.total >= 2);
  assert.equal(new Set(ids).size, first.total);
});

test('waitUntilReady returns an active cluster and stops with its AbortSignal', live, async () => {
  const client = new HybridCloudClient({ baseUrl: base, apiKey: token });
  assert.equal((await client.clusters.waitUntilReady('cluster-001', { intervalMs: 100 })).status, 'active');
  await client.clusters.create({ name: 'ts-sdk-pending', provider: 'local',
                                 configuration: { node_pools: [{ name: 'w', size: 1 }] } });
  await assert.rejects(client.clusters.waitUntilReady('ts-sdk-pending',
    { intervalMs: 100, signal: AbortSignal.timeout(500) }), { name: 'TimeoutError' });
});

test('OAuth client credentials are exchanged for a token; a wrong secret is 401', live, async () => {
  const client = new HybridCloudClient({ baseUrl: base, clientId: env.HYBRIDCLOUD_SDK_CLIENT_ID,
                                         clientSecret: env.HYBRIDCLOUD_SDK_CLIENT_SECRET });
  assert.ok((await client.clusters.list()).total >= 2);
  const wrong = new HybridCloudClient({ baseUrl: base, clientId: env.HYBRIDCLOUD_SDK_CLIENT_ID,
                                        clientSecret: 'wrong' });
  await rejectsWith(wrong.clusters.list(), 401, 'UNAUTHORIZED');
});

test('an expired token is a 401 UNAUTHORIZED ApiError', live, async () => {
  const client = new HybridCloudClient({ baseUrl: base, apiKey: env.HYBRIDCLOUD_SDK_EXPIRED_TOKEN });
  await rejectsWith(client.clusters.list(), 401, 'UNAUTHORIZED');
});

test('a caller without RBAC gets a 403 FORBIDDEN ApiError', live, async () => {
  const client = new HybridCloudClient({ baseUrl: base, apiKey: env.HYBRIDCLOUD_SDK_UNBOUND_TOKEN });
  await rejectsWith(client.clusters.list(), 403, 'FORBIDDEN');
});

test('a missing cluster is a 404 CLUSTER_NOT_FOUND naming it', live, async () => {
  const client = new HybridCloudClient({ baseUrl: base, apiKey: token });
  const error = await rejectsWith(client.clusters.get('no-such-cluster'), 404, 'CLUSTER_NOT_FOUND');
  assert.equal(error.details.cluster_id, 'no-such-cluster');
});

test('a 429 storm is ridden out by backing off, and a POST is never retried', live, async () => {
  let limited = 0;
  const counting: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    if (response.status === 429) limited++;
    return response;
  };
  const client = new HybridCloudClient({ baseUrl: env.HYBRIDCLOUD_SDK_LIMITED_URL ?? '',
    apiKey: env.HYBRIDCLOUD_SDK_LIMITED_TOKEN, maxRetries: 10, fetch: counting });
  // The limited API allows a burst of 100 and refills one request per second.
  // Keep calling until the server has answered 429, then a few more, every call succeeding.
  let afterStorm = 0;
  for (let i = 0; afterStorm < 3; i++) {
    assert.ok(i <= 300, 'the server never answered 429: the storm did not happen');
    await client.clusters.list();
    if (limited > 0) afterStorm++;
  }
  // A POST is not idempotent: its 429 comes back after one request, never retried. The bucket
  // refills continuously, so drain it first and try again on the rare refill in between.
  const drain = new HybridCloudClient({ baseUrl: env.HYBRIDCLOUD_SDK_LIMITED_URL ?? '',
    apiKey: env.HYBRIDCLOUD_SDK_LIMITED_TOKEN, maxRetries: 0 });
  for (let attempt = 0; ; attempt++) {
    assert.ok(attempt < 5, 'a POST never met an empty bucket');
    for (;;) {
      try { await drain.clusters.list(); } catch (error) {
        assert.ok(error instanceof ApiError && error.status === 429, String(error));
        break;
      }
    }
    const before = limited;
    try {
      await client.clusters.create({ name: `never-${attempt}`, provider: 'local',
                                     configuration: { node_pools: [{ name: 'w', size: 1 }] } });
      continue; // a token refilled between the drain and the POST
    } catch (error) {
      assert.ok(error instanceof ApiError && error.code === 'RATE_LIMITED', String(error));
      assert.ok(error.retryAfterMs > 0);
      assert.equal(limited, before + 1);
      break;
    }
  }
});

test('an API that is down is a ConnectionError', live, async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve)); // nothing listens there any more
  const client = new HybridCloudClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: 'x', maxRetries: 0 });
  await assert.rejects(client.clusters.list(), ConnectionError);
});

test('an aborted signal stops the call', live, async () => {
  const client = new HybridCloudClient({ baseUrl: base, apiKey: token });
  await assert.rejects(client.clusters.list({}, { signal: AbortSignal.abort() }), { name: 'AbortError' });
});

test('the constructor rejects a config without baseUrl or credentials', () => {
  assert.throws(() => new HybridCloudClient({ baseUrl: '', apiKey: 'k' }), TypeError);
  assert.throws(() => new HybridCloudClient({ baseUrl: 'http://x' }), TypeError);
  assert.throws(() => new HybridCloudClient({ baseUrl: 'http://x', clientId: 'id' }), TypeError);
});
