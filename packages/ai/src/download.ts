import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/**
 * Model files by URI, into a local cache: `https://…` (or `http://`) URLs and
 * `hf:owner/repo/path/file.gguf` (Hugging Face). Downloads go to `<file>.partial` and resume with
 * an HTTP Range request after an interruption; the SHA-256 is checked when known; the finished
 * file is renamed into place, so a file at its cache path is always complete.
 */

export interface DownloadOptions {
  cacheDir: string;
  /** Expected SHA-256 (hex); a mismatch deletes the download. */
  sha256?: string;
  /** Bytes written so far, and the total when the server says it (null otherwise). */
  onProgress?: (done: number, total: number | null) => void;
  signal?: AbortSignal;
  /** Hugging Face base URL (default: SELF_HF_ENDPOINT, else https://huggingface.co). */
  hfEndpoint?: string;
  /** Attempts after an interrupted transfer, each resuming where the last stopped (default 3). */
  retries?: number;
  /** Bearer token for Hugging Face (gated models; default: HF_TOKEN). */
  hfToken?: string;
}

export type DownloadErrorCode = 'not_found' | 'refused' | 'http_error' | 'interrupted' | 'checksum_mismatch';

export class DownloadError extends Error {
  override readonly name = 'DownloadError';

  constructor(
    readonly code: DownloadErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isModelUri(source: string): boolean {
  return /^https?:\/\//i.test(source) || source.startsWith('hf:');
}

interface HfRef {
  owner: string;
  repo: string;
  path: string[];
}

function parseHf(uri: string): HfRef {
  const parts = uri.slice(3).replace(/^\/+/, '').split('/');
  const [owner, repo, ...path] = parts;
  if (!owner || !repo || path.length === 0 || parts.some((p) => p === '' || p === '.' || p === '..'))
    throw new DownloadError(
      'http_error',
      `${uri} is not a model URI of the form hf:owner/repo/path/file.gguf`,
    );
  return { owner, repo, path };
}

/** The URL a model URI is fetched from. */
export function modelUrl(uri: string, hfEndpoint?: string): string {
  if (!uri.startsWith('hf:')) return uri;
  const { owner, repo, path } = parseHf(uri);
  const base = (hfEndpoint ?? process.env.SELF_HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  return `${base}/${owner}/${repo}/resolve/main/${path.map(encodeURIComponent).join('/')}`;
}

/** A path segment safe to use as a file name (no separators, no dot-dot). */
function safeSegment(s: string): string {
  const clean = s.replace(/[^A-Za-z0-9._-]+/g, '_');
  return clean === '' || clean === '.' || clean === '..' ? '_' : clean;
}

/**
 * Where a catalogue source lives on disk, without downloading anything: a local path as it is
 * (resolved against the working directory), a URI at its place in the cache.
 */
export function resolveModelFile(source: string, cacheDir: string): string {
  if (!isModelUri(source)) return resolve(source);
  if (source.startsWith('hf:')) {
    const { owner, repo, path } = parseHf(source);
    return join(cacheDir, 'hf', safeSegment(owner), safeSegment(repo), ...path.map(safeSegment));
  }
  const url = new URL(source);
  const name = safeSegment(url.pathname.split('/').pop() || 'model.gguf');
  const tag = createHash('sha256').update(source).digest('hex').slice(0, 16);
  return join(cacheDir, 'url', safeSegment(url.host), `${tag}-${name}`);
}

const inFlight = new Map<string, Promise<string>>();

/**
 * Makes a model available locally and returns its path: a local path is returned as it is (it
 * must exist); a URI already in the cache (and matching its SHA-256 when given) is not fetched
 * again; otherwise it is downloaded, resuming any earlier partial download.
 */
export async function downloadModel(uri: string, opts: DownloadOptions): Promise<string> {
  const dest = resolveModelFile(uri, opts.cacheDir);
  if (!isModelUri(uri)) {
    try {
      await stat(dest);
    } catch {
      throw new DownloadError('not_found', `the model file ${dest} does not exist`);
    }
    return dest;
  }
  // One download per file at a time in this process; a second caller waits for the first.
  let job = inFlight.get(dest);
  if (!job) {
    job = fetchIntoCache(uri, dest, opts).finally(() => inFlight.delete(dest));
    inFlight.set(dest, job);
  }
  return job;
}

async function fetchIntoCache(uri: string, dest: string, opts: DownloadOptions): Promise<string> {
  const expected = opts.sha256?.toLowerCase();
  if (await exists(dest)) {
    if (expected === undefined || (await hashFile(dest)) === expected) return dest;
    // A file in the cache that does not match is replaced.
    await rm(dest, { force: true });
  }
  await mkdir(dirname(dest), { recursive: true });
  const partial = `${dest}.partial`;
  const url = modelUrl(uri, opts.hfEndpoint);
  const retries = opts.retries ?? 3;
  // Hugging Face's token goes only to Hugging Face (fetch drops it on a cross-origin redirect).
  const token = uri.startsWith('hf:') ? (opts.hfToken ?? process.env.HF_TOKEN) : undefined;
  const auth = token ? `Bearer ${token}` : undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      await transfer(url, partial, opts, auth);
      break;
    } catch (err) {
      const retriable = err instanceof DownloadError && err.code === 'interrupted';
      if (!retriable || attempt >= retries || opts.signal?.aborted) throw err;
    }
  }
  if (expected !== undefined) {
    const actual = await hashFile(partial);
    if (actual !== expected) {
      await rm(partial, { force: true });
      throw new DownloadError(
        'checksum_mismatch',
        `${uri} downloaded with SHA-256 ${actual}, but the catalogue expects ${expected}; the download was deleted`,
      );
    }
  }
  await rename(partial, dest);
  return dest;
}

/** One HTTP transfer into `partial`, continuing from its current size when the server allows. */
async function transfer(url: string, partial: string, opts: DownloadOptions, auth?: string): Promise<void> {
  let have = (await exists(partial)) ? (await stat(partial)).size : 0;
  const headers: Record<string, string> = {};
  if (have > 0) headers.range = `bytes=${have}-`;
  if (auth !== undefined) headers.authorization = auth;
  let res: Response;
  try {
    res = await fetch(url, { headers, redirect: 'follow', ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    throw new DownloadError('interrupted', `cannot fetch ${url}: ${causeOf(err)}`);
  }
  if (res.status === 416 && have > 0) {
    // The partial file does not fit what the server has now: start again.
    await res.body?.cancel();
    await rm(partial, { force: true });
    return transfer(url, partial, opts, auth);
  }
  if (res.status === 404) throw new DownloadError('not_found', `${url} does not exist (404)`);
  if (res.status === 401 || res.status === 403)
    throw new DownloadError(
      'refused',
      `${url} refused the download (${res.status}): a gated model needs HF_TOKEN`,
    );
  if (res.status !== 200 && res.status !== 206)
    throw new DownloadError('http_error', `${url} answered ${res.status} ${res.statusText}`);

  let total: number | null = null;
  if (res.status === 206) {
    const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
    if (!range || Number(range[1]) !== have) {
      // A range we did not ask for: trust nothing of it and restart from the beginning.
      await res.body?.cancel();
      await rm(partial, { force: true });
      return transfer(url, partial, opts, auth);
    }
    total = range[2] === '*' ? null : Number(range[2]);
  } else {
    // 200: the server ignored the range and sends the whole file.
    have = 0;
    const length = Number(res.headers.get('content-length'));
    total = Number.isFinite(length) && res.headers.has('content-length') ? length : null;
  }

  const file = await open(partial, have > 0 ? 'a' : 'w');
  let done = have;
  opts.onProgress?.(done, total);
  try {
    if (!res.body) throw new DownloadError('interrupted', `${url} sent no body`);
    for await (const chunk of res.body) {
      await file.write(chunk);
      done += chunk.byteLength;
      opts.onProgress?.(done, total);
    }
  } catch (err) {
    if (opts.signal?.aborted || err instanceof DownloadError) throw err;
    throw new DownloadError(
      'interrupted',
      `the download of ${url} broke off at ${done} bytes: ${causeOf(err)}`,
    );
  } finally {
    await file.close();
  }
  if (total !== null && done !== total)
    throw new DownloadError('interrupted', `the download of ${url} stopped at ${done} of ${total} bytes`);
}

function causeOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message} (${cause.message})` : err.message;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** SHA-256 of a file, hex. */
export async function hashFile(path: string): Promise<string> {
  const hash: Hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
