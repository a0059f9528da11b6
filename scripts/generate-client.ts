/**
 * `npm run generate:client`: writes packages/client/src/types.generated.ts
 * from the server's zod schemas (src/client/schemas.ts).
 */
import { writeFile } from 'node:fs/promises';
import { generateClientTypes } from '../src/client/generate.ts';
import { clientTypes } from '../src/client/schemas.ts';

export const GENERATED_TYPES = new URL('../packages/client/src/types.generated.ts', import.meta.url);

await writeFile(GENERATED_TYPES, generateClientTypes(clientTypes));
console.log(`wrote ${GENERATED_TYPES.pathname}`);
