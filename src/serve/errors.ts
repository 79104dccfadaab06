// The errors the HTTP server answers with, in OpenAI's shape: `{ error: { message, type, param, code } }`.

export type ErrorType =
  'invalid_request_error' | 'not_found_error' | 'rate_limit_error' | 'server_error' | 'service_unavailable';

/** A request the server refuses or cannot serve: the status, the body's error and extra headers. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ErrorType = status >= 500 ? 'server_error' : 'invalid_request_error',
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'HttpError';
  }

  body(): { error: { message: string; type: ErrorType; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export function badRequest(message: string, param: string | null = null): HttpError {
  return new HttpError(400, message, 'invalid_request_error', param);
}

/** Whether an error is the rejection of an aborted request (DOMException or Error named 'AbortError'). */
export function isAbortError(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'AbortError';
}

/** Whether an error is the worker's refusal of a request because its queue is full. */
export function isQueueFull(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'QueueFullError';
}

/** The answer to an error from the model: 429 for a full queue, 503 while its worker is down and waiting to
 * restart, 400 for input the model refuses (the RangeError and TypeError its checks throw: a prompt longer than
 * the context...), 500 for the rest. */
export function fromModelError(error: unknown, retryAfter: number): HttpError {
  if (error instanceof HttpError) return error;
  const e = error as { name?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : String(error);
  if (isQueueFull(error))
    return new HttpError(429, message, 'rate_limit_error', null, { 'Retry-After': String(retryAfter) }, 'queue_full');
  if (e?.name === 'ModelUnavailableError') {
    const wait = (error as { retryAfter?: unknown }).retryAfter;
    const headers = { 'Retry-After': String(typeof wait === 'number' ? wait : retryAfter) };
    return new HttpError(503, message, 'service_unavailable', null, headers, 'model_unavailable');
  }
  if (e?.name === 'RangeError' || e?.name === 'TypeError') return badRequest(message);
  return new HttpError(500, `the model failed: ${message}`, 'server_error');
}
