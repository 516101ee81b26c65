/** Errors of the SDK: answers of the API in the contract's error shape, an unreachable API, and
 * endpoints this server does not offer. */

export interface ErrorDetails {
  [key: string]: unknown;
}

/** A non-2xx answer: {"error": {"code", "message", "details", "request_id"}}. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: ErrorDetails;
  readonly requestId: string;
  /** The server's Retry-After in milliseconds (429/503), 0 when absent. */
  readonly retryAfterMs: number;

  constructor(status: number, code: string, message: string, details: ErrorDetails,
              requestId: string, retryAfterMs: number) {
    super(`${status} ${code}: ${message} (request_id ${requestId})`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestId = requestId;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The API could not be reached at all (refused, reset, DNS). */
export class ConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`the API is unreachable: ${message}`, options);
    this.name = 'ConnectionError';
  }
}

/** The server has no such endpoint yet (404 for the route itself, or 501). */
export class NotAvailableError extends Error {
  constructor(what: string, options?: { cause?: unknown }) {
    super(`${what} is not available on this server`, options);
    this.name = 'NotAvailableError';
  }
}

const FALLBACK_CODES: Record<number, string> = {
  400: 'INVALID_REQUEST', 401: 'UNAUTHORIZED', 403: 'FORBIDDEN', 404: 'NOT_FOUND',
  409: 'CONFLICT', 429: 'RATE_LIMITED', 501: 'NOT_IMPLEMENTED', 503: 'SERVICE_UNAVAILABLE',
};

/** Retry-After as seconds or an HTTP date, in milliseconds. */
export function parseRetryAfter(value: string | null): number {
  if (!value) return 0;
  const seconds = Number(value.trim());
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? 0 : Math.max(at - Date.now(), 0);
}

/** Reads an error response; a body not in the contract's shape still yields status and code. */
export async function toApiError(response: Response): Promise<ApiError> {
  const retryAfterMs = parseRetryAfter(response.headers.get('Retry-After'));
  const text = await response.text().catch(() => '');
  let info: { code?: unknown; message?: unknown; details?: unknown; request_id?: unknown } = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && 'error' in parsed) {
      info = (parsed as { error: typeof info }).error ?? {};
    }
  } catch {
    // not JSON: fall back to the status below
  }
  const code = typeof info.code === 'string' ? info.code
    : FALLBACK_CODES[response.status] ?? 'INTERNAL_ERROR';
  const message = typeof info.message === 'string' ? info.message : response.statusText;
  const details = info.details && typeof info.details === 'object' ? info.details as ErrorDetails : {};
  const requestId = typeof info.request_id === 'string' ? info.request_id
    : response.headers.get('X-Request-ID') ?? '';
  return new ApiError(response.status, code, message, details, requestId, retryAfterMs);
}
