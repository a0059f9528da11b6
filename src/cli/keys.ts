import { Option, type Command } from 'commander';
import { createApiKey, listApiKeys, revokeApiKey } from '../service/api-keys.ts';
import { columns, operator, print, withServices } from './context.ts';

export function register(program: Command): void {
  const keys = program.command('keys').description('manage API keys');
  keys
    .command('create')
    .description('create an API key; the key is printed once')
    .requiredOption('--name <name>', 'a name to recognise the key by')
    .addOption(new Option('--role <role>', 'admin or shop').choices(['admin', 'shop']).default('shop'))
    .option('--shop <shop_id>', 'the shop a shop key may see')
    .option('--json', 'print JSON')
    .action(async (opts: { name: string; role: 'admin' | 'shop'; shop?: string; json?: boolean }) => {
      const created = await withServices((s) => createApiKey(s, operator, { name: opts.name, role: opts.role, shop_id: opts.shop }));
      print(created, Boolean(opts.json), () => `${created.key}\n\nid ${created.id}, role ${created.role}${created.shop_id ? `, shop ${created.shop_id}` : ''}. Store the key now: it is not shown again.`);
    });
  keys
    .command('list')
    .description('list API keys')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const list = await withServices((s) => listApiKeys(s, operator, { limit: 100 }));
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
