import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { z } from 'zod';
import { generateClientTypes } from '../../src/client/generate.ts';
import { clientTypes } from '../../src/client/schemas.ts';

const GENERATED = new URL('../../packages/client/src/types.generated.ts', import.meta.url);

test('the client types are the ones the server schemas generate (run npm run generate:client)', async () => {
  assert.equal(await readFile(GENERATED, 'utf8'), generateClientTypes(clientTypes));
});

test('the generator prints nullable, optional, nested and literal members', () => {
  const source = generateClientTypes({
    Sample: {
      io: 'input',
      doc: 'A sample.',
      schema: z.object({
        id: z.string().describe('the id'),
        kind: z.literal("it's"),
        when: z.string().nullable(),
        size: z.number().int().default(1),
        tags: z.array(z.enum(['a', 'b'])),
        nested: z.object({ ok: z.boolean() }).optional(),
        labels: z.record(z.string(), z.number()),
      }).strict(),
    },
    Either: { io: 'output', doc: 'Either.', schema: z.union([z.string(), z.number()]) },
  });
  assert.ok(source.includes(`/** A sample. */
export interface Sample {
  /** the id */
  id: string;
  kind: 'it\\'s';
  when: string | null;
  size?: number;
  tags: Array<'a' | 'b'>;
  nested?: {
    ok: boolean;
  };
  labels: {
    [key: string]: number;
  };
}`), source);
  assert.ok(source.includes('export type Either = string | number;'), source);
});

test('the generator refuses a schema it cannot print', () => {
  assert.throws(
    () => generateClientTypes({ Odd: { io: 'output', doc: 'Odd.', schema: z.object({}).meta({ patternProperties: { '^a': { type: 'string' } } }) } }),
    /Odd uses/,
  );
});
