/**
 * `allot keys`: create, list and revoke API keys. A new key passes the same
 * schema as `POST /v1/api-keys` before anything is written.
 */
import { Option, type Command } from 'commander';
import { apiKeyBody } from '../http/routes/api-keys.ts';
import { createApiKey, listApiKeys, revokeApiKey } from '../service/api-keys.ts';
import { columns, everyRow, namingOptions, operator, print, validInput, withServices } from './context.ts';

const flags: Record<string, string> = { name: '--name', role: '--role', shop_id: '--shop' };

export function register(program: Command): void {
  const keys = program.command('keys').description('manage API keys');
  keys
    .command('create')
    .description('create an API key; the key is printed once')
    .requiredOption('--name <name>', 'a name to recognise the key by')
    .addOption(new Option('--role <role>', 'admin or shop').choices(apiKeyBody.shape.role.options).default('shop'))
    .option('--shop <shop_id>', 'the shop a shop key may see')
    .option('--json', 'print JSON')
    .action(async (opts: { name: string; role: string; shop?: string; json?: boolean }) => {
      const input = validInput('API key', apiKeyBody, { name: opts.name, role: opts.role, shop_id: opts.shop }, flags);
      const created = await withServices((s) => namingOptions('API key', flags, createApiKey(s, operator, input)));
      print(created, Boolean(opts.json), () => `${created.key}\n\nid ${created.id}, role ${created.role}${created.shop_id ? `, shop ${created.shop_id}` : ''}. Store the key now: it is not shown again.`);
    });
  keys
    .command('list')
    .description('list every API key (never the secrets)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const list = await withServices((s) => everyRow((after, limit) => listApiKeys(s, operator, { after, limit })));
      print(list, Boolean(opts.json), () => columns(list, ['id', 'name', 'role', 'shop_id', 'prefix', 'created_at', 'revoked_at']));
    });
  keys
    .command('revoke <id>')
    .description('revoke an API key at once')
    .action(async (id: string) => {
      const revoked = await withServices((s) => revokeApiKey(s, operator, id));
      console.log(`revoked ${revoked.id} (${revoked.name})`);
    });
}
