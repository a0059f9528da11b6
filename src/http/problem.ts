/**
 * The one mapper from anything thrown to an RFC 9457 problem document.
 * A client's mistake is always a 4xx; a 5xx never carries internals.
 */
import type { ZodError } from 'zod';
import { AllotError, errorCatalogue, validationError, type ErrorCode, type FieldError } from '../domain/errors.ts';
import { DatabaseUnavailable } from '../store/db.ts';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  errors?: FieldError[];
  [extra: string]: unknown;
}

export function problemOf(error: AllotError): Problem {
  return {
    type: `https://allot.dev/problems/${error.code.replaceAll('_', '-')}`,
    title: errorCatalogue[error.code].title,
    status: error.status,
    detail: error.message,
    code: error.code,
    ...(error.errors ? { errors: error.errors } : {}),
    ...error.extra,
  };
}

/**
 * The raw HTTP answer to a request Node's parser refused before any route saw
 * it (headers too large, a malformed request line): still a problem document.
 */
export function clientErrorResponse(error: { code?: string }): string {
  const allot = error.code === 'HPE_HEADER_OVERFLOW'
    ? new AllotError('headers_too_large', 'Request headers are limited to 16 KiB.')
    : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new AllotError('request_timeout', 'The request did not arrive in time.')
      : validationError([{ path: '', message: 'the request is not valid HTTP/1.1' }]);
  const body = JSON.stringify(problemOf(allot));
  return `HTTP/1.1 ${allot.status} ${errorCatalogue[allot.code].title}\r\nContent-Type: application/problem+json\r\n`
    + `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

export function zodFieldErrors(error: ZodError, prefix = ''): FieldError[] {
  const errors: FieldError[] = [];
  for (const issue of error.issues) {
    const base = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) errors.push({ path: base ? `${base}.${key}` : key, message: 'is not a known field' });
    } else {
      errors.push({ path: base, message: issue.message });
    }
  }
  return errors;
}

/** Fastify's own errors for malformed requests, by their code. */
const fastifyErrors: Record<string, [ErrorCode, string]> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['unsupported_media_type', 'Send JSON with `Content-Type: application/json`.'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['validation_error', 'Content-Length does not match the body.'],
  FST_ERR_CTP_BODY_TOO_LARGE: ['payload_too_large', 'Request bodies are limited to 64 KiB.'],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['invalid_json', 'The body is empty.'],
  FST_ERR_CTP_INVALID_JSON_BODY: ['invalid_json', 'The body is not valid JSON.'],
};

export function toAllotError(error: unknown): AllotError {
  if (error instanceof AllotError) return error;
  if (error instanceof DatabaseUnavailable) {
    return new AllotError('service_unavailable', 'The database is unavailable; retry shortly.');
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && fastifyErrors[code]) {
    const [allotCode, detail] = fastifyErrors[code];
    return allotCode === 'validation_error' ? validationError([{ path: '', message: detail }]) : new AllotError(allotCode, detail);
  }
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status === 413) return new AllotError('payload_too_large', 'Request bodies are limited to 64 KiB.');
  if (typeof status === 'number' && status === 415) return new AllotError('unsupported_media_type', 'Send JSON with `Content-Type: application/json`.');
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return validationError([{ path: '', message: error instanceof Error ? error.message : 'malformed request' }]);
  }
  return new AllotError('internal_error', 'An unexpected error occurred; it has been logged.');
}
