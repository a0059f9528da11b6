/**
 * The one catalogue of allot's error codes. Domain and service code throw
 * `AllotError` with a code; the HTTP layer alone turns it into problem+json.
 */
export const errorCatalogue = {
  validation_error: { status: 400, title: 'Validation failed' },
  invalid_json: { status: 400, title: 'Invalid JSON' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  forbidden: { status: 403, title: 'Forbidden' },
  not_found: { status: 404, title: 'Not found' },
  subscription_not_found: { status: 404, title: 'Subscription not found' },
  plan_not_found: { status: 404, title: 'Plan not found' },
  reservation_not_found: { status: 404, title: 'Reservation not found' },
  model_not_found: { status: 404, title: 'Model not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  request_timeout: { status: 408, title: 'Request timeout' },
  idempotency_conflict: { status: 409, title: 'Idempotency conflict' },
  idempotency_in_flight: { status: 409, title: 'Request still in flight' },
  subscription_suspended: { status: 409, title: 'Subscription suspended' },
  reservation_not_active: { status: 409, title: 'Reservation not active' },
  plan_exists: { status: 409, title: 'Plan exists' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  headers_too_large: { status: 431, title: 'Request headers too large' },
  plan_archived: { status: 422, title: 'Plan archived' },
  cycle_change_requires_period_end: { status: 422, title: 'Cycle change requires period end' },
  too_many_reservations: { status: 422, title: 'Too many active reservations' },
  model_not_priced: { status: 422, title: 'Model not priced' },
  quota_exceeded: { status: 429, title: 'Quota exceeded' },
  internal_error: { status: 500, title: 'Internal error' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

export interface FieldError {
  path: string;
  message: string;
}

export class AllotError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly errors: FieldError[] | undefined;
  /** Extra members for the problem document (e.g. `retry_after_seconds`). */
  readonly extra: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, detail: string, options: { errors?: FieldError[]; extra?: Record<string, unknown> } = {}) {
    super(detail);
    this.name = 'AllotError';
    this.code = code;
    this.status = errorCatalogue[code].status;
    this.errors = options.errors;
    this.extra = options.extra;
  }
}

export function validationError(errors: FieldError[]): AllotError {
  const detail = errors.map((e) => `${e.path || '(body)'}: ${e.message}`).join('; ');
  return new AllotError('validation_error', detail, { errors });
}
