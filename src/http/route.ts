/**
 * One route = one declaration: its zod schemas validate the request, type the
 * handler and become its OpenAPI entry. `routes/` holds one file per resource.
 */
import type { z, ZodType } from 'zod';
import type { ErrorCode } from '../domain/errors.ts';
import type { Services } from '../service/context.ts';
import type { Scope } from '../service/scope.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface RouteInput<B, Q, P> {
  body: B;
  query: Q;
  params: P;
  scope: Scope;
  services: Services;
}

export interface ResponseSpec {
  description: string;
  schema?: ZodType;
  /** For an error status: the problem `code`s this route answers with it. */
  codes?: readonly ErrorCode[];
}

type Infer<T> = T extends ZodType ? z.infer<T> : undefined;

export interface RouteSpec<B extends ZodType | undefined = ZodType | undefined, Q extends ZodType | undefined = ZodType | undefined, P extends ZodType | undefined = ZodType | undefined> {
  method: Method;
  /** OpenAPI-style path, e.g. `/v1/plans/{id}`. */
  path: string;
  /** The OpenAPI operationId, a verb and a noun: the method name a generated client gets. */
  operationId: string;
  summary: string;
  tag: string;
  /** Admin-only routes are documented as such; the service enforces it. */
  adminOnly?: boolean;
  body?: B;
  /**
   * A cheaper test of the body, for a route on the hot path: it answers the
   * body only where `body` would accept it and parse it to the same value,
   * and `undefined` to let the schema decide (and word the errors). A
   * property test holds the two to that.
   */
  accepts?: (raw: unknown) => Infer<B> | undefined;
  query?: Q;
  params?: P;
  responses: Record<number, ResponseSpec>;
  /**
   * The handler commits as it goes, in many transactions (a sweep), and is
   * safe to repeat. Every other handler runs in one transaction when the
   * request has an Idempotency-Key, so that its answer commits with its work.
   */
  ownTransactions?: boolean;
  handler(input: RouteInput<Infer<B>, Infer<Q>, Infer<P>>): Promise<Reply>;
}

export type AnyRoute = RouteSpec<ZodType | undefined, ZodType | undefined, ZodType | undefined>;

/** POST and PUT take an `Idempotency-Key` header (and so may answer its 409s). */
export function takesIdempotencyKey(route: Pick<AnyRoute, 'method'>): boolean {
  return route.method === 'POST' || route.method === 'PUT';
}

/** Declares a route; the identity function exists for type inference. */
export function route<B extends ZodType | undefined = undefined, Q extends ZodType | undefined = undefined, P extends ZodType | undefined = undefined>(
  spec: RouteSpec<B, Q, P>,
): AnyRoute {
  return spec as unknown as AnyRoute;
}
