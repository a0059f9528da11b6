import type { Problem } from './types.generated.js';

/** Any answer ≥ 400, carrying the server's problem document. */
export class AllotApiError extends Error {
  readonly status: number;
  /** The stable error code, e.g. `subscription_not_found`, `quota_exceeded`. */
  readonly code: string;
  readonly detail: string;
  /** Field errors of a 400 `validation_error`. */
  readonly errors: Array<{ path: string; message: string }>;
  /** Seconds until the allowance refills, from `Retry-After` (429 `quota_exceeded`); null otherwise. */
  readonly retryAfter: number | null;
  readonly requestId: string | null;
  readonly problem: Problem;
  readonly headers: Headers;

  constructor(problem: Problem, headers: Headers) {
    super(`${problem.status} ${problem.code}: ${problem.detail}`);
    this.name = 'AllotApiError';
    this.problem = problem;
    this.headers = headers;
    this.status = problem.status;
    this.code = problem.code;
    this.detail = problem.detail;
    this.errors = problem.errors ?? [];
    this.retryAfter = retryAfterSeconds(headers.get('retry-after')) ?? problem.retry_after_seconds ?? null;
    this.requestId = problem.request_id ?? headers.get('x-request-id');
  }
}

function retryAfterSeconds(header: string | null): number | null {
  if (header === null || header.trim() === '') return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** A problem document for an answer that is not one (a proxy's HTML error page, say). */
export function syntheticProblem(status: number, statusText: string, text: string): Problem {
  return {
    type: 'about:blank',
    title: statusText || `HTTP ${status}`,
    status,
    code: status >= 500 ? 'http_error' : 'unexpected_response',
    detail: text.slice(0, 500) || statusText || `HTTP ${status}`,
  };
}

export function isProblem(value: unknown): value is Problem {
  const candidate = value as Partial<Problem> | null;
  return typeof candidate === 'object' && candidate !== null && typeof candidate.code === 'string' && typeof candidate.status === 'number';
}
