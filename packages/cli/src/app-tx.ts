import type { SigningKey } from '@self/crypto';
import {
  LIMITS,
  deriveAppId,
  isValidLogoUri,
  isValidRedirectUri,
  isValidScope,
  signTransaction,
  type SignedTransaction,
  type Transaction,
  type TxBodies,
} from '@self/chain';
import { CliError } from './errors.js';

/** What a developer says about an app: the fields of app.register and app.update but the id. */
export interface AppFields {
  name: string;
  logo_uri: string;
  redirect_uris: string[];
  scopes: string[];
}

export interface ChainTxParams {
  chainId: string;
  /** The account's next nonce: app.register derives the app id from it. */
  nonce: number;
  pointPrice: number;
}

/**
 * The flags as an app's fields, checked here with the chain's own rules (schema limits and body
 * rules), so a mistake is a usage error naming the flag rather than a refused transaction after a
 * round trip. Scopes are deduplicated (the chain refuses duplicates) and kept in the order given.
 */
export function checkAppFields(f: AppFields): AppFields {
  const name = f.name;
  if (name.trim() === '') throw new CliError('--name must not be blank', 2);
  if ([...name].length > LIMITS.maxAppNameChars)
    throw new CliError(`--name is at most ${LIMITS.maxAppNameChars} characters`, 2);
  if (f.redirect_uris.length === 0)
    throw new CliError('give at least one --redirect-uri (where the browser returns after consent)', 2);
  if (f.redirect_uris.length > LIMITS.maxRedirectUris)
    throw new CliError(`at most ${LIMITS.maxRedirectUris} --redirect-uri`, 2);
  for (const uri of f.redirect_uris) {
    if (uri.length > LIMITS.maxRedirectUriChars || !isValidRedirectUri(uri))
      throw new CliError(
        `--redirect-uri "${uri}" must be an https URL, or http on 127.0.0.1, [::1] or localhost, ` +
          `without a fragment or credentials, at most ${LIMITS.maxRedirectUriChars} characters`,
        2,
      );
  }
  if (new Set(f.redirect_uris).size !== f.redirect_uris.length)
    throw new CliError('the same --redirect-uri is given twice', 2);
  const scopes = [...new Set(f.scopes)];
  if (scopes.length === 0)
    throw new CliError('give at least one --scope (e.g. --scope storage:read --scope ai:chat)', 2);
  if (scopes.length > LIMITS.maxScopes) throw new CliError(`at most ${LIMITS.maxScopes} --scope`, 2);
  for (const scope of scopes) {
    if (!isValidScope(scope))
      throw new CliError(
        `unknown --scope "${scope}": use profile:read, storage:read, storage:write, ` +
          'storage:<collection>:read|write, ai:chat, ai:memory or chain:read (docs/scopes.md)',
        2,
      );
  }
  if (Buffer.byteLength(f.logo_uri, 'utf8') > LIMITS.maxLogoUriBytes || !isValidLogoUri(f.logo_uri))
    throw new CliError(
      `--logo must be an https URL (or http on a loopback host) without a fragment, at most ` +
        `${LIMITS.maxLogoUriBytes} bytes`,
      2,
    );
  return { name, logo_uri: f.logo_uri, redirect_uris: [...f.redirect_uris], scopes };
}

/** app.register by `address` at nonce p.nonce: its app id is fixed by the two. */
export function signAppRegister(
  address: string,
  account: SigningKey,
  fields: AppFields,
  p: ChainTxParams,
): { appId: string; stx: SignedTransaction<'app.register'> } {
  const appId = deriveAppId(address, p.nonce);
  const body: TxBodies['app.register'] = { app_id: appId, ...fields };
  const tx: Transaction<'app.register'> = {
    v: 1,
    chain_id: p.chainId,
    kind: 'app.register',
    nonce: p.nonce,
    point_price: p.pointPrice,
    body,
  };
  return { appId, stx: signTransaction(tx, account) };
}

export function signAppUpdate(
  appId: string,
  account: SigningKey,
  fields: AppFields & { active: boolean },
  p: ChainTxParams,
): SignedTransaction<'app.update'> {
  const tx: Transaction<'app.update'> = {
    v: 1,
    chain_id: p.chainId,
    kind: 'app.update',
    nonce: p.nonce,
    point_price: p.pointPrice,
    body: {
      app_id: appId,
      name: fields.name,
      logo_uri: fields.logo_uri,
      redirect_uris: fields.redirect_uris,
      scopes: fields.scopes,
      active: fields.active,
    },
  };
  return signTransaction(tx, account);
}
