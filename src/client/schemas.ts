/**
 * The request and answer types of `@allot/client`, by name: each is the JSON
 * a route takes (`input`, defaults optional) or answers (`output`), from the
 * zod schema the server validates with. `npm run generate:client` writes them
 * to packages/client/src/types.generated.ts.
 */
import type { z } from 'zod';
import { apiKeyBody, apiKeySchema, createdApiKeySchema } from '../http/routes/api-keys.ts';
import { clockSchema, renewalResultSchema, testClockBody } from '../http/routes/operations.ts';
import { planBody, planSchema } from '../http/routes/plans.ts';
import { overviewSchema } from '../http/routes/shops.ts';
import { commitBody, commitSchema, releaseBody, reservationBody, reservationSchema } from '../http/routes/reservations.ts';
import {
  cancelBody, changeSchema, dailySeriesSchema, periodSchema, statusSchema, subscriptionChangeBody, subscriptionSchema,
} from '../http/routes/subscriptions.ts';
import { checkBody, checkResultSchema, usageBody, usageEventSchema, usageResultSchema } from '../http/routes/usage.ts';
import { problem } from '../http/schemas.ts';

export interface NamedSchema {
  schema: z.ZodType;
  io: 'input' | 'output';
  doc: string;
}

const input = (schema: z.ZodType, doc: string): NamedSchema => ({ schema, io: 'input', doc });
const output = (schema: z.ZodType, doc: string): NamedSchema => ({ schema, io: 'output', doc });

export const clientTypes: Record<string, NamedSchema> = {
  Plan: output(planSchema, 'A plan (`GET /v1/plans/{id}`).'),
  PlanInput: input(planBody, 'The body of `POST /v1/plans`.'),
  Subscription: output(subscriptionSchema, 'A subscription of (shop, user).'),
  SubscriptionChangeInput: input(subscriptionChangeBody, 'The body of `PUT /v1/subscriptions/{shop_id}/{user_id}`.'),
  SubscriptionChange: output(changeSchema, 'The answer of `PUT /v1/subscriptions/{shop_id}/{user_id}`.'),
  CancelInput: input(cancelBody, 'The body of `POST …/cancel`.'),
  SubscriptionStatus: output(statusSchema, 'The answer of `GET …/status`.'),
  PeriodSummary: output(periodSchema, 'A closed period (`GET …/periods`).'),
  DailySeries: output(dailySeriesSchema, 'The answer of `GET …/usage/daily`.'),
  UsageInput: input(usageBody, 'The body of `POST /v1/usage`.'),
  UsageResult: output(usageResultSchema, 'The answer of `POST /v1/usage`.'),
  UsageEvent: output(usageEventSchema, 'A stored usage event (`GET /v1/usage/{event_id}`).'),
  CheckInput: input(checkBody, 'The body of `POST /v1/check`.'),
  CheckResult: output(checkResultSchema, 'The answer of `POST /v1/check`.'),
  ReservationInput: input(reservationBody, 'The body of `POST /v1/reservations`.'),
  Reservation: output(reservationSchema, 'A reservation (a hold before an LLM call).'),
  CommitInput: input(commitBody, 'The body of `POST /v1/reservations/{id}/commit`.'),
  CommitResult: output(commitSchema, 'The answer of `POST /v1/reservations/{id}/commit`.'),
  ReleaseInput: input(releaseBody, 'The body of `POST /v1/reservations/{id}/release`.'),
  ApiKeyInput: input(apiKeyBody, 'The body of `POST /v1/api-keys`.'),
  ApiKey: output(apiKeySchema, 'An API key, without its secret.'),
  CreatedApiKey: output(createdApiKeySchema, 'A new API key: the secret `key` is in this answer only.'),
  RenewalResult: output(renewalResultSchema, 'The answer of `POST /v1/renewals/run`.'),
  TestClockInput: input(testClockBody, 'The body of `PUT /v1/test-clock`.'),
  Clock: output(clockSchema, 'The answer of `GET /v1/test-clock`.'),
  ShopOverview: output(overviewSchema, 'The answer of `GET /v1/shops/{shop_id}/overview`.'),
  Problem: output(problem, 'An error answer (`application/problem+json`).'),
};
