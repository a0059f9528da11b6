import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contentHash } from '../../src/service/hash.ts';
import { usageContentHash, type UsageInput } from '../../src/service/usage.ts';

test('a usage event hashes as the canonical JSON of its content, so stored hashes stay comparable', () => {
  const base: UsageInput = { event_id: 'e', shop_id: 's', user_id: 'u-"1"', tokens: 10 };
  const cases: Array<[UsageInput, number, boolean]> = [
    [base, 10, false],
    [{ ...base, tokens: undefined, input_tokens: 3, output_tokens: 4 }, 7, true],
    [{ ...base, model: 'gpt-ü', enforce: true }, 10, true],
    [{ ...base, tokens: undefined, output_tokens: 0 }, 0, false],
  ];
  for (const [input, tokens, enforce] of cases) {
    const canonical = contentHash({
      user_id: input.user_id, tokens, input_tokens: input.input_tokens, output_tokens: input.output_tokens, model: input.model, enforce,
    });
    assert.equal(usageContentHash(input, tokens, enforce), canonical);
  }
  assert.notEqual(usageContentHash(base, 10, false), usageContentHash(base, 10, true));
});
