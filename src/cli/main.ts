/** The `allot` command line. Each command lives in its own file. */
import { Command } from 'commander';
import { AllotError } from '../domain/errors.ts';
import { VERSION } from '../version.ts';
import { register as importMongo } from './import-mongo.ts';
import { register as keys } from './keys.ts';
import { register as models } from './models.ts';
import { register as operations } from './operations.ts';
import { register as plans } from './plans.ts';
import { register as serve } from './serve.ts';
import { register as subs } from './subs.ts';
import { register as verify } from './verify.ts';

const program = new Command('allot')
  .description('Token-allowance subscriptions for AI products. Configuration comes from the environment (see README).')
  .version(VERSION);

for (const register of [serve, operations, keys, plans, models, subs, verify, importMongo]) register(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof AllotError) {
    console.error(`allot: ${error.code}: ${error.message}`);
    for (const e of error.errors ?? []) console.error(`  ${e.path}: ${e.message}`);
  } else {
    console.error(`allot: ${error instanceof Error ? error.message : String(error)}`);
  }
  process.exitCode = 1;
}
