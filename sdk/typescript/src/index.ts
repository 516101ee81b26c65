/** @hybridcloud/sdk: the TypeScript client of the hybridcloud REST API (fetch + types generated
 * by openapi-typescript from the API's own OpenAPI document; no runtime dependencies). */

import { EventsService } from './events.js';
import { AlertRulesService, AlertsService, LogsService, MetricsService } from './observability.js';
import {
  ApplicationsService, ClustersService, MultiClusterService, OperationsService, SecurityService,
  WorkloadsService,
} from './services.js';
import { Transport, type ClientOptions } from './transport.js';
import { WebhooksService } from './webhooks.js';

export { ApiError, ConnectionError, NotAvailableError } from './errors.js';
export type { ClientOptions } from './transport.js';
export type { CallOptions, Schemas, VulnerabilityQuery, WaitOptions } from './services.js';
export { ScanFailedError } from './services.js';
export type { ClusterMetricsQuery } from './observability.js';
export type { PlatformEvent, SubscribeOptions, Subscription } from './events.js';
export type { components, operations, paths } from './schema.gen.js';

export class HybridCloudClient {
  readonly clusters: ClustersService;
  readonly applications: ApplicationsService;
  readonly workloads: WorkloadsService;
  readonly multiCluster: MultiClusterService;
  readonly operations: OperationsService;
  readonly security: SecurityService;
  readonly events: EventsService;
  readonly metrics: MetricsService;
  readonly alerts: AlertsService;
  readonly alertRules: AlertRulesService;
  readonly logs: LogsService;
  readonly webhooks: WebhooksService;

  constructor(options: ClientOptions) {
    const http = new Transport(options);
    this.clusters = new ClustersService(http);
    this.applications = new ApplicationsService(http);
    this.workloads = new WorkloadsService(http);
    this.multiCluster = new MultiClusterService(http);
    this.operations = new OperationsService(http);
    this.security = new SecurityService(http);
    this.events = new EventsService(http);
    this.metrics = new MetricsService(http);
    this.alerts = new AlertsService(http);
    this.alertRules = new AlertRulesService(http);
    this.logs = new LogsService(http);
    this.webhooks = new WebhooksService(http);
  }
}
