/**
 * Assertions shared by the HTTP suites: every error is an RFC 9457 problem
 * with a stable code.
 */
import assert from 'node:assert/strict';
import type { ApiResponse } from './harness.ts';

export function assertProblem(res: ApiResponse, status: number, code: string): void {
  const shown = JSON.stringify(res.body);
  assert.equal(res.status, status, shown);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/, shown);
  assert.equal(res.body.status, status, shown);
  assert.equal(res.body.code, code, shown);
  for (const member of ['type', 'title', 'detail'] as const) {
    assert.equal(typeof res.body[member], 'string', `${member} in ${shown}`);
    assert.ok(res.body[member].length > 0, `${member} in ${shown}`);
  }
  assert.ok(!/\bat .+:\d+:\d+/.test(shown), `no stack trace in ${shown}`);
}

export function assertStatus(res: ApiResponse, status: number): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
}

/** The paths named in a 400's `errors`. */
export function errorPaths(res: ApiResponse): string[] {
  return (res.body.errors as Array<{ path: string }>).map((e) => e.path).sort();
}
