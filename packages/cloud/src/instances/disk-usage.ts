import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Bytes of the files under `dir` (database, WAL, blobs): what the instance stores on disk. */
export async function diskUsage(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await diskUsage(path);
    else if (entry.isFile()) {
      try {
        total += (await lstat(path)).size;
      } catch {
        // removed while counting
      }
    }
  }
  return total;
}
