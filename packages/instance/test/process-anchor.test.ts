import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  accountKeysFromPhrase,
  consentLeaf,
  identityFromSeed,
  revocationLeaf,
  sha512,
  toHex,
  utf8,
  type SigningKey,
} from '@self/crypto';
import {
  DEV_FAUCET_PHRASE,
  StateKey,
  decodeBlockHeader,
  encodeSignedTransaction,
  getAnchor,
  getNode,
  makeDevGenesis,
  signTransaction,
  txHash,
  verifyStateProof,
  type DidDocumentData,
  type Transaction,
  type TxBodies,
  type TxKind,
} from '@self/chain';
import { SelfNode, generatePeerKey, parseNodeConfig } from '@self/node';
import { NodeClient } from '@self/node/client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Anchorer } from '../src/anchor/anchorer.js';
import { endpointMultiaddr, instanceAnnouncement } from '../src/anchor/node-record.js';
import { readOutbox, writeOutbox } from '../src/anchor/outbox.js';
import { auditAnchorMatches, verifyAuditProof, type AuditProof } from '../src/audit/index.js';
import { Instance } from '../src/instance.js';
import { INSTANCE_DELEGATE_ID } from '../src/instance-key.js';
import { generateHostKey } from '../src/vault.js';
import { merkleRoot } from '../src/audit/merkle.js';
import { consentFieldsOf } from '../src/grants/store.js';
import { grantApp, testAppId } from './fixtures/app-tokens.js';
import { personHeaders, requestSocket, spawnInstanceProcess } from './fixtures/process-helpers.js';

/**
 * Anchoring against a real single-validator chain: a SelfNode (libp2p, HTTP API on 127.0.0.1),
 * the person's DID created and updated with their own account key, the instance key delegated by
 * that update and its address funded from the dev faucet.
 */

const root = mkdtempSync(join(tmpdir(), 'self-anchor-'));
const { genesis, validatorKeys } = makeDevGenesis({
  chainId: 'self-anchor-1',
  validators: 1,
  scheme: 'ed25519',
});
const faucet = accountKeysFromPhrase(DEV_FAUCET_PHRASE, 'ed25519').account;
const person = identityFromSeed(sha512(utf8('self anchor test person')));
const hostKey = generateHostKey();
const dir = join(root, 'instance');
const endpoint = `http://127.0.0.1:8080/v1/i/${person.did}`;

let node: SelfNode;
let client: NodeClient;
let instanceKey: { publicKey: Uint8Array; address: string };
const nonces = new Map<SigningKey, number>();

/** Signs with `key` at its next nonce, submits, and waits for the commit. */
async function commit<K extends TxKind>(key: SigningKey, kind: K, body: TxBodies[K]): Promise<void> {
  const nonce = (nonces.get(key) ?? 0) + 1;
  const tx = { v: 1, chain_id: genesis.chain_id, kind, nonce, point_price: 1, body } as Transaction<K>;
  const { hash } = await client.submitTransaction(encodeSignedTransaction(signTransaction(tx, key)));
  await client.waitForTransaction(hash, { timeoutMs: 20_000, intervalMs: 50 });
  nonces.set(key, nonce);
}

const document = (delegated: boolean): DidDocumentData => ({
  root_key: person.rootPublicKey,
  encryption_key: person.encryptionPublicKey,
  delegates: delegated
    ? [{ id: INSTANCE_DELEGATE_ID, public_key: instanceKey.publicKey, purposes: ['anchor', 'node.announce'] }]
    : [],
  // Delegate and service ids share the document's fragment namespace, so the service is not `instance`.
  services: delegated ? [{ id: 'instance-api', type: 'SelfInstance', endpoint }] : [],
});

/** The on-chain anchor record `seq` of `kind`, proven against the latest committed state root. */
function provenAnchor(seq: number, kind: 'audit' | 'consent' | 'revocation' = 'audit') {
  const tree = node.chain.stateTree();
  const stored = node.chain.store.blockByHeight(node.chain.latestHeight())!;
  const stateRoot = decodeBlockHeader(stored.header).state_root;
  const key = StateKey.anchor(person.did, kind, seq);
  const value = tree.get(key) ?? null;
  return {
    record: getAnchor(tree, person.did, kind, seq),
    proven: value !== null && verifyStateProof(stateRoot, key, value, tree.prove(key)),
  };
}

const me = { kind: 'person' as const, did: person.did };
const write = (inst: Instance, n: number, prefix: string): void => {
  for (let i = 0; i < n; i++) inst.put(me, 'notes', `${prefix}-${i}`, utf8(`note ${i}`));
};

beforeAll(async () => {
  node = await SelfNode.start({
    config: parseNodeConfig({
      moniker: 'anchor',
      p2p: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      api: { host: '127.0.0.1', port: 0, rate_limit: { max: 1_000_000, window_ms: 1_000 } },
      verify_threads: 1,
      empty_block_wait_ms: 200,
      log_level: 'silent',
    }),
    genesis,
    validatorKey: validatorKeys[0]!,
    peerKey: generatePeerKey(),
    chainDbPath: join(root, 'chain.sqlite'),
    logger: pino({ level: 'silent' }),
  });
  client = new NodeClient(node.apiUrl()!);

  const inst = Instance.create({
    dir,
    instanceId: 'anchored',
    did: person.did,
    tier: 'free',
    mode: 'always-on',
    personPublicKey: person.encryptionPublicKey,
    hostKey,
  });
  instanceKey = inst.instanceKeyInfo();
  inst.close();

  // The faucet funds the person (for their DID transactions) and the instance key's address (for
  // the fees of what it signs); the person creates their DID, without delegates yet.
  await commit(faucet, 'transfer', { to: person.address, amount: 1_000_000 });
  await commit(faucet, 'transfer', { to: instanceKey.address, amount: 1_000_000 });
  await commit(person.account, 'did.create', { document: document(false) });
}, 60_000);

afterAll(async () => {
  await node?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('anchoring the audit log on a real chain', () => {
  it('waits, without closing segments, until the DID delegates the instance key', async () => {
    const inst = Instance.open({ dir, hostKey });
    try {
      write(inst, 3, 'early');
      const anchorer = new Anchorer({
        instance: inst,
        chain: client,
        chainId: genesis.chain_id,
        pointPrice: 1,
        schedule: { everyMs: 100, minEntries: 1 },
        announcement: instanceAnnouncement(person.did, instanceKey.address, endpoint),
      });
      const round = await anchorer.round();
      expect(round.anchored).toEqual([]);
      expect(round.blocked).toMatch(/not a delegate of .* for anchor/);
      expect(inst.unanchoredAuditSegments()).toEqual([]);
      expect(inst.unsegmentedAuditEntries()).toBe(3);
    } finally {
      inst.close();
    }
  });

  it('the instance process anchors once delegated: the anchor commits and a proof verifies against the on-chain root', async () => {
    const proc = await spawnInstanceProcess({
      dir,
      hostKey: toHex(hostKey),
      chain: { apiUrl: node.apiUrl(), chainId: genesis.chain_id, pointPrice: 1 },
      anchor: { everyMs: 100, minEntries: 1 },
      endpoint,
      logLevel: 'info',
    });
    const ready = await proc.ready;
    expect(ready?.instance_address).toBe(instanceKey.address);
    const socket = ready!.socket;
    try {
      // The person delegates the instance key (anchor, node.announce) with their account key.
      await commit(person.account, 'did.update', { document: document(true) });

      let proof: AuditProof | null = null;
      for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
        const res = await requestSocket(socket, 'GET', '/v1/audit/1/proof', personHeaders(person.did));
        if (res.status === 200) {
          const p = JSON.parse(res.body.toString()) as AuditProof;
          if (p.segment.anchor_tx !== null) {
            proof = p;
            break;
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(proof, 'segment 1 anchored').not.toBeNull();
      expect(proof!.segment).toMatchObject({ id: 1, first_seq: 1, last_seq: 3 });
      expect(verifyAuditProof(proof!)).toBe(true);

      const { record, proven } = provenAnchor(1);
      expect(proven).toBe(true);
      expect(record).toBeDefined();
      expect(record!.signer).toBe(instanceKey.address);
      expect(toHex(record!.tx_hash)).toBe(proof!.segment.anchor_tx);
      expect(auditAnchorMatches(proof!, person.did, record!)).toBe(true);

      // It announced where the gateway serves it, once, as a delegate of the DID.
      for (const deadline = Date.now() + 20_000; Date.now() < deadline;) {
        if (getNode(node.chain.stateTree(), person.did, instanceKey.address)) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(getNode(node.chain.stateTree(), person.did, instanceKey.address)).toMatchObject({
        did: person.did,
        peer_id: instanceKey.address,
        multiaddrs: [endpointMultiaddr(endpoint)],
        roles: ['instance'],
        announced_by: instanceKey.address,
      });
      expect(endpointMultiaddr(endpoint)).toBe(
        `/ip4/127.0.0.1/tcp/8080/http/http-path/v1%2Fi%2F${encodeURIComponent(person.did)}`,
      );

      // New entries go into segment 2, anchored with the next sequence number.
      const put = await requestSocket(
        socket,
        'PUT',
        '/v1/data/notes/later',
        personHeaders(person.did),
        utf8('x'),
      );
      expect(put.status).toBe(200);
      for (const deadline = Date.now() + 20_000; Date.now() < deadline && !provenAnchor(2).proven;) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(provenAnchor(2).proven).toBe(true);
    } finally {
      proc.child.kill('SIGTERM');
      expect((await proc.exit).code).toBe(0);
    }
    expect(proc.logs.join('\n')).toMatch(/audit segment anchored/);
  });

  /**
   * Closes a segment, signs its anchor with the instance key and the next nonce, and saves it in
   * the outbox: what the anchorer does before it submits.
   */
  async function savedAnchor(inst: Instance) {
    const body = inst.closeAuditSegment()!;
    const account = await client.account(instanceKey.address);
    const tx: Transaction<'anchor'> = {
      v: 1,
      chain_id: genesis.chain_id,
      kind: 'anchor',
      nonce: account.nonce + 1,
      point_price: 1,
      body,
    };
    const stx = signTransaction(tx, inst.instanceKey());
    const hash = toHex(txHash(stx));
    writeOutbox(inst, {
      kind: 'anchor',
      segment: body.seq,
      hash,
      nonce: tx.nonce,
      tx: toHex(encodeSignedTransaction(stx)),
    });
    return { body, tx, stx, hash };
  }

  it('after a crash between submitting and recording, the next run records the committed anchor and submits no other', async () => {
    const inst = Instance.open({ dir, hostKey });
    try {
      write(inst, 2, 'crash-a');
      // What the anchorer does before it submits; then it "crashes" after the submission.
      const { body, tx, stx, hash } = await savedAnchor(inst);
      await client.submitTransaction(encodeSignedTransaction(stx));
      await client.waitForTransaction(hash, { timeoutMs: 20_000, intervalMs: 50 });

      const anchorer = new Anchorer({
        instance: inst,
        chain: client,
        chainId: genesis.chain_id,
        pointPrice: 1,
        schedule: { everyMs: 100, minEntries: 1 },
        announcement: instanceAnnouncement(person.did, instanceKey.address, endpoint),
      });
      const round = await anchorer.round();
      expect(round).toEqual({ anchored: [body.seq], grantsAnchored: [], announced: false, blocked: null });
      expect(inst.unanchoredAuditSegments()).toEqual([]);
      expect(readOutbox(inst)).toBeNull();
      expect(provenAnchor(body.seq).record?.tx_hash).toEqual(txHash(stx));
      // No second transaction: the instance address's nonce is the crashed run's.
      expect((await client.account(instanceKey.address)).nonce).toBe(tx.nonce);
    } finally {
      inst.close();
    }
  });

  it('after a crash between recording and submitting, the next run submits that same transaction', async () => {
    const inst = Instance.open({ dir, hostKey });
    try {
      write(inst, 1, 'crash-b');
      const { body, stx } = await savedAnchor(inst);

      const anchorer = new Anchorer({
        instance: inst,
        chain: client,
        chainId: genesis.chain_id,
        pointPrice: 1,
        schedule: { everyMs: 100, minEntries: 1 },
        announcement: null,
      });
      expect((await anchorer.round()).anchored).toEqual([body.seq]);
      expect(provenAnchor(body.seq).record?.tx_hash).toEqual(txHash(stx));
      expect(inst.auditVerify()).toMatchObject({ ok: true, segments: body.seq });
      // Anchors 1, 2, 3, 4… each exactly once, none skipped.
      for (let seq = 1; seq <= body.seq; seq++) expect(provenAnchor(seq).proven, `anchor ${seq}`).toBe(true);
    } finally {
      inst.close();
    }
  });

  it('anchors consent and revocation commitments in segments of their own kind, numbered 1, 2, 3…', async () => {
    const inst = Instance.open({ dir, hostKey });
    try {
      const grant = (name: string) =>
        grantApp(inst, { app: testAppId(name), scopes: ['storage:read'], did: person.did, signer: person });
      const a = grant('a');
      const b = grant('b');
      const revoked = inst.grants().revoke(a.id, 'person')!;
      const anchorer = new Anchorer({
        instance: inst,
        chain: client,
        chainId: genesis.chain_id,
        pointPrice: 1,
        schedule: { everyMs: 100, minEntries: 1 },
        announcement: null,
      });
      const round = await anchorer.round();
      expect(round.blocked).toBeNull();
      expect(round.grantsAnchored).toEqual([
        { kind: 'consent', seq: 1 },
        { kind: 'revocation', seq: 1 },
      ]);
      // The grants' own audit entries went into an audit segment of the same round.
      expect(round.anchored).toHaveLength(1);

      const consent = provenAnchor(1, 'consent');
      expect(consent.proven).toBe(true);
      expect(consent.record).toMatchObject({
        kind: 'consent',
        seq: 1,
        count: 2,
        signer: instanceKey.address,
      });
      const leaves = [a, b].map((g) => consentLeaf(consentFieldsOf(person.did, g)));
      expect(toHex(consent.record!.root)).toBe(toHex(merkleRoot(leaves)));
      const revocation = provenAnchor(1, 'revocation');
      expect(revocation.proven).toBe(true);
      expect(revocation.record).toMatchObject({ count: 1 });
      const leaf = revocationLeaf({ grant: a.id, revokedAt: revoked.revokedAt! });
      expect(toHex(revocation.record!.root)).toBe(toHex(merkleRoot([leaf])));
      expect(inst.grants().commitments.segments('consent')[0]).toMatchObject({
        seq: 1,
        anchorTx: toHex(consent.record!.tx_hash),
        anchorHeight: consent.record!.height,
      });

      // A later grant is the next consent segment; nothing new to revoke, so no revocation anchor.
      grant('c');
      expect((await anchorer.round()).grantsAnchored).toEqual([{ kind: 'consent', seq: 2 }]);
      expect(provenAnchor(2, 'consent').record).toMatchObject({ count: 1 });
      expect(provenAnchor(2, 'revocation').record).toBeUndefined();
      expect((await anchorer.round()).grantsAnchored).toEqual([]);
    } finally {
      inst.close();
    }
  });
});
