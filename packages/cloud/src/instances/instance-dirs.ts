import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readInstanceFile } from '@self/instance';

/**
 * Where instances live on disk. A stopped instance is at its home, `<root>/inst-<16 hex>`. A running
 * one is moved (one rename, same file system) into the work directory of the process that serves
 * it, `<root>/.run/<slot>/i`: processes are started ahead of need (spares, with no instance and no
 * secret), and under bubblewrap a process sees only the directory it was given when it started,
 * so an instance comes to its process rather than the other way round. When the process exits,
 * the instance goes home. A provisioner that died with instances out moves them home on its next
 * start (recoverRunDirs).
 */

export const RUN_DIR = '.run';
const INSTANCE_IN_SLOT = 'i';

export function instanceIdFor(did: string): string {
  return `inst-${createHash('sha256').update(did).digest('hex').slice(0, 16)}`;
}

/** A new, empty work directory for one process (mode 0700). */
export function newSlot(root: string): string {
  const slot = join(root, RUN_DIR, randomBytes(3).toString('hex'));
  mkdirSync(slot, { recursive: true, mode: 0o700 });
  return slot;
}

/** The longest path suffix a socket gets under the root: `/.run/<slot>/i/instance.sock`. */
export const SOCKET_SUFFIX_BYTES = `/${RUN_DIR}/000000/${INSTANCE_IN_SLOT}/instance.sock`.length;

/** Moves the instance at `home` into `slot`; returns where it now is. */
export function moveIntoSlot(home: string, slot: string): string {
  const inSlot = join(slot, INSTANCE_IN_SLOT);
  renameSync(home, inSlot);
  return inSlot;
}

/** Moves the instance in `slot` back to `home` and removes the slot. */
export function moveHome(slot: string, home: string): void {
  const inSlot = join(slot, INSTANCE_IN_SLOT);
  if (existsSync(inSlot)) renameSync(inSlot, home);
  removeSlot(slot);
}

export function removeSlot(slot: string): void {
  // The process's socket may still be there; nothing else is left once the instance moved out.
  rmSync(slot, { recursive: true, force: true });
}

/**
 * Moves every instance left in a work directory (by a provisioner that died) back home, and
 * removes the work directories. Returns the homes it restored.
 */
export function recoverRunDirs(root: string): string[] {
  const run = join(root, RUN_DIR);
  let slots: string[];
  try {
    slots = readdirSync(run);
  } catch {
    return [];
  }
  const restored: string[] = [];
  for (const name of slots) {
    const slot = join(run, name);
    const inSlot = join(slot, INSTANCE_IN_SLOT);
    if (existsSync(inSlot)) {
      let home: string;
      try {
        home = join(root, instanceIdFor(readInstanceFile(inSlot).did));
      } catch {
        continue; // not an instance: leave it for a person to look at
      }
      if (existsSync(home)) continue; // never overwrite; leave both for a person to look at
      renameSync(inSlot, home);
      restored.push(home);
    }
    removeSlot(slot);
  }
  return restored;
}
