/** Metrics, alerts, alert rules and log queries. A server without a Prometheus, Alertmanager or
 * log store answers 503 SERVICE_UNAVAILABLE (an ApiError), never made-up data. */

import { enc, ns, type CallOptions, type QueryOf, type Schemas } from './services.js';
import type { Transport } from './transport.js';

export interface ClusterMetricsQuery {
  /** RFC 3339 instants; the server's default window when left out. */
  start?: string;
  end?: string;
  step?: string;
  /** Catalogue names such as cpu_usage (see metrics.catalog()). */
  metrics?: string[];
}

export class MetricsService {
  constructor(private readonly http: Transport) {}

  getClusterMetrics(clusterId: string, query: ClusterMetricsQuery = {}, options?: CallOptions):
      Promise<Schemas['ClusterMetricsResponse']> {
    const { metrics, ...window } = query;
    return this.http.request('GET', `/v1/clusters/${enc(clusterId)}/metrics`, {
      query: { ...window, metrics: metrics?.join(',') }, headers: ns(options), signal: options?.signal });
  }

  /** An application's current request rate, error rate, latency percentiles and CPU/memory on
   * one cluster; values its pods do not expose are null, with the reason in `unavailable`. An
   * application not placed on the cluster is a 404 APPLICATION_NOT_FOUND. */
  getApplicationMetrics(clusterId: string, appName: string, options?: CallOptions):
      Promise<Schemas['ApplicationMetricsResponse']> {
    return this.http.request('GET', `/v1/clusters/${enc(clusterId)}/applications/${enc(appName)}/metrics`,
      { headers: ns(options), signal: options?.signal });
  }

  /** The metric names getClusterMetrics accepts, with units and expressions. */
  catalog(options?: CallOptions): Promise<Schemas['Catalog']> {
    return this.http.request('GET', '/v1/metrics/catalog', { headers: ns(options), signal: options?.signal });
  }
}

export class AlertsService {
  constructor(private readonly http: Transport) {}

  list(query: QueryOf<'listAlerts'> = {}, options?: CallOptions): Promise<Schemas['AlertList']> {
    return this.http.request('GET', '/v1/alerts', { query, headers: ns(options), signal: options?.signal });
  }
}

export class AlertRulesService {
  constructor(private readonly http: Transport) {}

  list(options?: CallOptions): Promise<Schemas['AlertRuleList']> {
    return this.http.request('GET', '/v1/alert-rules', { headers: ns(options), signal: options?.signal });
  }

  get(ruleId: string, options?: CallOptions): Promise<Schemas['AlertRule']> {
    return this.http.request('GET', `/v1/alert-rules/${enc(ruleId)}`, { headers: ns(options), signal: options?.signal });
  }

  /** A rule of that name already existing is 409 CONFLICT. */
  create(body: Schemas['AlertRuleBody'], options?: CallOptions): Promise<Schemas['AlertRule']> {
    return this.http.request('POST', '/v1/alert-rules', { body, headers: ns(options), signal: options?.signal });
  }

  /** Overwrites the rule (PUT: retried on 429/503). */
  replace(ruleId: string, body: Schemas['AlertRuleBody'], options?: CallOptions): Promise<Schemas['AlertRule']> {
    return this.http.request('PUT', `/v1/alert-rules/${enc(ruleId)}`, { body, headers: ns(options), signal: options?.signal });
  }

  async delete(ruleId: string, options?: CallOptions): Promise<void> {
    await this.http.request('DELETE', `/v1/alert-rules/${enc(ruleId)}`, { headers: ns(options), signal: options?.signal });
  }
}

export class LogsService {
  constructor(private readonly http: Transport) {}

  /** One page; pass its next_cursor as `cursor` for the next (or use pages()). Only reads, so
   * its 429/503 answers are retried although it is a POST. */
  query(body: Schemas['LogQuery'], options?: CallOptions): Promise<Schemas['LogQueryResult']> {
    return this.http.request('POST', '/v1/logs/query',
      { body, headers: ns(options), signal: options?.signal, retrySafe: true });
  }

  /** Every page: `for await (const page of client.logs.pages({query: 'level:error'}))`. A
   * cursor only fits the time range it came from, so an unset end_time is pinned to now for
   * every page (the server's default "now" would move between pages). */
  async *pages(body: Schemas['LogQuery'], options?: CallOptions): AsyncGenerator<Schemas['LogQueryResult']> {
    let cursor = body.cursor ?? undefined;
    const end_time = body.end_time ?? new Date().toISOString();
    for (;;) {
      const page = await this.query({ ...body, end_time, cursor }, options);
      yield page;
      if (!page.next_cursor) return;
      cursor = page.next_cursor;
    }
  }
}
