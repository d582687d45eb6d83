import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Reads the test vectors pinned in a docs/ file. A vector block is a fenced code block whose info
 * string is `json vector <name>`; its body is JSON. Tests check the code against these blocks,
 * so the documentation cannot drift from the implementation.
 */
export function readDocVectors(docRelativePath: string): Map<string, unknown> {
  const path = fileURLToPath(new URL(`../${docRelativePath}`, import.meta.url));
  const text = readFileSync(path, 'utf8');
  const out = new Map<string, unknown>();
  const re = /^```json vector ([\w.-]+)\n([\s\S]*?)^```$/gm;
  for (const m of text.matchAll(re)) {
    const name = m[1]!;
    if (out.has(name)) throw new Error(`${docRelativePath}: duplicate vector ${name}`);
    out.set(name, JSON.parse(m[2]!));
  }
  return out;
}

export function docVector<T>(docRelativePath: string, name: string): T {
  const v = readDocVectors(docRelativePath).get(name);
  if (v === undefined) throw new Error(`${docRelativePath}: no vector named ${name}`);
  return v as T;
}
