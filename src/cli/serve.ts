import type { Command } from 'commander';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openServices } from '../app.ts';
import { loadConfig, type Config } from '../config.ts';
import { startSweeper } from '../service/renewals.ts';

/** A word as the shell reads it back unchanged. */
function shellWord(word: string): string {
  return /^[\w./:@%+=,-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The command that creates an admin key in this server's database, to paste
 * as it is in any folder: this installation's own `allot`, and for SQLite the
 * database file (PostgreSQL's URL holds a password, so it is not repeated).
 */
function createAdminKeyCommand(config: Config): string {
  const command = `node ${shellWord(fileURLToPath(new URL('../../bin/allot.js', import.meta.url)))} keys create --name admin --role admin`;
  return config.DATABASE_URL ? command : `ALLOT_DB=${shellWord(resolve(config.ALLOT_DB))} ${command}`;
}

export async function serve(): Promise<void> {
  const config = loadConfig();
  // Loaded here so the other commands start without the HTTP stack.
  const { buildServer } = await import('../http/server.ts');
  const services = await openServices(config);
  const app = buildServer({ services, masterKey: config.ALLOT_MASTER_KEY, logLevel: config.LOG_LEVEL, corsOrigins: config.ALLOT_CORS_ORIGINS });
  const stopSweeper =
    config.ALLOT_SWEEP_SECONDS > 0
      ? startSweeper(services, config.ALLOT_SWEEP_SECONDS, (error, subscriptionId) =>
        app.log.error({ err: error, subscription_id: subscriptionId }, 'renewal sweep failed'))
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
    app.log.warn(`ALLOT_MASTER_KEY is not set: create an admin key with \`${createAdminKeyCommand(config)}\`${
      config.DATABASE_URL ? " with this server's DATABASE_URL set" : ''} or set the variable.`);
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal, timeout_seconds: config.ALLOT_SHUTDOWN_TIMEOUT_SECONDS }, 'draining in-flight requests');
    // A request that never finishes (a client that stops sending its body) must not keep the process up.
    setTimeout(() => {
      app.log.warn({ timeout_seconds: config.ALLOT_SHUTDOWN_TIMEOUT_SECONDS }, 'shutdown timed out with requests still in flight: exiting anyway');
      process.exit(1);
    }, config.ALLOT_SHUTDOWN_TIMEOUT_SECONDS * 1000).unref();
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
