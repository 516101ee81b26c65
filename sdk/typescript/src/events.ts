/** `client.events.subscribe(...)`: Server-Sent Events from GET /v1/events, resumed with
 * Last-Event-ID after a dropped connection. A server without the endpoint (404/501) makes the
 * subscription emit a NotAvailableError, never made-up events. */

import { EventEmitter } from 'node:events';

import { ApiError, NotAvailableError } from './errors.js';
import { Transport, sleep } from './transport.js';

export interface SubscribeOptions {
  clusters?: string[];
  events?: string[];
  namespace?: string;
  /** First receive what the server's bounded history still holds (until an event was seen;
   * reconnections resume after the last event instead). */
  replay?: boolean;
  signal?: AbortSignal;
  /** Wait before reconnecting when the stream ends (the server's `retry:` wins), default 1 s. */
  reconnectMs?: number;
}

/** One event of the stream; `data` is the parsed JSON payload (or the raw text). */
export interface PlatformEvent {
  id?: string;
  type: string;
  data: unknown;
}

/** Emits 'open', 'event' (PlatformEvent), 'error' (Error; the subscription ends) and 'close'. */
export class Subscription extends EventEmitter {
  private readonly controller = new AbortController();
  private lastEventId: string | undefined;
  private reconnectMs: number;
  closed = false;

  constructor(private readonly http: Transport, private readonly options: SubscribeOptions) {
    super();
    this.reconnectMs = options.reconnectMs ?? 1000;
    options.signal?.addEventListener('abort', () => this.close(), { once: true });
    // Started on the next tick, so listeners attached right after subscribe() see everything.
    setImmediate(() => { void this.run(); });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.controller.abort();
    this.emit('close');
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        await this.stream();
      } catch (error) {
        if (this.closed) return;
        this.fail(error);
        return;
      }
      if (this.closed) return;
      await sleep(this.reconnectMs, this.controller.signal).catch(() => undefined);
    }
  }

  private fail(error: unknown): void {
    const notAvailable = error instanceof ApiError
      && (error.status === 501 || (error.status === 404 && error.code === 'NOT_FOUND'));
    const reported = notAvailable
      ? new NotAvailableError('the event stream (GET /v1/events)', { cause: error })
      : error instanceof Error ? error : new Error(String(error));
    this.closed = true;
    if (this.listenerCount('error') > 0) this.emit('error', reported);
    this.emit('close');
  }

  private async stream(): Promise<void> {
    const query: Record<string, string | undefined> = {
      clusters: this.options.clusters?.join(','), events: this.options.events?.join(','),
      replay: this.options.replay && !this.lastEventId ? 'true' : undefined,
    };
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (this.options.namespace) headers['X-Tenant-Namespace'] = this.options.namespace;
    if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
    const response = await this.http.send('GET', '/v1/events',
      { query, headers, signal: this.controller.signal, stream: true });
    if (!(response.headers.get('Content-Type') ?? '').startsWith('text/event-stream')) {
      await response.body?.cancel();
      throw new NotAvailableError('the event stream (GET /v1/events answered no event stream)');
    }
    this.emit('open');
    if (!response.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    let event: { id?: string; type?: string; data: string[] } = { data: [] };
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = buffer.search(/\r\n|\n|\r/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
        if (line === '') {
          this.dispatch(event);
          event = { data: [] };
          continue;
        }
        if (line.startsWith(':')) continue; // a comment: keep-alive
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') event.data.push(value);
        else if (field === 'event') event.type = value;
        else if (field === 'id') event.id = value;
        else if (field === 'retry' && /^\d+$/.test(value)) this.reconnectMs = Number(value);
      }
    }
  }

  private dispatch(raw: { id?: string; type?: string; data: string[] }): void {
    if (raw.id !== undefined) this.lastEventId = raw.id;
    if (raw.data.length === 0) return;
    const text = raw.data.join('\n');
    let data: unknown = text;
    try { data = JSON.parse(text); } catch { /* plain text payload */ }
    this.emit('event', { id: raw.id, type: raw.type ?? 'message', data } satisfies PlatformEvent);
  }
}

export class EventsService {
  constructor(private readonly http: Transport) {}

  subscribe(options: SubscribeOptions = {}): Subscription {
    return new Subscription(this.http, options);
  }
}
