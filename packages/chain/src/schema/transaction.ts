import { utf8 } from '@self/crypto';
import {
  ANCHOR_KINDS,
  DELEGATE_PURPOSES,
  TX_KINDS,
  type DelegateKey,
  type DidDocumentData,
  type ServiceEndpoint,
  type SignedTransaction,
  type Transaction,
  type TxBodies,
  type TxKind,
} from '../types.js';
import { LIMITS } from './limits.js';
import {
  address,
  bool,
  bytes,
  did,
  hash32,
  list,
  malformed,
  oneOf,
  record,
  str,
  uint,
  unique,
} from './primitives.js';

/**
 * Shape of transactions: exact keys, types and size bounds. Semantic rules (amount > 0, URL forms,
 * scope grammar, key schemes) are in tx/stateless.ts and fail with 'invalid_body' instead.
 */

export function parseChainId(value: unknown, path: string): string {
  return str(value, path, 64, { re: LIMITS.chainIdRe });
}

function parseDelegate(value: unknown, path: string): DelegateKey {
  const o = record(value, path, ['id', 'public_key', 'purposes']);
  const purposes = list(
    o.purposes,
    `${path}.purposes`,
    DELEGATE_PURPOSES.length,
    (v, p) => oneOf(v, p, DELEGATE_PURPOSES),
    1,
  );
  unique(purposes, `${path}.purposes`);
  return {
    id: str(o.id, `${path}.id`, 32, { re: LIMITS.fragmentRe }),
    public_key: bytes(o.public_key, `${path}.public_key`, { min: 1, max: LIMITS.maxPublicKeyBytes }),
    purposes,
  };
}

function parseService(value: unknown, path: string): ServiceEndpoint {
  const o = record(value, path, ['id', 'type', 'endpoint']);
  return {
    id: str(o.id, `${path}.id`, 32, { re: LIMITS.fragmentRe }),
    type: str(o.type, `${path}.type`, 64, { re: LIMITS.serviceTypeRe }),
    endpoint: str(o.endpoint, `${path}.endpoint`, LIMITS.maxUrlChars),
  };
}

export function parseDidDocument(value: unknown, path: string): DidDocumentData {
  const o = record(value, path, ['root_key', 'encryption_key', 'delegates', 'services']);
  const doc: DidDocumentData = {
    root_key: bytes(o.root_key, `${path}.root_key`, { min: 1, max: LIMITS.maxDocumentKeyBytes }),
    encryption_key: bytes(o.encryption_key, `${path}.encryption_key`, {
      min: 1,
      max: LIMITS.maxDocumentKeyBytes,
    }),
    delegates: list(o.delegates, `${path}.delegates`, LIMITS.maxDelegates, parseDelegate),
    services: list(o.services, `${path}.services`, LIMITS.maxServices, parseService),
  };
  // Fragments share one namespace in the rendered document, with the fixed #account, #root, #encryption.
  const ids = [...doc.delegates.map((d) => d.id), ...doc.services.map((s) => s.id)];
  unique(ids, `${path} ids`);
  for (const id of ids) {
    if (RESERVED_FRAGMENTS.includes(id)) malformed(`${path} ids`, `"${id}" is reserved`);
  }
  return doc;
}

/** Fragments the rendered DID document uses for the account, root and encryption keys. */
export const RESERVED_FRAGMENTS: readonly string[] = ['account', 'root', 'encryption'];

type BodyParser<K extends TxKind> = (o: unknown, path: string) => TxBodies[K];

function appFields(o: Record<string, unknown>, path: string) {
  const redirect_uris = list(o.redirect_uris, `${path}.redirect_uris`, LIMITS.maxRedirectUris, (v, p) =>
    str(v, p, LIMITS.maxRedirectUriChars),
  );
  unique(redirect_uris, `${path}.redirect_uris`);
  const scopes = list(o.scopes, `${path}.scopes`, LIMITS.maxScopes, (v, p) =>
    str(v, p, LIMITS.maxScopeChars),
  );
  unique(scopes, `${path}.scopes`);
  const logo_uri = str(o.logo_uri, `${path}.logo_uri`, LIMITS.maxLogoUriBytes, { min: 0 });
  // The bound is in bytes: UTF-16 units undercount non-ASCII text in what nodes store.
  if (utf8(logo_uri).length > LIMITS.maxLogoUriBytes)
    malformed(`${path}.logo_uri`, `at most ${LIMITS.maxLogoUriBytes} bytes of UTF-8`);
  return {
    app_id: str(o.app_id, `${path}.app_id`, 36, { re: LIMITS.appIdRe }),
    name: str(o.name, `${path}.name`, LIMITS.maxAppNameChars),
    logo_uri,
    redirect_uris,
    scopes,
  };
}

const BODY_PARSERS: { [K in TxKind]: BodyParser<K> } = {
  transfer: (v, p) => {
    const o = record(v, p, ['to', 'amount']);
    return { to: address(o.to, `${p}.to`), amount: uint(o.amount, `${p}.amount`) };
  },
  'did.create': (v, p) => {
    const o = record(v, p, ['document']);
    return { document: parseDidDocument(o.document, `${p}.document`) };
  },
  'did.update': (v, p) => {
    const o = record(v, p, ['document']);
    return { document: parseDidDocument(o.document, `${p}.document`) };
  },
  'did.deactivate': (v, p) => {
    record(v, p, []);
    return {};
  },
  'node.announce': (v, p) => {
    const o = record(v, p, ['did', 'peer_id', 'multiaddrs', 'roles', 'version']);
    const multiaddrs = list(o.multiaddrs, `${p}.multiaddrs`, LIMITS.maxMultiaddrs, (x, q) =>
      str(x, q, LIMITS.maxUrlChars, { re: LIMITS.multiaddrRe }),
    );
    unique(multiaddrs, `${p}.multiaddrs`);
    const roles = list(o.roles, `${p}.roles`, LIMITS.maxRoles, (x, q) =>
      str(x, q, 32, { re: LIMITS.roleRe }),
    );
    unique(roles, `${p}.roles`);
    return {
      did: did(o.did, `${p}.did`),
      peer_id: str(o.peer_id, `${p}.peer_id`, 128, { re: LIMITS.peerIdRe }),
      multiaddrs,
      roles,
      version: str(o.version, `${p}.version`, 32, { re: LIMITS.versionRe }),
    };
  },
  'app.register': (v, p) => {
    const o = record(v, p, ['app_id', 'name', 'logo_uri', 'redirect_uris', 'scopes']);
    return appFields(o, p);
  },
  'app.update': (v, p) => {
    const o = record(v, p, ['app_id', 'name', 'logo_uri', 'redirect_uris', 'scopes', 'active']);
    return { ...appFields(o, p), active: bool(o.active, `${p}.active`) };
  },
  anchor: (v, p) => {
    const o = record(v, p, ['did', 'kind', 'seq', 'root', 'count']);
    return {
      did: did(o.did, `${p}.did`),
      kind: oneOf(o.kind, `${p}.kind`, ANCHOR_KINDS),
      seq: uint(o.seq, `${p}.seq`),
      root: hash32(o.root, `${p}.root`),
      count: uint(o.count, `${p}.count`),
    };
  },
  bond: (v, p) => {
    const o = record(v, p, ['amount']);
    return { amount: uint(o.amount, `${p}.amount`) };
  },
  unbond: (v, p) => {
    const o = record(v, p, ['amount']);
    return { amount: uint(o.amount, `${p}.amount`) };
  },
  evidence: (v, p) => {
    const o = record(v, p, ['vote_a', 'vote_b']);
    return {
      vote_a: bytes(o.vote_a, `${p}.vote_a`, { min: 1, max: LIMITS.maxVoteBytes }),
      vote_b: bytes(o.vote_b, `${p}.vote_b`, { min: 1, max: LIMITS.maxVoteBytes }),
    };
  },
};

export function parseTransaction(value: unknown, path = 'tx'): Transaction {
  const o = record(value, path, ['v', 'chain_id', 'kind', 'nonce', 'point_price', 'body']);
  uint(o.v, `${path}.v`, 1, 1);
  const kind = oneOf(o.kind, `${path}.kind`, TX_KINDS);
  const parseBody = BODY_PARSERS[kind] as BodyParser<TxKind>;
  return {
    v: 1,
    chain_id: parseChainId(o.chain_id, `${path}.chain_id`),
    kind,
    nonce: uint(o.nonce, `${path}.nonce`),
    point_price: uint(o.point_price, `${path}.point_price`),
    body: parseBody(o.body, `${path}.body`),
  };
}

export function parseSignedTransaction(value: unknown, path = 'stx'): SignedTransaction {
  const o = record(value, path, ['tx', 'signer', 'sig']);
  return {
    tx: parseTransaction(o.tx, `${path}.tx`),
    signer: bytes(o.signer, `${path}.signer`, { min: 1, max: LIMITS.maxPublicKeyBytes }),
    sig: bytes(o.sig, `${path}.sig`, { min: 1, max: LIMITS.maxSignatureBytes }),
  };
}
