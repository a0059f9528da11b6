/**
 * The ledger check: after load, the tokens stored as events and the tokens
 * counted on the subscriptions must both equal the tokens of the answers
 * that said 2xx: nothing acknowledged lost, nothing counted twice.
 */
import Database from 'better-sqlite3';
import pg from 'pg';

export interface Ledger {
  events: number;
  event_tokens: number;
  used_tokens: number;
  reserved_tokens: number;
}

export interface LedgerCheck extends Ledger {
  scenario: string;
  acked_events: number;
  acked_tokens: number;
  ok: boolean;
}

const EVENTS = 'SELECT COUNT(*) AS events, COALESCE(SUM(tokens), 0) AS event_tokens FROM usage_events WHERE shop_id = ?';
const COUNTERS = 'SELECT COALESCE(SUM(used_tokens), 0) AS used_tokens, COALESCE(SUM(reserved_tokens), 0) AS reserved_tokens FROM subscriptions WHERE shop_id = ?';

export function sqliteLedger(path: string, shopId: string): Ledger {
  const db = new Database(path, { readonly: true });
  try {
    const events = db.prepare(EVENTS).get(shopId) as { events: number; event_tokens: number };
    const counters = db.prepare(COUNTERS).get(shopId) as { used_tokens: number; reserved_tokens: number };
    return { ...events, ...counters };
  } finally {
    db.close();
  }
}

export async function postgresLedger(url: string, shopId: string): Promise<Ledger> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const events = await client.query(EVENTS.replace('?', '$1'), [shopId]);
    const counters = await client.query(COUNTERS.replace('?', '$1'), [shopId]);
    const row = { ...events.rows[0], ...counters.rows[0] } as Record<string, string | number>;
    return {
      events: Number(row.events), event_tokens: Number(row.event_tokens),
      used_tokens: Number(row.used_tokens), reserved_tokens: Number(row.reserved_tokens),
    };
  } finally {
    await client.end();
  }
}

export function checkLedger(scenario: string, ledger: Ledger, acked: { events: number; tokens: number }): LedgerCheck {
  const ok = ledger.events === acked.events && ledger.event_tokens === acked.tokens && ledger.used_tokens === acked.tokens
    && ledger.reserved_tokens === 0;
  return { scenario, ...ledger, acked_events: acked.events, acked_tokens: acked.tokens, ok };
}
