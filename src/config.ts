/** The environment, parsed once at start-up and typed everywhere after. */
import { z } from 'zod';
import { parseInstant } from './domain/clock.ts';

/** An origin as a browser sends it: scheme://host[:port], nothing after. */
function isOrigin(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === text;
  } catch {
    return false;
  }
}

const originList = z
  .string()
  .transform((text) => text.split(',').map((o) => o.trim()).filter((o) => o !== ''))
  .refine((origins) => origins.every(isOrigin), 'must be comma-separated origins like https://ops.example.com (no path, no trailing slash)');

const schema = z.object({
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  ALLOT_DB: z.string().default('./data/allot.db'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  ALLOT_MASTER_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  ALLOT_SWEEP_SECONDS: z.coerce.number().min(0).default(60),
  ALLOT_SQLITE_SYNC: z.enum(['full', 'normal']).default('full'),
  ALLOT_TEST_CLOCK: z
    .string()
    .refine((s) => /T/i.test(s) && parseInstant(s) !== null, 'must be an RFC 3339 instant')
    .optional(),
  ALLOT_HIGH_TOKENS_PER_QUERY: z.coerce.number().positive().default(300),
  ALLOT_MAX_ACTIVE_HOLDS: z.coerce.number().int().positive().default(1000),
  ALLOT_PG_POOL_SIZE: z.coerce.number().int().positive().default(10),
  ALLOT_SHUTDOWN_TIMEOUT_SECONDS: z.coerce.number().positive().default(10),
  ALLOT_CORS_ORIGINS: originList.default([]),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.infer<typeof schema>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new Error(`Invalid configuration:\n${lines}`);
  }
  return parsed.data;
}
