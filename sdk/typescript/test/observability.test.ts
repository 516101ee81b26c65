/** Metrics, alert rules, alerts, log paging and webhooks through the SDK against the live API,
 * backed by a real Prometheus, Alertmanager and VictoriaLogs (tests/sdk/test_typescript_sdk.py). */

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ApiError, HybridCloudClient } from '../src/index.js';

const env = process.env;
const live = { skip: env.HYBRIDCLOUD_SDK_BASE_URL ? false : 'HYBRIDCLOUD_SDK_BASE_URL is not set' };
const client = (): HybridCloudClient =>
  new HybridCloudClient({ baseUrl: env.HYBRIDCLOUD_SDK_BASE_URL ?? '', apiKey: env.HYBRIDCLOUD_SDK_TOKEN ?? '' });

async function refused(promise: Promise<unknown>, status: number, field?: string): Promise<ApiError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof ApiError, `want an ApiError ${status}, got ${String(error)}`);
  assert.equal(error.status, status, error.message);
  if (field) assert.equal(error.details.field, field);
  return error;
}

test('the metrics catalogue and a cluster\'s series come from Prometheus', live, async () => {
  const sdk = client();
  const names = (await sdk.metrics.catalog()).metrics.map((m) => m.name);
  assert.ok(names.includes('cpu_usage'), names.join(','));
  const end = new Date();
  const start = new Date(end.getTime() - 10 * 60_000);
  const series = await sdk.metrics.getClusterMetrics('cluster-001', {
    start: start.toISOString(), end: end.toISOString(), step: '1m', metrics: ['cpu_usage', 'memory_usage'] });
  assert.ok('cpu_usage' in series.metrics && 'memory_usage' in series.metrics);
  await refused(sdk.metrics.getClusterMetrics('cluster-001', { metrics: ['no_such_metric'] }), 400, 'metrics');
});

test('alert rules are created, read, replaced and deleted; alerts are listed', live, async () => {
  const sdk = client();
  const body = { name: 'TsSdkRule', expression: 'sum(up) > 100000', duration: '1m',
                 severity: 'warning' as const, description: 'never fires' };
  const created = await sdk.alertRules.create(body);
  assert.equal(created.expression, body.expression);
  await refused(sdk.alertRules.create(body), 409);
  assert.equal((await sdk.alertRules.get(created.id)).severity, 'warning');
  assert.equal((await sdk.alertRules.replace(created.id, { ...body, severity: 'critical' })).severity, 'critical');
  assert.deepEqual((await sdk.alertRules.list()).alert_rules.map((r) => r.id), [created.id]);
  await refused(sdk.alertRules.create({ ...body, name: 'TsBroken', expression: 'sum(rate(x[5m])' }), 400, 'expression');
  await sdk.alertRules.delete(created.id);
  await refused(sdk.alertRules.get(created.id), 404);
  assert.deepEqual((await sdk.alerts.list({ state: 'firing' })).alerts, []);
});

test('log pages follow the cursor through every seeded line in order', live, async () => {
  const sdk = client();
  const want = Number(env.HYBRIDCLOUD_SDK_LOG_LINES);
  const messages: string[] = [];
  let pages = 0;
  for await (const page of sdk.logs.pages({
    query: `level:error AND cluster:${env.HYBRIDCLOUD_SDK_LOG_CLUSTER}`, limit: 2, sort: 'timestamp:asc',
    start_time: new Date(Date.now() - 2 * 3600_000).toISOString() })) {
    pages++;
    messages.push(...page.logs.map((line) => line.message));
  }
  assert.deepEqual(messages, Array.from({ length: want }, (_, i) => `ERROR sdk line ${i}`));
  assert.equal(pages, Math.ceil(want / 2));
  await refused(sdk.logs.query({ query: 'level:(error' }), 400, 'query');
});
