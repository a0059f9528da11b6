import { z } from 'zod';
import { TestClock, isoInstant, parseInstant } from '../../domain/clock.ts';
import { AllotError, validationError } from '../../domain/errors.ts';
import { runRenewals } from '../../service/renewals.ts';
import { route } from '../route.ts';
import { instant } from '../schemas.ts';

export const renewalResultSchema = z
  .object({
    subscriptions_rolled: z.number().int().describe('Subscriptions whose ended periods were closed into summaries and renewed.'),
    subscriptions_failed: z.number().int().describe('could not be brought up to date; the sweep went on (the background sweep logs each, `allot renew` prints each)'),
    holds_checked: z.number().int().describe('Subscriptions holding reservations past their expiry, whose holds were freed.'),
    idempotency_keys_deleted: z.number().int().describe('Idempotency keys past their time that were deleted.'),
  })
  .meta({
    id: 'RenewalResult',
    description: 'What one renewal sweep did.',
    examples: [{ subscriptions_rolled: 12, subscriptions_failed: 0, holds_checked: 3, idempotency_keys_deleted: 240 }],
  });
export const testClockBody = z
  .object({ now: z.string().describe('The new instant, RFC 3339; not before the clock\'s current one.') })
  .strict()
  .meta({ id: 'TestClockRequest', description: 'Where to move the test clock.', examples: [{ now: '2026-03-01T00:00:00.000Z' }] });
export const clockSchema = z
  .object({
    now: instant.describe("The server's current instant (RFC 3339 UTC)."),
    frozen: z.boolean().describe('Whether this is a test clock (ALLOT_TEST_CLOCK), which moves only when told to.'),
  })
  .meta({ id: 'Clock', description: "The server's clock.", examples: [{ now: '2026-03-15T10:00:00.000Z', frozen: false }] });
const movedClockSchema = z
  .object({ now: instant.describe("The test clock's instant after the move (RFC 3339 UTC).") })
  .meta({ id: 'MovedTestClock', description: 'The test clock after a move.', examples: [{ now: '2026-03-01T00:00:00.000Z' }] });

export const operationRoutes = [
  route({
    method: 'POST',
    path: '/v1/renewals/run',
    operationId: 'runRenewals',
    summary: 'Roll every subscription whose period ended, now (admin). The background sweep does the same.',
    tag: 'Operations',
    adminOnly: true,
    ownTransactions: true,
    responses: {
      200: { description: 'What the sweep did', schema: renewalResultSchema },
    },
    handler: async ({ scope, services }) => {
      scope.requireAdmin();
      return { status: 200, body: await runRenewals(services) };
    },
  }),
  route({
    method: 'PUT',
    path: '/v1/test-clock',
    operationId: 'moveTestClock',
    summary: 'Move the test clock forward (admin; only when the server runs with ALLOT_TEST_CLOCK)',
    tag: 'Operations',
    adminOnly: true,
    body: testClockBody,
    responses: { 200: { description: 'The clock', schema: movedClockSchema }, 404: { description: 'The server runs on the real clock', codes: ['not_found'] } },
    handler: async ({ body, scope, services }) => {
      scope.requireAdmin();
      const clock = services.clock;
      if (!(clock instanceof TestClock)) throw new AllotError('not_found', 'This server runs on the real clock; start it with ALLOT_TEST_CLOCK to use a test clock.');
      const instantMs = /T/i.test(body.now) ? parseInstant(body.now) : null;
      if (instantMs === null) throw validationError([{ path: 'now', message: 'must be an RFC 3339 instant' }]);
      // Moved inside a unit of work, like every other change: the caller's key is checked first.
      await services.write(async () => {
        if (!clock.set(instantMs)) throw validationError([{ path: 'now', message: `must not be before the clock's ${isoInstant(clock.now())}` }]);
      });
      return { status: 200, body: { now: isoInstant(clock.now()) } };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/test-clock',
    operationId: 'getClock',
    summary: "The server's clock",
    tag: 'Operations',
    responses: { 200: { description: 'The clock', schema: clockSchema } },
    handler: async ({ services }) => ({
      status: 200,
      body: { now: isoInstant(services.clock.now()), frozen: services.clock instanceof TestClock },
    }),
  }),
];
