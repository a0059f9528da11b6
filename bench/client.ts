/** Set-up calls to an allot server (plans, keys, subscriptions, clock), failing loudly on any unexpected answer. */
export const MASTER_KEY = 'bench-master-key-0123456789abcdef';

export class AllotClient {
  constructor(
    readonly url: string,
    readonly key: string = MASTER_KEY,
  ) {}

  async call<T = Record<string, unknown>>(method: string, path: string, body?: unknown, expect: number[] = [200, 201]): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!expect.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  async plan(id: string, allocated: number): Promise<void> {
    await this.call('POST', '/v1/plans', {
      id, display_name: id, allocated_tokens: allocated, price_minor: 1000, currency: 'USD', billing_cycle: 'monthly', tier: 1,
    });
  }

  async shopKey(shopId: string): Promise<string> {
    const created = await this.call<{ key: string }>('POST', '/v1/api-keys', { name: `bench ${shopId}`, role: 'shop', shop_id: shopId });
    return created.key;
  }

  async subscribe(shopId: string, userId: string, planId: string): Promise<string> {
    const sub = await this.call<{ id: string }>('PUT', `/v1/subscriptions/${shopId}/${userId}`, { plan_id: planId });
    return sub.id;
  }

  async setClock(instant: string): Promise<void> {
    await this.call('PUT', '/v1/test-clock', { now: instant });
  }
}
