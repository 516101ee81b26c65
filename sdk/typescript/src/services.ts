/** One service per resource of the REST API; a new endpoint is one method here. */

import type { components, operations } from './schema.gen.js';
import { Transport, sleep } from './transport.js';

export type Schemas = components['schemas'];
export type QueryOf<Op extends keyof operations> =
  operations[Op]['parameters'] extends { query?: infer Q } ? NonNullable<Q> : never;

/** Per-call options: cancellation, and the tenant namespace when not the client's default. */
export interface CallOptions {
  signal?: AbortSignal;
  namespace?: string;
}

export interface WaitOptions extends CallOptions {
  intervalMs?: number;
}

export const enc = encodeURIComponent;

export function ns(options?: CallOptions): Record<string, string> {
  return options?.namespace ? { 'X-Tenant-Namespace': options.namespace } : {};
}

/** Walks pages from 1 until the items seen reach the total or a page comes back empty. */
async function* paginate<T>(fetchPage: (page: number) => Promise<{ items: T[]; total: number }>):
    AsyncGenerator<T> {
  let seen = 0;
  for (let page = 1; ; page++) {
    const { items, total } = await fetchPage(page);
    yield* items;
    seen += items.length;
    if (items.length === 0 || seen >= total) return;
  }
}

export class ClustersService {
  constructor(private readonly http: Transport) {}

  list(query: QueryOf<'listClusters'> = {}, options?: CallOptions): Promise<Schemas['ClusterList']> {
    return this.http.request('GET', '/v1/clusters', { query, headers: ns(options), signal: options?.signal });
  }

  /** Every cluster, page after page: `for await (const c of client.clusters.all())`. */
  all(query: QueryOf<'listClusters'> = {}, options?: CallOptions): AsyncGenerator<Schemas['ClusterSummary']> {
    return paginate(async (page) => {
      const list = await this.list({ ...query, page }, options);
      return { items: list.clusters, total: list.total };
    });
  }

  get(clusterId: string, options?: CallOptions): Promise<Schemas['ClusterDetails']> {
    return this.http.request('GET', `/v1/clusters/${enc(clusterId)}`, { headers: ns(options), signal: options?.signal });
  }

  create(body: Schemas['ClusterCreate'], options?: CallOptions): Promise<Schemas['Accepted']> {
    return this.http.request('POST', '/v1/clusters', { body, headers: ns(options), signal: options?.signal });
  }

  update(clusterId: string, body: Schemas['ClusterPatch'],
         options?: CallOptions & { ifMatch?: string }): Promise<Schemas['Accepted']> {
    const headers = { ...ns(options), ...(options?.ifMatch ? { 'If-Match': options.ifMatch } : {}) };
    return this.http.request('PATCH', `/v1/clusters/${enc(clusterId)}`, { body, headers, signal: options?.signal });
  }

  delete(clusterId: string, options?: CallOptions): Promise<Schemas['Accepted']> {
    return this.http.request('DELETE', `/v1/clusters/${enc(clusterId)}`, { headers: ns(options), signal: options?.signal });
  }

  /** Polls until the cluster is active; a failed cluster rejects. Bound it with `signal`. */
  async waitUntilReady(clusterId: string, options?: WaitOptions): Promise<Schemas['ClusterDetails']> {
    for (;;) {
      const cluster = await this.get(clusterId, options);
      if (cluster.status === 'active') return cluster;
      if (cluster.status === 'failed') throw new Error(`cluster ${clusterId} failed`);
      await sleep(options?.intervalMs ?? 2000, options?.signal);
    }
  }
}

export class ApplicationsService {
  constructor(private readonly http: Transport) {}

  deploy(clusterId: string, body: Schemas['ApplicationDeploy'], options?: CallOptions): Promise<Schemas['Accepted']> {
    return this.http.request('POST', `/v1/clusters/${enc(clusterId)}/applications`,
      { body, headers: ns(options), signal: options?.signal });
  }

  list(clusterId: string, query: QueryOf<'listApplications'> = {}, options?: CallOptions):
      Promise<Schemas['ApplicationList']> {
    return this.http.request('GET', `/v1/clusters/${enc(clusterId)}/applications`,
      { query, headers: ns(options), signal: options?.signal });
  }

  all(clusterId: string, query: QueryOf<'listApplications'> = {}, options?: CallOptions):
      AsyncGenerator<Schemas['ApplicationSummary']> {
    return paginate(async (page) => {
      const list = await this.list(clusterId, { ...query, page }, options);
      return { items: list.applications, total: list.total };
    });
  }
}

export class WorkloadsService {
  constructor(private readonly http: Transport) {}

  list(clusterId: string, query: QueryOf<'getWorkloads'> = {}, options?: CallOptions):
      Promise<Schemas['WorkloadsResponse']> {
    return this.http.request('GET', `/v1/clusters/${enc(clusterId)}/workloads`,
      { query, headers: ns(options), signal: options?.signal });
  }

  scale(clusterId: string, type: Schemas['WorkloadType'], workloadNamespace: string, name: string,
        body: Schemas['ScaleRequest'], options?: CallOptions): Promise<Schemas['ScaleResult']> {
    const path = `/v1/clusters/${enc(clusterId)}/workloads/${enc(type)}/${enc(workloadNamespace)}/${enc(name)}/scale`;
    return this.http.request('PATCH', path, { body, headers: ns(options), signal: options?.signal });
  }
}

export class MultiClusterService {
  constructor(private readonly http: Transport) {}

  deploy(body: Schemas['MultiClusterDeploy'], options?: CallOptions): Promise<Schemas['Accepted']> {
    return this.http.request('POST', '/v1/multi-cluster/applications', { body, headers: ns(options), signal: options?.signal });
  }

  status(options?: CallOptions): Promise<Schemas['MultiClusterStatus']> {
    return this.http.request('GET', '/v1/multi-cluster/status', { headers: ns(options), signal: options?.signal });
  }
}

export class OperationsService {
  constructor(private readonly http: Transport) {}

  get(operationId: string, options?: CallOptions): Promise<Schemas['Operation']> {
    return this.http.request('GET', `/v1/operations/${enc(operationId)}`, { headers: ns(options), signal: options?.signal });
  }

  /** Polls until the operation is no longer pending/running; failed or superseded rejects. */
  async wait(operationId: string, options?: WaitOptions): Promise<Schemas['Operation']> {
    for (;;) {
      const operation = await this.get(operationId, options);
      if (operation.status === 'succeeded') return operation;
      if (operation.status === 'failed' || operation.status === 'superseded') {
        throw new Error(`operation ${operationId} ${operation.status}: ${operation.message ?? ''}`);
      }
      await sleep(options?.intervalMs ?? 2000, options?.signal);
    }
  }
}

export class SecurityService {
  constructor(private readonly http: Transport) {}

  listPolicies(options?: CallOptions): Promise<Schemas['PolicyList']> {
    return this.http.request('GET', '/v1/security/policies', { headers: ns(options), signal: options?.signal });
  }

  getPolicy(policyId: string, options?: CallOptions): Promise<Schemas['PolicyView']> {
    return this.http.request('GET', `/v1/security/policies/${enc(policyId)}`, { headers: ns(options), signal: options?.signal });
  }

  createPolicy(body: Schemas['PolicyCreate'], options?: CallOptions): Promise<Schemas['PolicyView']> {
    return this.http.request('POST', '/v1/security/policies', { body, headers: ns(options), signal: options?.signal });
  }

  updatePolicy(policyId: string, body: Schemas['PolicyPatch'], options?: CallOptions): Promise<Schemas['PolicyView']> {
    return this.http.request('PATCH', `/v1/security/policies/${enc(policyId)}`, { body, headers: ns(options), signal: options?.signal });
  }

  deletePolicy(policyId: string, options?: CallOptions): Promise<Schemas['PolicyView']> {
    return this.http.request('DELETE', `/v1/security/policies/${enc(policyId)}`, { headers: ns(options), signal: options?.signal });
  }

  /** Starts a scan (202): `status` is `pending` until the operator picks it up. */
  triggerScan(body: Schemas['ScanCreate'], options?: CallOptions): Promise<Schemas['ScanView']> {
    return this.http.request('POST', '/v1/security/scan', { body, headers: ns(options), signal: options?.signal });
  }

  getScan(scanId: string, options?: CallOptions): Promise<Schemas['ScanView']> {
    return this.http.request('GET', `/v1/security/scans/${enc(scanId)}`, { headers: ns(options), signal: options?.signal });
  }

  /** Polls until the scan is completed; a failed one rejects with ScanFailedError (its `scan`
   * says why, e.g. reason ScannerMissing). Bound it with `signal`. */
  async waitForScan(scanId: string, options?: WaitOptions): Promise<Schemas['ScanView']> {
    for (;;) {
      const scan = await this.getScan(scanId, options);
      if (scan.status === 'completed') return scan;
      if (scan.status === 'failed') throw new ScanFailedError(scan);
      await sleep(options?.intervalMs ?? 2000, options?.signal);
    }
  }

  /** What the latest scans found. A filter the server refuses is a 400 ApiError whose
   * `details.field` names it. */
  listVulnerabilities(query: VulnerabilityQuery = {}, options?: CallOptions): Promise<Schemas['VulnerabilityList']> {
    const { severity, fixed, cluster } = query;
    return this.http.request('GET', '/v1/security/vulnerabilities', {
      query: { severity: Array.isArray(severity) ? severity.join(',') : severity,
               fixed: fixed === undefined ? undefined : String(fixed), cluster },
      headers: ns(options), signal: options?.signal });
  }
}

export interface VulnerabilityQuery {
  /** low, medium, high or critical, or several of them. */
  severity?: string | string[];
  /** true: only fixable ones; false: only unfixed ones. */
  fixed?: boolean;
  /** Only what scans of this cluster found. */
  cluster?: string;
}

/** waitForScan's rejection when the scan failed; `scan` carries its reason and message. */
export class ScanFailedError extends Error {
  constructor(readonly scan: Schemas['ScanView']) {
    super(`scan ${scan.id} failed (${scan.reason ?? ''}): ${scan.message ?? ''}`);
    this.name = 'ScanFailedError';
  }
}
