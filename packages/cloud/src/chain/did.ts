import { isNodeApiError, type NodeClient } from '@self/node/client';

export type DidChainState = 'active' | 'deactivated' | 'absent';

/** Whether a DID is on chain: the node answers 200 (active), 410 (deactivated) or 404. */
export async function didChainState(client: NodeClient, did: string): Promise<DidChainState> {
  try {
    await client.did(did);
    return 'active';
  } catch (err) {
    if (isNodeApiError(err) && err.status === 404) return 'absent';
    if (isNodeApiError(err) && err.status === 410) return 'deactivated';
    throw err;
  }
}
