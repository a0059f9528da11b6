/**
 * Who is calling, and which shops they may see. Store access to shop data
 * takes a `ShopId`, which only `Scope.shop()` can make: a shop key asking for
 * another shop's data is answered 404 before any query runs.
 */
import { AllotError } from '../domain/errors.ts';

export type ShopId = string & { readonly __brand: 'ShopId' };

export type Role = 'admin' | 'shop';

export class Scope {
  constructor(
    readonly role: Role,
    readonly ownShop: string | null,
    readonly keyId: string,
  ) {}

  static admin(keyId: string): Scope {
    return new Scope('admin', null, keyId);
  }

  static shopKey(shopId: string, keyId: string): Scope {
    return new Scope('shop', shopId, keyId);
  }

  get isAdmin(): boolean {
    return this.role === 'admin';
  }

  /** The shop id as a store key, or 404 when this caller may not see that shop. */
  shop(requested: string, notFound: ConstructorParameters<typeof AllotError>[0] = 'not_found'): ShopId {
    if (this.role === 'shop' && requested !== this.ownShop) {
      throw new AllotError(notFound, 'No such resource.');
    }
    return requested as ShopId;
  }

  /** For lists that name no shop: a shop key sees its own shop only, an admin every shop. */
  shopFilter(): ShopId | undefined {
    return this.role === 'shop' ? (this.ownShop as ShopId) : undefined;
  }

  requireAdmin(): void {
    if (this.role !== 'admin') throw new AllotError('forbidden', 'This operation needs an admin key.');
  }

  /** Idempotency keys and event ids live in the caller's own namespace. */
  get idempotencyScope(): string {
    return this.role === 'shop' ? `shop:${this.ownShop}` : 'admin';
  }
}
