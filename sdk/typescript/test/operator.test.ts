/** The SDK with the real operator behind the API (on HYBRIDCLOUD_SDK_OPERATOR_NAMESPACE): a
 * `local` cluster becomes a real member control plane and its recorded transitions arrive over
 * the event stream, an application is delivered from git, a webhook ping reaches a receiver. */

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { HybridCloudClient, type PlatformEvent } from '../src/index.js';

const env = process.env;
const live = { skip: env.HYBRIDCLOUD_SDK_OPERATOR_NAMESPACE ? false : 'no operator namespace is set' };
const client = (): HybridCloudClient => new HybridCloudClient({
  baseUrl: env.HYBRIDCLOUD_SDK_BASE_URL ?? '', apiKey: env.HYBRIDCLOUD_SDK_TOKEN ?? '',
  namespace: env.HYBRIDCLOUD_SDK_OPERATOR_NAMESPACE });

test('a local cluster is built, its transitions stream in, and an application is delivered', live, async () => {
  const sdk = client();
  const signal = AbortSignal.timeout(9 * 60_000);
  const events: PlatformEvent[] = [];
  const subscription = sdk.events.subscribe({ clusters: ['ts-live'], signal });
  const ready = new Promise<PlatformEvent>((resolve, reject) => {
    subscription.on('event', (event: PlatformEvent) => {
      events.push(event);
      if (event.type === 'cluster.ready') resolve(event);
    });
    subscription.on('error', reject);
  });
  await new Promise<void>((resolve, reject) => { subscription.once('open', resolve); subscription.once('error', reject); });
  try {
    const created = await sdk.clusters.create({ name: 'ts-live', provider: 'local', version: 'v1.37.2',
                                                configuration: { node_pools: [{ name: 'workers', size: 1 }] } });
    const operation = await sdk.operations.wait(created.operation_id, { intervalMs: 500, signal });
    assert.equal(operation.status, 'succeeded');
    const cluster = await sdk.clusters.waitUntilReady('ts-live', { intervalMs: 500, signal });
    assert.equal(cluster.status, 'active');
    assert.equal(cluster.nodes.worker, 1);
    // A real transition the operator recorded, delivered over SSE.
    const event = await ready;
    const data = event.data as { data: { cluster_id: string } };
    assert.equal(data.data.cluster_id, 'ts-live');
    assert.ok(event.id);

    const deployed = await sdk.applications.deploy('ts-live', {
      name: 'sample-app', namespace: 'shop',
      source: { repository: env.HYBRIDCLOUD_SDK_REPO_URL ?? '', path: 'k8s', revision: 'main' },
      values: { replicas: 1 } });
    assert.equal((await sdk.operations.wait(deployed.operation_id, { intervalMs: 500, signal })).status, 'succeeded');
    const apps = await sdk.applications.list('ts-live');
    assert.deepEqual(apps.applications.map((a) => [a.name, a.sync_status]), [['sample-app', 'synced']]);
    // The delivered app's metrics from the stack's Prometheus: its workloads are found on the
    // member, and each figure is a value or null with the reason (kwok pods serve no HTTP series).
    const metrics = await sdk.metrics.getApplicationMetrics('ts-live', 'sample-app', { signal });
    assert.equal(metrics.application, 'sample-app');
    const figures = { request_rate: metrics.metrics.request_rate, response_time: metrics.metrics.response_time,
                      resource_usage: metrics.metrics.resource_usage.cpu };
    for (const [name, value] of Object.entries(figures)) {
      const reason = metrics.unavailable?.[name];
      assert.ok(value !== null || reason, `${name}: neither a value nor a reason: ${JSON.stringify(metrics)}`);
      assert.notEqual(reason, 'the application has no workloads on this cluster', JSON.stringify(metrics));
    }

    const removed = await sdk.clusters.delete('ts-live');
    assert.equal((await sdk.operations.wait(removed.operation_id, { intervalMs: 500, signal })).status, 'succeeded');
  } finally {
    subscription.close();
  }
});

test('a webhook created paused is activated, pinged and redelivered', live, async () => {
  const sdk = client();
  const hook = await sdk.webhooks.create({ url: env.HYBRIDCLOUD_SDK_WEBHOOK_URL ?? '',
    secret: env.HYBRIDCLOUD_SDK_WEBHOOK_SECRET ?? '', events: ['cluster.ready'], active: false });
  assert.equal(hook.active, false);
  assert.equal((await sdk.webhooks.update(hook.id, { active: true })).active, true);
  assert.deepEqual((await sdk.webhooks.list()).webhooks.map((w) => w.id), [hook.id]);
  const ping = await sdk.webhooks.ping(hook.id);
  const first = await recorded(sdk, hook.id, ping.delivery_id);
  assert.equal(first.event, 'ping');
  const again = await sdk.webhooks.redeliver(hook.id, first.id);
  assert.equal(again.status, 'queued');
  assert.notEqual(again.delivery_id, first.id);
  assert.equal((await recorded(sdk, hook.id, again.delivery_id)).event_id, first.event_id);
  await sdk.webhooks.delete(hook.id);
  await assert.rejects(sdk.webhooks.get(hook.id), { status: 404 });
});

/** Polls the delivery history until the operator has recorded deliveryId as succeeded (the
 * receiver answers 2xx); a failed delivery fails at once. */
async function recorded(sdk: HybridCloudClient, webhookId: string, deliveryId: string) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { deliveries } = await sdk.webhooks.deliveries(webhookId);
    const found = deliveries.find((d) => d.id === deliveryId);
    if (found?.status === 'succeeded') return found;
    assert.notEqual(found?.status, 'failed', `delivery ${deliveryId} failed: ${JSON.stringify(found)}`);
    assert.ok(Date.now() < deadline, `delivery ${deliveryId} never succeeded: ${JSON.stringify(deliveries)}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}
