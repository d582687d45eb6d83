import { join } from 'node:path';
import { ensureHome, readTextIfExists, writeFileAtomic } from './device/index.js';

/**
 * `developer.json` (0600, in the device home beside identity.json): the developer account this
 * device registered and its API key.
 *
 *   {"server":"http://127.0.0.1:8080","did":"did:self:…","developer_id":"dev_…","api_key":"self_dk_…",…}
 *
 * Not encrypted, like session.json: the key is what a developer's server or CI would hold anyway,
 * and the cloud keeps only its hash, so this file is the one copy. It authenticates `self dev`
 * commands without a session; losing it means registering a new key.
 */
export interface DeveloperFile {
  server: string;
  did: string;
  developer_id: string;
  email: string;
  project: string;
  api_key: string;
  created_at: number;
}

export const DEVELOPER_FILE = 'developer.json';

export function developerPath(home: string): string {
  return join(home, DEVELOPER_FILE);
}

/** The saved developer account, or null when there is none or it is unreadable. */
export function readDeveloperFile(home: string): DeveloperFile | null {
  const text = readTextIfExists(developerPath(home));
  if (text === null) return null;
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    const strings = ['server', 'did', 'developer_id', 'email', 'project', 'api_key'] as const;
    if (strings.every((k) => typeof o[k] === 'string') && typeof o.created_at === 'number') {
      return {
        server: o.server as string,
        did: o.did as string,
        developer_id: o.developer_id as string,
        email: o.email as string,
        project: o.project as string,
        api_key: o.api_key as string,
        created_at: o.created_at,
      };
    }
  } catch {
    // Damaged: treated as absent (the session still authenticates developer routes).
  }
  return null;
}

export function writeDeveloperFile(home: string, file: DeveloperFile): string {
  ensureHome(home);
  const path = developerPath(home);
  writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`);
  return path;
}
