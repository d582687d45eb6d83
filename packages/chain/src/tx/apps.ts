import { decodeAddress, taggedHash, toHex, u64be } from '@self/crypto';
import { getApp, putApp } from '../accounts.js';
import { ChainError } from '../errors.js';
import { DOMAIN, type Address } from '../types.js';
import type { TxHandler } from './context.js';

/**
 * app_id = "app_" + hex(first 16 bytes of taggedHash(DOMAIN.appId, address bytes ‖ u64be(nonce))).
 * Derived from the registering transaction, so ids cannot be squatted or chosen; the body carries
 * it so the registrant knows the id before inclusion.
 */
export function deriveAppId(owner: Address, nonce: number): string {
  return `app_${toHex(taggedHash(DOMAIN.appId, decodeAddress(owner), u64be(nonce)).subarray(0, 16))}`;
}

export const applyAppRegister: TxHandler<'app.register'> = ({ state, tx, sender, ctx }) => {
  const b = tx.body;
  const expected = deriveAppId(sender, tx.nonce);
  if (b.app_id !== expected) {
    throw new ChainError('invalid_body', `app_id must be ${expected} for this sender and nonce`, {
      expected,
    });
  }
  if (getApp(state, b.app_id)) throw new ChainError('app_exists', `${b.app_id} already exists`);
  putApp(state, {
    app_id: b.app_id,
    owner: sender,
    name: b.name,
    logo_uri: b.logo_uri,
    redirect_uris: b.redirect_uris,
    scopes: b.scopes,
    active: true,
    created_height: ctx.height,
    updated_height: ctx.height,
  });
};

export const applyAppUpdate: TxHandler<'app.update'> = ({ state, tx, sender, ctx }) => {
  const b = tx.body;
  const app = getApp(state, b.app_id);
  if (!app) throw new ChainError('app_missing', `${b.app_id} does not exist`);
  if (app.owner !== sender) throw new ChainError('not_owner', `${sender} does not own ${b.app_id}`);
  putApp(state, {
    ...app,
    name: b.name,
    logo_uri: b.logo_uri,
    redirect_uris: b.redirect_uris,
    scopes: b.scopes,
    active: b.active,
    updated_height: ctx.height,
  });
};
