import { describe, expect, it } from 'vitest';
import { docVector } from '../../../scripts/doc-vectors.js';
import { accountKeysFromSeed, didFromAddress, sha512, utf8, type AccountKeys } from '@self/crypto';
import {
  findAccount,
  getAccount,
  getAnchor,
  getApp,
  getDid,
  getNode,
  getTotalSupply,
  getValidator,
  listValidators,
  putAccount,
} from '../src/accounts.js';
import { encodeSignedVote, signTransaction, signVote, txHash } from '../src/codec.js';
import { ChainError, type ChainErrorCode } from '../src/errors.js';
import { genesisChanges, makeDevGenesis } from '../src/genesis.js';
import { DEFAULT_PARAMS, type ChainParams } from '../src/params.js';
import { emptyRiskStats, nextColour, updateRiskStats } from '../src/poai/index.js';
import { StateOverlay, type StateReader } from '../src/state-view.js';
import {
  EVIDENCE_BOUNTY_BPS,
  TX_POINTS,
  applyTransaction,
  checkStateless,
  checkStatelessBytes,
  deriveAppId,
  releaseUnbonding,
  type StatelessContext,
} from '../src/tx/index.js';
import type {
  DidDocumentData,
  SignedTransaction,
  Transaction,
  TxBodies,
  TxKind,
  Vote,
} from '../src/types.js';

const CHAIN = 'self-test';
const PARAMS: ChainParams = {
  ...DEFAULT_PARAMS,
  min_bond: 1_000,
  unbonding_heights: 10,
  jail_heights: 100,
  slash_bps: 5_000,
};
const keys = (label: string): AccountKeys => accountKeysFromSeed(sha512(utf8(label)), 'ed25519');
const alice = keys('alice');
const bob = keys('bob');
const carol = keys('carol');
const instance = keys('alice-instance');
const val0 = keys('validator-0');
const val1 = keys('validator-1');

const { genesis } = makeDevGenesis({
  chainId: CHAIN,
  validators: [val0.account, val1.account],
  faucetPhrase: null,
  bond: 10_000,
  validatorBalance: 1_000_000,
  accounts: [
    { address: alice.address, balance: 1_000_000 },
    { address: bob.address, balance: 50 },
    { address: instance.address, balance: 1_000 },
  ],
  params: PARAMS,
  signatureSchemes: ['ed25519', 'hybrid-ed25519-ml-dsa-65'],
});

const STATELESS: StatelessContext = { chainId: CHAIN, params: PARAMS, schemes: genesis.signature_schemes };

function committed(): StateReader {
  const m = new Map<string, Uint8Array>();
  for (const [k, v] of genesisChanges(genesis)) if (v) m.set(k, v);
  return { get: (k) => m.get(k) };
}

function tx<K extends TxKind>(kind: K, body: TxBodies[K], nonce: number, price = 1): Transaction<K> {
  return { v: 1, chain_id: CHAIN, kind, nonce, point_price: price, body };
}

/** Heights only grow on a chain; by default a transaction goes in at the state's last height. */
const lastHeight = new WeakMap<StateOverlay, number>();

/** Runs both stages like a block would, at `height`. */
function run(state: StateOverlay, stx: SignedTransaction, height = lastHeight.get(state) ?? 1) {
  const checked = checkStateless(stx, STATELESS);
  const result = applyTransaction(state, stx, {
    height,
    txHash: checked.hash,
    params: PARAMS,
    chainId: CHAIN,
  });
  lastHeight.set(state, height);
  return result;
}

function expectCode(fn: () => unknown, code: ChainErrorCode): ChainError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ChainError);
    expect((err as ChainError).code).toBe(code);
    return err as ChainError;
  }
  throw new Error(`expected ChainError(${code})`);
}

/** Asserts a rejected transaction left the overlay exactly as it was. */
function expectRejectedUnchanged(state: StateOverlay, fn: () => unknown, code: ChainErrorCode): void {
  const before = new Map(state.changes());
  expectCode(fn, code);
  expect(new Map(state.changes())).toEqual(before);
}

const rootKey = new Uint8Array([3, ...new Uint8Array(64).fill(7)]);
const document = (delegates: DidDocumentData['delegates'] = []): DidDocumentData => ({
  root_key: rootKey,
  encryption_key: new Uint8Array([4, ...new Uint8Array(1216).fill(9)]),
  delegates,
  services: [{ id: 'hub', type: 'SelfInstance', endpoint: 'https://alice.example/hub' }],
});

describe('stateless checks', () => {
  const transfer = (over: Partial<Transaction<'transfer'>> = {}) =>
    signTransaction({ ...tx('transfer', { to: bob.address, amount: 5 }, 1), ...over }, alice.account);

  it('accepts a well-formed transfer and reports hash, bytes, sender and fee', () => {
    const stx = transfer({ point_price: 7 });
    const c = checkStateless(stx, STATELESS);
    expect(c.hash).toEqual(txHash(stx));
    expect(c.sender).toBe(alice.address);
    expect(c.fee).toBe(7 * TX_POINTS.transfer);
    expect(checkStatelessBytes(c.bytes, STATELESS).hash).toEqual(c.hash);
  });

  it('rejects the wrong chain, a low point price, nonce 0 and oversize', () => {
    expectCode(() => checkStateless(transfer({ chain_id: 'self-other' }), STATELESS), 'wrong_chain');
    expectCode(() => checkStateless(transfer({ point_price: 0 }), STATELESS), 'point_price_too_low');
    expectCode(() => checkStateless(transfer({ nonce: 0 }), STATELESS), 'bad_nonce');
    expectCode(
      () => checkStateless(transfer(), { ...STATELESS, params: { ...PARAMS, max_tx_bytes: 100 } }),
      'oversized',
    );
    expectCode(() => checkStatelessBytes(new Uint8Array(PARAMS.max_tx_bytes + 1), STATELESS), 'oversized');
  });

  it('rejects tampered signatures and disallowed schemes', () => {
    const stx = transfer();
    const sig = stx.sig.slice();
    sig[5]! ^= 0x10;
    expectCode(() => checkStateless({ ...stx, sig }, STATELESS), 'bad_signature');
    expectCode(
      () => checkStateless({ ...stx, tx: { ...stx.tx, body: { to: bob.address, amount: 6 } } }, STATELESS),
      'bad_signature',
    );
    expectCode(
      () => checkStateless(stx, { ...STATELESS, schemes: ['hybrid-ed25519-ml-dsa-65'] }),
      'scheme_not_allowed',
    );
    expectCode(
      () => checkStateless({ ...stx, signer: new Uint8Array([9, 1, 2]) }, STATELESS),
      'scheme_not_allowed',
    );
  });

  it('rejects bad shapes as malformed and bad contents as invalid_body', () => {
    const extra = {
      ...transfer(),
      tx: { ...transfer().tx, body: { to: bob.address, amount: 5, memo: 'x' } },
    };
    expectCode(() => checkStateless(extra as unknown as SignedTransaction, STATELESS), 'malformed');
    expectCode(
      () =>
        checkStateless(
          signTransaction(tx('transfer', { to: bob.address, amount: 0 }, 1), alice.account),
          STATELESS,
        ),
      'invalid_body',
    );
    expectCode(
      () => checkStateless(signTransaction(tx('bond', { amount: 0 }, 1), alice.account), STATELESS),
      'invalid_body',
    );
    expectCode(
      () =>
        checkStateless(
          signTransaction(
            tx('anchor', { did: alice.did, kind: 'audit', seq: 0, root: new Uint8Array(32), count: 1 }, 1),
            alice.account,
          ),
          STATELESS,
        ),
      'invalid_body',
    );
    const badRoot = { ...document(), root_key: new Uint8Array([1, ...new Uint8Array(32)]) };
    expectCode(
      () =>
        checkStateless(signTransaction(tx('did.create', { document: badRoot }, 1), alice.account), STATELESS),
      'invalid_body',
    );
    const shortKem = { ...document(), encryption_key: new Uint8Array([4, ...new Uint8Array(100)]) };
    expectCode(
      () =>
        checkStateless(
          signTransaction(tx('did.create', { document: shortKem }, 1), alice.account),
          STATELESS,
        ),
      'invalid_body',
    );
    // ML-KEM coefficients must be below q = 3329; 0xfff is not.
    const badKem = { ...document(), encryption_key: new Uint8Array([4, ...new Uint8Array(1216).fill(0xff)]) };
    expectCode(
      () =>
        checkStateless(signTransaction(tx('did.create', { document: badKem }, 1), alice.account), STATELESS),
      'invalid_body',
    );
    const badDelegate = document([
      { id: 'inst', public_key: new Uint8Array([1, 2, 3]), purposes: ['anchor'] },
    ]);
    expectCode(
      () =>
        checkStateless(
          signTransaction(tx('did.create', { document: badDelegate }, 1), alice.account),
          STATELESS,
        ),
      'invalid_body',
    );
    const reserved = document([{ id: 'root', public_key: instance.account.publicKey, purposes: ['anchor'] }]);
    expectCode(
      () =>
        checkStateless(
          signTransaction(tx('did.create', { document: reserved }, 1), alice.account),
          STATELESS,
        ),
      'malformed',
    );
  });

  const app = (redirect_uris: string[], scopes: string[], logo_uri = '') =>
    signTransaction(
      tx(
        'app.register',
        { app_id: deriveAppId(alice.address, 1), name: 'Notes', logo_uri, redirect_uris, scopes },
        1,
      ),
      alice.account,
    );

  it.each([
    'https://notes.example/callback',
    'http://127.0.0.1:8080/cb',
    'http://localhost/cb',
    'http://[::1]:9000/cb',
  ])('accepts redirect URI %s', (uri) => {
    expect(() => checkStateless(app([uri], ['storage:read']), STATELESS)).not.toThrow();
  });

  it.each([
    'http://notes.example/cb',
    'https://notes.example/cb#frag',
    'https://user:pw@notes.example/cb',
    'notes://cb',
    '/relative',
    'ftp://x.example/',
  ])('rejects redirect URI %s', (uri) => {
    expectCode(() => checkStateless(app([uri], ['storage:read']), STATELESS), 'invalid_body');
  });

  it.each(['', 'https://notes.example/logo.png', 'http://localhost:8080/logo.svg'])(
    'accepts logo URI %j',
    (logo) => {
      expect(() => checkStateless(app(['https://a.example/cb'], ['ai:chat'], logo), STATELESS)).not.toThrow();
    },
  );

  it.each([
    'http://notes.example/logo.png',
    'https://notes.example/logo.png#x',
    'data:image/png;base64,AA',
    ' ',
  ])('rejects logo URI %j', (logo) => {
    expectCode(
      () => checkStateless(app(['https://a.example/cb'], ['ai:chat'], logo), STATELESS),
      'invalid_body',
    );
  });

  it('accepts the pinned scopes and collection scopes only', () => {
    const ok = [
      'profile:read',
      'storage:read',
      'storage:write',
      'storage:notes:read',
      'storage:my_files-2:write',
      'ai:chat',
      'ai:memory',
      'chain:read',
    ];
    expect(() => checkStateless(app(['https://a.example/cb'], ok), STATELESS)).not.toThrow();
    for (const bad of [
      'admin',
      'storage:Notes:read',
      'storage:notes:delete',
      'storage:9x:read',
      `storage:${'a'.repeat(33)}:read`,
      'ai:*',
    ]) {
      expectCode(() => checkStateless(app(['https://a.example/cb'], [bad]), STATELESS), 'invalid_body');
    }
    expectCode(
      () =>
        checkStateless(
          app(
            Array.from({ length: 11 }, (_, i) => `https://a.example/${i}`),
            ['ai:chat'],
          ),
          STATELESS,
        ),
      'malformed',
    );
    expectCode(() => checkStateless(app([], ['ai:chat']), STATELESS), 'invalid_body');
  });

  it('covers a hybrid Ed25519 + ML-DSA-65 sender end to end', () => {
    const hybrid = accountKeysFromSeed(sha512(utf8('hybrid-sender')), 'hybrid-ed25519-ml-dsa-65');
    const state = new StateOverlay(committed());
    putAccount(state, { ...getAccount(state, hybrid.address), balance: 100 });
    const stx = signTransaction(tx('transfer', { to: bob.address, amount: 10 }, 1), hybrid.account);
    run(state, stx);
    expect(getAccount(state, hybrid.address).balance).toBe(89);
    expect(getAccount(state, hybrid.address).public_key).toEqual(hybrid.account.publicKey);
    expectCode(() => checkStateless(stx, { ...STATELESS, schemes: ['ed25519'] }), 'scheme_not_allowed');
  });
});

describe('transfers, nonces and fees', () => {
  it('moves amount and fee, bumps the nonce, records the key and creates the recipient', () => {
    const state = new StateOverlay(committed());
    expect(findAccount(state, carol.address)).toBeUndefined();
    const stx = signTransaction(tx('transfer', { to: carol.address, amount: 1_000 }, 1, 3), alice.account);
    const result = run(state, stx, 5);
    const hash = txHash(stx);
    expect(result.fee).toBe(3 * TX_POINTS.transfer);
    const a = getAccount(state, alice.address);
    expect(a.balance).toBe(1_000_000 - 1_000 - 3);
    expect(a.nonce).toBe(1);
    expect(a.public_key).toEqual(alice.account.publicKey);
    expect(a.risk).toEqual(
      updateRiskStats(emptyRiskStats(), { height: 5, amount: 1_000, to: carol.address }),
    );
    expect(getAccount(state, carol.address)).toMatchObject({ balance: 1_000, nonce: 0, colour: 0 });
    expect(result.colour).toEqual({
      address: alice.address,
      from: 0,
      to: nextColour(0, hash),
      tx_hash: hash,
    });
    expect(a.colour).toBe(nextColour(0, hash));
  });

  it('chains colours across a sender’s transactions', () => {
    const state = new StateOverlay(committed());
    const t1 = signTransaction(tx('transfer', { to: bob.address, amount: 1 }, 1), alice.account);
    const t2 = signTransaction(tx('transfer', { to: bob.address, amount: 1 }, 2), alice.account);
    const r1 = run(state, t1);
    const r2 = run(state, t2);
    expect(r2.colour.from).toBe(r1.colour.to);
    expect(r2.colour.to).toBe(nextColour(nextColour(0, txHash(t1)), txHash(t2)));
  });

  it('rejects a replayed, skipped or stale nonce and changes nothing', () => {
    const state = new StateOverlay(committed());
    const t1 = signTransaction(tx('transfer', { to: bob.address, amount: 10 }, 1), alice.account);
    run(state, t1);
    expectRejectedUnchanged(state, () => run(state, t1), 'bad_nonce');
    expectRejectedUnchanged(
      state,
      () => run(state, signTransaction(tx('transfer', { to: bob.address, amount: 10 }, 3), alice.account)),
      'bad_nonce',
    );
    expect(getAccount(state, alice.address).balance).toBe(1_000_000 - 11);
    expect(getAccount(state, bob.address).balance).toBe(60);
  });

  it('rejects insufficient funds for the fee or the amount without any change', () => {
    const state = new StateOverlay(committed());
    expectRejectedUnchanged(
      state,
      () => run(state, signTransaction(tx('transfer', { to: carol.address, amount: 50 }, 1), bob.account)),
      'insufficient_funds',
    );
    expectRejectedUnchanged(
      state,
      () => run(state, signTransaction(tx('transfer', { to: carol.address, amount: 1 }, 1, 51), bob.account)),
      'insufficient_funds',
    );
    expect(state.changes().size).toBe(0);
    run(state, signTransaction(tx('transfer', { to: carol.address, amount: 49 }, 1), bob.account));
    expect(getAccount(state, bob.address).balance).toBe(0);
  });

  it('rejects a sender without an account', () => {
    const state = new StateOverlay(committed());
    expectRejectedUnchanged(
      state,
      () => run(state, signTransaction(tx('transfer', { to: bob.address, amount: 1 }, 1), carol.account)),
      'unknown_account',
    );
  });

  it('lets an account send to itself', () => {
    const state = new StateOverlay(committed());
    run(state, signTransaction(tx('transfer', { to: alice.address, amount: 500 }, 1), alice.account));
    expect(getAccount(state, alice.address).balance).toBe(1_000_000 - 1);
  });

  it('charges point_price × points for every kind', () => {
    expect(TX_POINTS).toEqual({
      transfer: 1,
      anchor: 2,
      'did.create': 10,
      'did.update': 5,
      'did.deactivate': 2,
      'node.announce': 2,
      'app.register': 10,
      'app.update': 5,
      bond: 5,
      unbond: 5,
      evidence: 5,
    });
    const state = new StateOverlay(committed());
    const r = run(state, signTransaction(tx('did.create', { document: document() }, 1, 4), alice.account));
    expect(r.fee).toBe(40);
    expect(getAccount(state, alice.address).balance).toBe(1_000_000 - 40);
  });
});

describe('DIDs', () => {
  it('creates, updates and deactivates a DID, bumping the version', () => {
    const state = new StateOverlay(committed());
    run(state, signTransaction(tx('did.create', { document: document() }, 1), alice.account), 3);
    expect(getDid(state, alice.did)).toEqual({
      did: alice.did,
      controller: alice.address,
      document: document(),
      version: 1,
      created_height: 3,
      updated_height: 3,
      deactivated: false,
    });
    expectRejectedUnchanged(
      state,
      () => run(state, signTransaction(tx('did.create', { document: document() }, 2), alice.account)),
      'did_exists',
    );
    const updated = document([{ id: 'inst', public_key: instance.account.publicKey, purposes: ['anchor'] }]);
    run(state, signTransaction(tx('did.update', { document: updated }, 2), alice.account), 4);
    expect(getDid(state, alice.did)).toMatchObject({ version: 2, updated_height: 4, document: updated });
    run(state, signTransaction(tx('did.deactivate', {}, 3), alice.account), 5);
    expect(getDid(state, alice.did)).toMatchObject({ version: 3, deactivated: true });
    expectRejectedUnchanged(
      state,
      () => run(state, signTransaction(tx('did.update', { document: updated }, 4), alice.account)),
      'did_deactivated',
    );
    expectRejectedUnchanged(
      state,
      () => run(state, signTransaction(tx('did.deactivate', {}, 4), alice.account)),
      'did_deactivated',
    );
    expectRejectedUnchanged(
      state,
      () => run(state, signTransaction(tx('did.create', { document: document() }, 4), alice.account)),
      'did_exists',
    );
  });

  it('rejects updating a DID that does not exist', () => {
    const state = new StateOverlay(committed());
    expectRejectedUnchanged(
      state,
      () => run(state, signTransaction(tx('did.update', { document: document() }, 1), bob.account)),
      'did_missing',
    );
  });
});

describe('anchors and node records', () => {
  const withDid = (purposes: string[]) => {
    const state = new StateOverlay(committed());
    run(
      state,
      signTransaction(
        tx(
          'did.create',
          { document: document([{ id: 'inst', public_key: instance.account.publicKey, purposes }]) },
          1,
        ),
        alice.account,
      ),
    );
    return state;
  };
  const anchor = (seq: number, signer: AccountKeys, nonce: number, did = alice.did) =>
    signTransaction(
      tx('anchor', { did, kind: 'audit', seq, root: new Uint8Array(32).fill(seq), count: 4 }, nonce),
      signer.account,
    );

  it('accepts consecutive anchors from the controller and rejects replays and gaps', () => {
    const state = withDid(['anchor']);
    const a1 = anchor(1, alice, 2);
    run(state, a1, 7);
    expect(getAnchor(state, alice.did, 'audit', 1)).toEqual({
      did: alice.did,
      kind: 'audit',
      seq: 1,
      root: new Uint8Array(32).fill(1),
      count: 4,
      signer: alice.address,
      height: 7,
      tx_hash: txHash(a1),
    });
    expectRejectedUnchanged(state, () => run(state, anchor(1, alice, 3)), 'bad_sequence');
    expectRejectedUnchanged(state, () => run(state, anchor(3, alice, 3)), 'bad_sequence');
    run(state, anchor(2, alice, 3));
    // Sequences are per kind: the first consent anchor is seq 1.
    run(
      state,
      signTransaction(
        tx('anchor', { did: alice.did, kind: 'consent', seq: 1, root: new Uint8Array(32), count: 1 }, 4),
        alice.account,
      ),
    );
  });

  it('lets a delegate with the purpose sign, paying from its own account', () => {
    const state = withDid(['anchor']);
    const aliceBefore = getAccount(state, alice.address).balance;
    const r = run(state, anchor(1, instance, 1, alice.did));
    expect(r.sender).toBe(instance.address);
    expect(getAccount(state, instance.address)).toMatchObject({ balance: 1_000 - 2, nonce: 1 });
    expect(getAccount(state, alice.address).balance).toBe(aliceBefore);
    expect(getAnchor(state, alice.did, 'audit', 1)?.signer).toBe(instance.address);
  });

  it('rejects a delegate without the purpose, strangers, and deactivated DIDs', () => {
    const state = withDid(['node.announce']);
    const e = expectCode(() => run(state, anchor(1, instance, 1)), 'not_controller');
    expect(e.details).toMatchObject({ purpose: 'anchor' });
    expectRejectedUnchanged(state, () => run(state, anchor(1, bob, 1)), 'not_controller');
    expectRejectedUnchanged(state, () => run(state, anchor(1, bob, 1, bob.did)), 'did_missing');
    run(state, signTransaction(tx('did.deactivate', {}, 2), alice.account));
    expectRejectedUnchanged(state, () => run(state, anchor(1, alice, 3)), 'did_deactivated');
  });

  it('stores node announcements signed by a node.announce delegate', () => {
    const state = withDid(['node.announce']);
    const body = {
      did: alice.did,
      peer_id: '12D3KooWAlice',
      multiaddrs: ['/ip4/10.0.0.1/tcp/4001'],
      roles: ['instance-host'],
      version: '0.1.0',
    };
    run(state, signTransaction(tx('node.announce', body, 1), instance.account), 9);
    expect(getNode(state, alice.did, '12D3KooWAlice')).toEqual({
      ...body,
      announced_by: instance.address,
      height: 9,
    });
    expectRejectedUnchanged(state, () => run(state, anchor(1, instance, 2)), 'not_controller');
  });
});

describe('apps', () => {
  const register = (owner: AccountKeys, nonce: number, appId = deriveAppId(owner.address, nonce)) =>
    signTransaction(
      tx(
        'app.register',
        {
          app_id: appId,
          name: 'Notes',
          logo_uri: 'https://n.example/logo.png',
          redirect_uris: ['https://n.example/cb'],
          scopes: ['storage:read'],
        },
        nonce,
      ),
      owner.account,
    );

  it('registers under the derived id and lets only the owner update', () => {
    const state = new StateOverlay(committed());
    const id = deriveAppId(alice.address, 1);
    expect(id).toMatch(/^app_[0-9a-f]{32}$/);
    run(state, register(alice, 1), 2);
    expect(getApp(state, id)).toMatchObject({
      owner: alice.address,
      logo_uri: 'https://n.example/logo.png',
      active: true,
      created_height: 2,
    });
    const update = (signer: AccountKeys, nonce: number, appId = id) =>
      signTransaction(
        tx(
          'app.update',
          {
            app_id: appId,
            name: 'Notes 2',
            logo_uri: '',
            redirect_uris: ['https://n.example/cb2'],
            scopes: ['ai:chat'],
            active: false,
          },
          nonce,
        ),
        signer.account,
      );
    expectRejectedUnchanged(state, () => run(state, update(bob, 1)), 'not_owner');
    expectRejectedUnchanged(
      state,
      () => run(state, update(alice, 2, deriveAppId(carol.address, 1))),
      'app_missing',
    );
    run(state, update(alice, 2), 3);
    expect(getApp(state, id)).toMatchObject({
      name: 'Notes 2',
      logo_uri: '',
      scopes: ['ai:chat'],
      active: false,
      updated_height: 3,
      created_height: 2,
    });
  });

  it('rejects an app id that is not the derivation', () => {
    const state = new StateOverlay(committed());
    expectRejectedUnchanged(
      state,
      () => run(state, register(alice, 1, deriveAppId(alice.address, 2))),
      'invalid_body',
    );
  });
});

describe('staking', () => {
  it('bonds, becomes a validator at min_bond, unbonds and releases after unbonding_heights', () => {
    const state = new StateOverlay(committed());
    expectRejectedUnchanged(
      state,
      () => run(state, signTransaction(tx('bond', { amount: 999 }, 1), alice.account)),
      'bond_too_small',
    );
    run(state, signTransaction(tx('bond', { amount: 1_000 }, 1), alice.account), 2);
    expect(getAccount(state, alice.address)).toMatchObject({ balance: 1_000_000 - 1_000 - 5, bonded: 1_000 });
    expect(getValidator(state, alice.address)).toEqual({
      address: alice.address,
      public_key: alice.account.publicKey,
      reputation: 5_000,
      jailed_until: 0,
      slashed: false,
      last_signed_height: 0,
    });
    expect(listValidators(state, { height: 2, params: PARAMS }).map((v) => v.address)).toContain(
      alice.address,
    );
    run(state, signTransaction(tx('bond', { amount: 1 }, 2), alice.account), 2);
    expectRejectedUnchanged(
      state,
      () => run(state, signTransaction(tx('unbond', { amount: 1_002 }, 3), alice.account)),
      'insufficient_funds',
    );
    run(state, signTransaction(tx('unbond', { amount: 400 }, 3), alice.account), 3);
    expect(getAccount(state, alice.address)).toMatchObject({
      bonded: 601,
      unbonding: [{ amount: 400, release_height: 13 }],
    });
    expect(listValidators(state, { height: 3, params: PARAMS }).map((v) => v.address)).not.toContain(
      alice.address,
    );
    expect(releaseUnbonding(state, 12)).toEqual([]);
    const before = getAccount(state, alice.address).balance;
    expect(releaseUnbonding(state, 13)).toEqual([{ address: alice.address, amount: 400 }]);
    expect(getAccount(state, alice.address)).toMatchObject({ balance: before + 400, unbonding: [] });
    expect(releaseUnbonding(state, 13)).toEqual([]);
  });

  it('rejects unbonding by a non-validator and bonding beyond the balance', () => {
    const state = new StateOverlay(committed());
    expectRejectedUnchanged(
      state,
      () => run(state, signTransaction(tx('unbond', { amount: 1 }, 1), alice.account)),
      'not_validator',
    );
    expectRejectedUnchanged(
      state,
      () => run(state, signTransaction(tx('bond', { amount: 1_000 }, 1), instance.account)),
      'insufficient_funds',
    );
  });
});

describe('evidence', () => {
  const vote = (blockByte: number | null, over: Partial<Vote> = {}): Vote => ({
    v: 1,
    chain_id: CHAIN,
    height: 20,
    round: 1,
    type: 'precommit',
    block_hash: blockByte === null ? null : new Uint8Array(32).fill(blockByte),
    ranking: [],
    ...over,
  });
  const evidence = (a: Vote, b: Vote, nonce = 1, signerA = val0, signerB = signerA) =>
    signTransaction(
      tx(
        'evidence',
        {
          vote_a: encodeSignedVote(signVote(a, signerA.account)),
          vote_b: encodeSignedVote(signVote(b, signerB.account)),
        },
        nonce,
      ),
      alice.account,
    );

  it('slashes exactly, pays the bounty, burns the rest and jails for good', () => {
    const state = new StateOverlay(committed());
    const supply = getTotalSupply(state);
    const before = getAccount(state, alice.address).balance;
    run(state, evidence(vote(1), vote(2)), 25);
    const slashed = (10_000 * PARAMS.slash_bps) / 10_000;
    const bounty = (slashed * EVIDENCE_BOUNTY_BPS) / 10_000;
    expect(getAccount(state, val0.address).bonded).toBe(10_000 - slashed);
    expect(getAccount(state, alice.address).balance).toBe(before - 5 + bounty);
    expect(getTotalSupply(state)).toBe(supply - (slashed - bounty));
    expect(getValidator(state, val0.address)).toMatchObject({
      reputation: 0,
      slashed: true,
      jailed_until: 25 + PARAMS.jail_heights,
    });
    expect(listValidators(state, { height: 1_000, params: PARAMS }).map((v) => v.address)).toEqual([
      val1.address,
    ]);
    // The same equivocation again, even with the votes swapped, is a duplicate.
    expectRejectedUnchanged(state, () => run(state, evidence(vote(2), vote(1), 2), 26), 'duplicate');
  });

  it('slashes pending unbonding entries too', () => {
    const state = new StateOverlay(committed());
    run(state, signTransaction(tx('unbond', { amount: 4_000 }, 1), val0.account), 19);
    run(state, evidence(vote(1), vote(null)), 20);
    expect(getAccount(state, val0.address)).toMatchObject({
      bonded: 3_000,
      unbonding: [{ amount: 2_000, release_height: 29 }],
    });
  });

  it('rejects votes that do not prove equivocation', () => {
    const state = new StateOverlay(committed());
    expectCode(() => run(state, evidence(vote(1), vote(1))), 'invalid_evidence');
    expectCode(() => run(state, evidence(vote(null), vote(null))), 'invalid_evidence');
    expectCode(() => run(state, evidence(vote(1), vote(2, { round: 2 }))), 'invalid_evidence');
    expectCode(() => run(state, evidence(vote(1), vote(2, { type: 'prevote' }))), 'invalid_evidence');
    expectCode(
      () => run(state, evidence(vote(1, { chain_id: 'self-other' }), vote(2, { chain_id: 'self-other' }))),
      'invalid_evidence',
    );
    expectCode(() => run(state, evidence(vote(1), vote(2), 1, val0, val1)), 'invalid_evidence');
    const good = evidence(vote(1), vote(2));
    const sv = signVote(vote(2), val0.account);
    sv.sig[3]! ^= 1;
    const tampered = signTransaction(
      { ...good.tx, body: { ...good.tx.body, vote_b: encodeSignedVote(sv) } },
      alice.account,
    );
    expectCode(() => run(state, tampered), 'invalid_evidence');
    const junk = signTransaction(
      { ...good.tx, body: { vote_a: new Uint8Array([1]), vote_b: good.tx.body.vote_b } },
      alice.account,
    );
    expectCode(() => run(state, junk), 'invalid_evidence');
    expect(state.changes().size).toBe(0);
  });

  it('rejects non-validators, future votes and expired evidence', () => {
    const state = new StateOverlay(committed());
    expectRejectedUnchanged(state, () => run(state, evidence(vote(1), vote(2), 1, bob)), 'not_validator');
    expectRejectedUnchanged(state, () => run(state, evidence(vote(1), vote(2)), 19), 'invalid_evidence');
    expectRejectedUnchanged(
      state,
      () => run(state, evidence(vote(1), vote(2)), 20 + PARAMS.unbonding_heights + 1),
      'expired',
    );
    run(state, evidence(vote(1), vote(2)), 20 + PARAMS.unbonding_heights);
  });
});

describe('documented vectors', () => {
  const DOC = 'docs/protocol/transactions.md';

  it('fee points and the evidence bounty', () => {
    const v = docVector<{ points: Record<string, number>; evidence_bounty_bps: number }>(DOC, 'tx-points');
    expect(TX_POINTS).toEqual(v.points);
    expect(EVIDENCE_BOUNTY_BPS).toBe(v.evidence_bounty_bps);
  });

  it('app id derivation', () => {
    const v = docVector<{ owner: string; nonce: number; app_id: string }>(DOC, 'app-id');
    expect(deriveAppId(v.owner, v.nonce)).toBe(v.app_id);
  });

  it('DIDs are did:self:<address>', () => {
    expect(alice.did).toBe(didFromAddress(alice.address));
  });
});
