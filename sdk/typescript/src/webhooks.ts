/** /v1/webhooks: subscriptions, test pings, delivery history and redelivery. The signing secret
 * is write-only: no answer carries it. */

import { enc, ns, type CallOptions, type Schemas } from './services.js';
import type { Transport } from './transport.js';

export class WebhooksService {
  constructor(private readonly http: Transport) {}

  list(options?: CallOptions): Promise<Schemas['WebhookList']> {
    return this.http.request('GET', '/v1/webhooks', { headers: ns(options), signal: options?.signal });
  }

  get(webhookId: string, options?: CallOptions): Promise<Schemas['Webhook']> {
    return this.http.request('GET', `/v1/webhooks/${enc(webhookId)}`, { headers: ns(options), signal: options?.signal });
  }

  create(body: Schemas['WebhookCreate'], options?: CallOptions): Promise<Schemas['Webhook']> {
    return this.http.request('POST', '/v1/webhooks', { body, headers: ns(options), signal: options?.signal });
  }

  /** Sets the given fields (`active: false` pauses deliveries); absolute values, so retried. */
  update(webhookId: string, body: Schemas['WebhookPatch'], options?: CallOptions): Promise<Schemas['Webhook']> {
    return this.http.request('PATCH', `/v1/webhooks/${enc(webhookId)}`,
      { body, headers: ns(options), signal: options?.signal, retrySafe: true });
  }

  async delete(webhookId: string, options?: CallOptions): Promise<void> {
    await this.http.request('DELETE', `/v1/webhooks/${enc(webhookId)}`, { headers: ns(options), signal: options?.signal });
  }

  /** Asks for a test delivery now (never retried: a repeat would send another). */
  ping(webhookId: string, options?: CallOptions): Promise<Schemas['Requested']> {
    return this.http.request('POST', `/v1/webhooks/${enc(webhookId)}/ping`, { headers: ns(options), signal: options?.signal });
  }

  deliveries(webhookId: string, options?: CallOptions): Promise<Schemas['DeliveryList']> {
    return this.http.request('GET', `/v1/webhooks/${enc(webhookId)}/deliveries`, { headers: ns(options), signal: options?.signal });
  }

  /** Sends a past delivery's event again (never retried, like ping). */
  redeliver(webhookId: string, deliveryId: string, options?: CallOptions): Promise<Schemas['Requested']> {
    return this.http.request('POST', `/v1/webhooks/${enc(webhookId)}/deliveries/${enc(deliveryId)}/redeliver`,
      { headers: ns(options), signal: options?.signal });
  }
}
