/** Security scans, vulnerabilities and application metrics through the SDK against the live API
 * (tests/sdk/test_typescript_sdk.py). No operator watches the tenant namespace there, so a scan
 * started in it stays pending: that is what is read back (the scan controller is tested in
 * tests/integration/test_security_scans.py). */

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ApiError, HybridCloudClient } from '../src/index.js';

const env = process.env;
const live = { skip: env.HYBRIDCLOUD_SDK_BASE_URL ? false : 'HYBRIDCLOUD_SDK_BASE_URL is not set' };
const client = (): HybridCloudClient =>
  new HybridCloudClient({ baseUrl: env.HYBRIDCLOUD_SDK_BASE_URL ?? '', apiKey: env.HYBRIDCLOUD_SDK_TOKEN ?? '' });

async function refused(promise: Promise<unknown>, status: number, code: string): Promise<ApiError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof ApiError, `want an ApiError ${status}, got ${String(error)}`);
  assert.equal(error.status, status, error.message);
  assert.equal(error.code, code, error.message);
  return error;
}

test('a scan of a registered cluster is started and read back by id', live, async () => {
  const sdk = client();
  const started = await sdk.security.triggerScan({
    targets: [{ type: 'cluster', cluster_id: 'cluster-002' }], scan_types: ['vulnerabilities'] });
  assert.match(started.id, /^scan-/);
  assert.equal(started.status, 'pending');
  const read = await sdk.security.getScan(started.id);
  assert.equal(read.id, started.id);
  assert.equal(read.status, 'pending');
  assert.deepEqual(read.targets, [{ type: 'cluster', cluster_id: 'cluster-002' }]);
  // Nobody runs it here: waitForScan polls until the signal ends the wait.
  await assert.rejects(sdk.security.waitForScan(started.id, { intervalMs: 100, signal: AbortSignal.timeout(500) }),
    { name: 'TimeoutError' });
  const missing = await refused(sdk.security.getScan('scan-000000000000'), 404, 'NOT_FOUND');
  assert.equal(missing.details.scan_id, 'scan-000000000000');
  await refused(sdk.security.triggerScan({ targets: [{ type: 'cluster', cluster_id: 'no-such-cluster' }] }),
    404, 'CLUSTER_NOT_FOUND');
});

test('vulnerabilities are filtered and a bad filter is a 400 naming it', live, async () => {
  const sdk = client();
  const found = await sdk.security.listVulnerabilities({ severity: ['critical', 'high'], fixed: true, cluster: 'cluster-002' });
  assert.deepEqual(found.vulnerabilities, []);
  const severity = await refused(sdk.security.listVulnerabilities({ severity: 'urgent' }), 400, 'INVALID_REQUEST');
  assert.equal(severity.details.field, 'severity');
  const cluster = await refused(sdk.security.listVulnerabilities({ cluster: 'Not_A_Name' }), 400, 'INVALID_REQUEST');
  assert.equal(cluster.details.field, 'cluster');
});

test('metrics of an application not on the cluster are a 404', live, async () => {
  const error = await refused(client().metrics.getApplicationMetrics('cluster-002', 'no-such-app'), 404,
    'APPLICATION_NOT_FOUND');
  assert.equal(error.details.application, 'no-such-app');
});
