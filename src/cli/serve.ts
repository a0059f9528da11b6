import type { Command } from 'commander';
import { openServices } from '../app.ts';
import { loadConfig } from '../config.ts';
import { startSweeper } from '../service/renewals.ts';

export async function serve(): Promise<void> {
  const config = loadConfig();
  // Loaded here so the other commands start without the HTTP stack.
  const { buildServer } = await import('../http/server.ts');
  const services = await openServices(config);
  const app = buildServer({ services, masterKey: config.ALLOT_MASTER_KEY, logLevel: config.LOG_LEVEL });
  const stopSweeper =
    config.ALLOT_SWEEP_SECONDS > 0
      ? startSweeper(services, config.ALLOT_SWEEP_SECONDS, (error) => app.log.error({ err: error }, 'renewal sweep failed'))
      : async () => undefined;
  const address = await app.listen({ host: config.HOST, port: config.PORT });
  app.log.info(
    {
      address,
      database: services.db.dialect === 'sqlite' ? `sqlite:${config.ALLOT_DB}` : 'postgres',
      test_clock: config.ALLOT_TEST_CLOCK ?? null,
      master_key: config.ALLOT_MASTER_KEY ? 'set' : 'unset',
    },
    'allot is serving',
  );
  if (!config.ALLOT_MASTER_KEY) {
    app.log.warn('ALLOT_MASTER_KEY is not set: create a key with `npx allot keys create --role admin` or set the variable.');
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'draining in-flight requests');
    await app.close();
    await stopSweeper();
    await services.db.close();
    app.log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve the HTTP API (HOST, PORT, ALLOT_DB or DATABASE_URL, ALLOT_MASTER_KEY)')
    .action(serve);
}
