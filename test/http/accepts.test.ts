/**
 * A route's `accepts` is a cheaper stand-in for its body schema: whatever it
 * accepts, the schema accepts and parses to the same value, and it leaves
 * few valid bodies to the schema. Bodies are generated near the edge of
 * every rule (from a fixed seed, so a failure replays) and arrive through
 * JSON.parse, as requests do.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { allRoutes } from '../../src/http/server.ts';
import { COMMIT_EVENT_PREFIX } from '../../src/service/reservations.ts';

const SEED = 20261206;

/** Mostly valid values, sometimes one at or past the edge of a rule: a body then breaks a rule or two. */
const mostly = (valid: fc.Arbitrary<unknown>, edges: fc.Arbitrary<unknown>) =>
  fc.oneof({ arbitrary: valid, weight: 12 }, { arbitrary: edges, weight: 1 });

/** A value one time in ten, else undefined. */
const sometimes = <T>(value: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: 9 }, { arbitrary: value, weight: 1 });

const identifier = mostly(
  fc.oneof(fc.stringMatching(/^[A-Za-z0-9._:@-]{1,128}$/), fc.constantFrom('a'.repeat(128), '...', 'reservation', 'u:1@x')),
  fc.constantFrom<unknown>('.', '..', '', 'a'.repeat(129), 'a b', 'é', 'u/1', `${COMMIT_EVENT_PREFIX}r1`, '\u0000', null, 7, true, ['u1'], { id: 'u1' }),
);

const count = mostly(
  fc.oneof(fc.integer({ min: 0, max: 1e12 }), fc.constantFrom(0, -0, 1e12, 5e11)),
  fc.oneof(
    fc.constantFrom<unknown>(1e12 + 1, -1, 0.5, 2 ** 53, Number.MAX_SAFE_INTEGER, 1e300, null, '5', true, [], {}),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
  ),
);

const model = mostly(
  fc.oneof(fc.string({ minLength: 1, maxLength: 200 }), fc.constantFrom('m', 'x'.repeat(200), '😀'.repeat(100))),
  fc.constantFrom<unknown>('', 'x'.repeat(201), '😀'.repeat(101), null, 5, false),
);

const enforce = mostly(fc.boolean(), fc.constantFrom<unknown>(null, 'true', 0, 1));

const usageBodies = fc
  .tuple(
    fc.record(
      {
        event_id: identifier, shop_id: identifier, user_id: identifier,
        tokens: count, input_tokens: count, cached_input_tokens: count, output_tokens: count, model, enforce,
      },
      { requiredKeys: ['event_id', 'shop_id', 'user_id'] },
    ),
    sometimes(fc.constantFrom('event_id', 'shop_id', 'user_id')),
    sometimes(fc.constantFrom('extra', '__proto__', 'constructor', 'toString', 'Tokens')),
  )
  .map(([members, missing, extra]) => {
    if (missing !== undefined) delete (members as Record<string, unknown>)[missing];
    const json = JSON.stringify(members);
    // A member outside the schema, added to the text so that JSON.parse makes it an own member, as for a request.
    return JSON.parse(extra === undefined ? json : `${json.slice(0, -1)}${json.length > 2 ? ',' : ''}"${extra}":1}`) as unknown;
  });

const bodiesFor: Record<string, fc.Arbitrary<unknown>> = {
  'POST /v1/usage': usageBodies,
};

for (const route of allRoutes.filter((r) => r.accepts)) {
  const name = `${route.method} ${route.path}`;
  test(`${name}: accepts only what its body schema accepts, with the same result, and most of it`, () => {
    const bodies = bodiesFor[name];
    assert.ok(bodies, `no generator of bodies for ${name}`);
    let valid = 0;
    let accepted = 0;
    fc.assert(
      fc.property(bodies, (body) => {
        const fast = route.accepts!(body);
        const parsed = route.body!.safeParse(body);
        if (parsed.success) valid++;
        if (fast === undefined) return;
        accepted++;
        assert.ok(parsed.success, `accepts took a body the schema refuses: ${JSON.stringify(body)}`);
        assert.deepEqual(fast, parsed.data);
      }),
      { seed: SEED, numRuns: 20_000 },
    );
    // Enough valid bodies for the agreement to mean something, and few of them left to the schema.
    assert.ok(valid > 2000, `only ${valid} of the bodies were valid`);
    assert.ok(accepted >= valid * 0.95, `accepts took ${accepted} of ${valid} valid bodies`);
  });
}
