import { z } from 'zod';
import { TestClock, isoInstant, parseInstant } from '../../domain/clock.ts';
import { AllotError, validationError } from '../../domain/errors.ts';
import { runRenewals } from '../../service/renewals.ts';
import { route } from '../route.ts';
import { instant } from '../schemas.ts';

export const renewalResultSchema = z.object({
  subscriptions_rolled: z.number().int(),
  subscriptions_failed: z.number().int().describe('could not be brought up to date; the sweep went on (the background sweep logs each, `allot renew` prints each)'),
  holds_checked: z.number().int(),
  idempotency_keys_deleted: z.number().int(),
});
export const testClockBody = z.object({ now: z.string() }).strict();
export const clockSchema = z.object({ now: instant, frozen: z.boolean() });

export const operationRoutes = [
  route({
    method: 'POST',
    path: '/v1/renewals/run',
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
    summary: 'Move the test clock forward (admin; only when the server runs with ALLOT_TEST_CLOCK)',
    tag: 'Operations',
    adminOnly: true,
    body: testClockBody,
    responses: { 200: { description: 'The clock', schema: z.object({ now: instant }) }, 404: { description: 'not_found: no test clock' } },
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
    summary: "The server's clock",
    tag: 'Operations',
    responses: { 200: { description: 'The clock', schema: clockSchema } },
    handler: async ({ services }) => ({
      status: 200,
      body: { now: isoInstant(services.clock.now()), frozen: services.clock instanceof TestClock },
    }),
  }),
];
