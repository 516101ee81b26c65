/** The HTTP core: authentication, JSON, typed errors, retries of idempotent requests on 429/503
 * with backoff honouring Retry-After, and AbortSignal cancellation. */

import { ApiError, ConnectionError, toApiError } from './errors.js';

export interface ClientOptions {
  baseUrl: string;
  /** A bearer token. */
  apiKey?: string;
  /** OAuth client credentials, exchanged at /oauth/token (instead of apiKey). */
  clientId?: string;
  clientSecret?: string;
  /** Tenant namespace sent as X-Tenant-Namespace; default the caller's own namespace. */
  namespace?: string;
  /** Retries of idempotent requests answered 429/503 (default 4, 0 disables). */
  maxRetries?: number;
  /** Cap of a single wait between retries, Retry-After included (default 30 s). */
  maxBackoffMs?: number;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
  /** A fetch implementation (default the global fetch of Node 20). */
  fetch?: typeof fetch;
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  form?: Record<string, string>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  noAuth?: boolean;
  /** A POST or PATCH that may be repeated (a read-only query, absolute values): its 429/503
   * answers are retried like a GET's. */
  retrySafe?: boolean;
  /** The body is a stream read for as long as the caller wants (no overall timeout). */
  stream?: boolean;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
/** Renew an OAuth token this long before it expires (or at half its lifetime if shorter). */
const REFRESH_MARGIN_MS = 60_000;

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => { clearTimeout(timer); reject(signal?.reason); };
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class Transport {
  readonly baseUrl: string;
  private readonly options: ClientOptions;
  private readonly fetchImpl: typeof fetch;
  private token: { value: string; renewAt: number } | undefined;
  private pendingToken: Promise<string> | undefined;

  constructor(options: ClientOptions) {
    if (!options.baseUrl) throw new TypeError('baseUrl is required');
    const url = new URL(options.baseUrl); // throws on a malformed URL
    const hasKey = Boolean(options.apiKey);
    const hasCredentials = Boolean(options.clientId || options.clientSecret);
    if (hasKey === hasCredentials) {
      throw new TypeError('set either apiKey or clientId and clientSecret');
    }
    if (hasCredentials && !(options.clientId && options.clientSecret)) {
      throw new TypeError('OAuth needs both clientId and clientSecret');
    }
    this.baseUrl = url.toString().replace(/\/+$/, '');
    this.options = options;
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** Sends one request and returns the parsed 2xx body, or throws ApiError/ConnectionError. */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, path, opts);
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Like request, but hands back the raw 2xx Response (a stream). */
  async send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const maxRetries = this.options.maxRetries ?? 4;
    for (let attempt = 0; ; attempt++) {
      const response = await this.once(method, path, opts);
      if (response.ok) return response;
      const error = await toApiError(response);
      const retryable = response.status === 429 || response.status === 503;
      if (!retryable || !(opts.retrySafe || IDEMPOTENT.has(method)) || attempt >= maxRetries) throw error;
      await sleep(this.backoff(attempt, error), opts.signal);
    }
  }

  private backoff(attempt: number, error: ApiError): number {
    let wait = error.retryAfterMs;
    if (wait <= 0) {
      const base = 250 * 2 ** attempt;
      wait = base / 2 + Math.random() * (base / 2); // jitter: clients do not retry in lockstep
    }
    return Math.min(wait, this.options.maxBackoffMs ?? 30_000);
  }

  private async once(method: string, path: string, opts: RequestOptions): Promise<Response> {
    const url = new URL(this.baseUrl + path);
    for (const [name, value] of Object.entries(opts.query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
    if (this.options.namespace && !headers['X-Tenant-Namespace']) {
      headers['X-Tenant-Namespace'] = this.options.namespace;
    }
    let body: string | undefined;
    if (opts.form) {
      body = new URLSearchParams(opts.form).toString();
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    } else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['Content-Type'] = 'application/json';
    }
    if (!opts.noAuth) headers.Authorization = `Bearer ${await this.bearer(opts.signal)}`;
    // The timeout bounds the whole exchange, except for a stream: there it bounds only the wait
    // for the answer's headers (an event stream is meant to stay open).
    const timeout = new AbortController();
    const timeoutMs = this.options.timeoutMs ?? 30_000;
    const timer = setTimeout(() => timeout.abort(new DOMException(
      `no answer within ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
    (timer as { unref?: () => void }).unref?.(); // a pending timeout never keeps Node running
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout.signal]) : timeout.signal;
    try {
      const response = await this.fetchImpl(url, { method, headers, body, signal });
      if (opts.stream) clearTimeout(timer);
      return response;
    } catch (error) {
      clearTimeout(timer);
      if (signal.aborted) throw signal.reason;
      throw new ConnectionError(error instanceof Error ? (error.cause as Error | undefined)?.message
        ?? error.message : String(error), { cause: error });
    }
  }

  private async bearer(signal?: AbortSignal): Promise<string> {
    if (this.options.apiKey) return this.options.apiKey;
    if (this.token && Date.now() < this.token.renewAt) return this.token.value;
    // One token request at a time, shared by concurrent callers.
    this.pendingToken ??= this.fetchToken(signal).finally(() => { this.pendingToken = undefined; });
    return this.pendingToken;
  }

  private async fetchToken(signal?: AbortSignal): Promise<string> {
    const issued = await this.request<{ access_token: string; expires_in: number }>(
      'POST', '/oauth/token', {
        noAuth: true, signal,
        form: { grant_type: 'client_credentials', client_id: this.options.clientId ?? '',
                client_secret: this.options.clientSecret ?? '' },
      });
    const lifetime = issued.expires_in * 1000;
    this.token = { value: issued.access_token,
                   renewAt: Date.now() + lifetime - Math.min(REFRESH_MARGIN_MS, lifetime / 2) };
    return issued.access_token;
  }
}
