/**
 * `allot models`: set, list and delete model rates. Weights pass the same
 * schema as `PUT /v1/models/{model}` (exact decimals, read as text) before
 * anything is written.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { rateBody } from '../http/routes/models.ts';
import { deleteRate, listRates, putRate, type RateView } from '../service/models.ts';
import { columns, operator, print, validInput, withServices } from './context.ts';

const flags: Record<string, string> = { model: '<model>', input_weight: '--input', output_weight: '--output', cached_input_weight: '--cached' };

const modelArgument = z.object({ model: z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters') });

/** Rates the CLI lists at a time. */
const PAGE_SIZE = 100;

async function everyRate(): Promise<RateView[]> {
  return withServices(async (services) => {
    const rates: RateView[] = [];
    for (;;) {
      const batch = await listRates(services, { after: rates.at(-1)?.model, limit: PAGE_SIZE });
      rates.push(...batch);
      if (batch.length < PAGE_SIZE) return rates;
    }
  });
}

export function register(program: Command): void {
  const models = program.command('models').description('manage model rates (allowance tokens per token, by model and token type)');
  models
    .command('set <model>')
    .description('set a model\'s weights from now on (the model "*" prices models without their own)')
    .requiredOption('--input <weight>', 'weight of an input token not served from a cache, e.g. 2.5')
    .requiredOption('--output <weight>', 'weight of an output token (reasoning included)')
    .option('--cached <weight>', 'weight of an input token read from a prompt cache (default: --input)')
    .option('--json', 'print JSON')
    .action(async (model: string, o: { input: string; output: string; cached?: string; json?: boolean }) => {
      validInput('model', modelArgument, { model }, flags);
      const body = validInput('rate', rateBody, { input_weight: o.input, output_weight: o.output, cached_input_weight: o.cached }, flags);
      const { created, rate } = await withServices((s) => putRate(s, operator, model, body));
      print(rate, Boolean(o.json), () => `${created ? 'set' : 'changed'} ${rate.model}: input ${rate.input_weight}, cached input ${rate.cached_input_weight}, `
        + `output ${rate.output_weight} from ${rate.effective_from}`);
    });
  models
    .command('list')
    .description('list the models with a rate now')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const rates = await everyRate();
      print(rates, Boolean(o.json), () => columns(rates.map((r) => ({ ...r, history: r.history.length })),
        ['model', 'input_weight', 'cached_input_weight', 'output_weight', 'effective_from', 'history']));
    });
  models
    .command('delete <model>')
    .description("end a model's rate now (its events keep the weights they were charged with)")
    .action(async (model: string) => {
      await withServices((s) => deleteRate(s, operator, model));
      console.log(`deleted the rate of ${model}`);
    });
}
