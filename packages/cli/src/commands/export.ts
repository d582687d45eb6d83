import { createHash, randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { progressBar } from '../progress.js';
import {
  CloudApiError,
  PersonContext,
  errnoText,
  readBody,
  step,
  type CloudClient,
  type CloudResponse,
} from '../device/index.js';
import type { AuditPage } from './audit.js';
import { dataPath, keySegment, type ListItem } from './data.js';
import { addServerOption } from './signup.js';
import { wantsJson } from './status.js';

/**
 * `self export`: the person's whole instance as a `self-export` v1 archive (JSON Lines; the format
 * is documented in packages/instance/src/export.ts). When the cloud serves the instance's export
 * route the archive is streamed as the instance wrote it, from one consistent snapshot. Otherwise
 * the CLI assembles the same format itself through the data and audit routes: the person's
 * namespace (apps' namespaces are not reachable by the person through the API) and the audit log
 * up to the moment it is read, including the reads the export itself made. Either way a file
 * archive is checked with readExport before the command reports success.
 */
export const EXPORT_ROUTE = '/v1/export';

interface ExportOptions {
  out?: string;
  server?: string;
}

export interface ExportReport {
  out: string;
  source: 'instance' | 'cli';
  objects: number;
  audit_entries: number;
  sha256: string;
  bytes: number;
}

export function registerExport(program: Command): void {
  addServerOption(
    program
      .command('export')
      .summary('download all your data and its audit log as one archive')
      .description(
        'download everything your instance holds (your data and its audit log) as one self-export ' +
          'JSON Lines archive, an open format any tool can read. Values are in the clear: the file is ' +
          'written with mode 0600 and is yours to protect.',
      )
      .option('--out <path>', 'archive file (default: self-export-<time>.jsonl here; - for standard output)'),
  ).action(async (opts: ExportOptions) => {
    const ctx = PersonContext.open({ server: opts.server });
    const out = opts.out ?? `self-export-${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`;
    const report = await exportTo(ctx, out);
    if (wantsJson(program)) console.log(JSON.stringify(report));
    else if (out !== '-')
      console.log(
        `exported ${report.objects} objects and ${report.audit_entries} audit entries to ${report.out}\n` +
          `sha256 ${report.sha256} (${report.bytes} bytes)`,
      );
  });
}

/** A destination for the archive's bytes: a file (atomically renamed into place) or stdout. */
interface Sink {
  write(bytes: Uint8Array): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

async function fileSink(path: string): Promise<Sink> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fh: FileHandle;
  try {
    fh = await open(tmp, 'wx', 0o600);
  } catch (err) {
    throw new CliError(`cannot write the archive next to ${path}: ${errnoText(err)}`, 2);
  }
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await fh.close();
  };
  return {
    write: async (bytes) => {
      let off = 0;
      while (off < bytes.length) off += (await fh.write(bytes, off, bytes.length - off)).bytesWritten;
    },
    commit: async () => {
      await fh.sync();
      await close();
      await rename(tmp, path);
    },
    abort: async () => {
      await close().catch(() => undefined);
      await rm(tmp, { force: true });
    },
  };
}

function stdoutSink(): Sink {
  return {
    write: (bytes) =>
      new Promise((resolve, reject) => {
        process.stdout.write(bytes, (err) => (err ? reject(err) : resolve()));
      }),
    commit: async () => undefined,
    abort: async () => undefined,
  };
}

export async function exportTo(ctx: PersonContext, out: string): Promise<ExportReport> {
  const path = out === '-' ? '-' : resolve(out);
  const sink = path === '-' ? stdoutSink() : await fileSink(path);
  let report: Omit<ExportReport, 'out'>;
  try {
    const res = await ctx.call(async (c) => {
      try {
        return await c.request('GET', ctx.instance(EXPORT_ROUTE), { timeoutMs: 300_000 });
      } catch (err) {
        // No export route on this instance: assembled below from the data and audit routes.
        if (err instanceof CloudApiError && (err.status === 404 || err.status === 405)) return null;
        throw err;
      }
    });
    report = res !== null ? await streamServerExport(res, sink) : await assembleExport(ctx, sink);
    await sink.commit();
  } catch (err) {
    await sink.abort();
    throw err;
  }
  if (path !== '-') {
    // Read back with the reference reader: the archive on disk is checked, not just what was sent.
    step('checking the archive…');
    const { readExport, ExportError } = await import('@self/instance');
    try {
      const summary = readExport(path);
      report = {
        ...report,
        objects: summary.objects,
        audit_entries: summary.auditEntries,
        sha256: summary.sha256,
        bytes: summary.bytes,
      };
    } catch (err) {
      if (err instanceof ExportError)
        throw new CliError(
          `the archive ${path} does not check out: ${err.message} (${err.code}); export again`,
        );
      throw err;
    }
  }
  return { out: path, ...report };
}

async function streamServerExport(res: CloudResponse, sink: Sink): Promise<Omit<ExportReport, 'out'>> {
  step('downloading the export from your instance…');
  let bytes = 0;
  for await (const chunk of res.body) {
    await sink.write(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { source: 'instance', objects: 0, audit_entries: 0, sha256: '', bytes };
}

/** JSON lines, hashed as written, in batches of about 1 MiB. */
class LineWriter {
  private readonly hash = createHash('sha256');
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  bytes = 0;

  constructor(private readonly sink: Sink) {}

  async line(value: unknown, hashed = true): Promise<void> {
    const buf = Buffer.from(`${JSON.stringify(value)}\n`, 'utf8');
    if (hashed) this.hash.update(buf);
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    this.bytes += buf.length;
    if (this.pendingBytes >= 1 << 20) await this.flush();
  }

  digest(): string {
    return this.hash.digest('hex');
  }

  async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const all = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    await this.sink.write(all);
  }
}

interface MeInstance {
  instance?: { id?: unknown; instance_id?: unknown; instanceId?: unknown };
}

async function assembleExport(ctx: PersonContext, sink: Sink): Promise<Omit<ExportReport, 'out'>> {
  const { entryFromJson, entryHash } = await import('@self/instance');
  const w = new LineWriter(sink);
  const call = <T>(fn: (c: CloudClient) => Promise<T>): Promise<T> => ctx.call(fn);

  const me = await call((c) => c.json<MeInstance>('GET', '/v1/me')).catch(() => ({}) as MeInstance);
  const id = me.instance?.id ?? me.instance?.instance_id ?? me.instance?.instanceId;
  await w.line({
    format: 'self-export',
    v: 1,
    did: ctx.did,
    instance_id: typeof id === 'string' ? id : '',
    exported_at: Date.now(),
  });

  const { collections } = await call((c) =>
    c.json<{ collections: Array<{ name: string; objects: number }> }>('GET', ctx.instance('/v1/collections')),
  );
  // Byte order of names (ASCII), as the instance's own export writes them.
  collections.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const total = collections.reduce((n, col) => n + col.objects, 0);
  step(`exporting ${total} objects from ${collections.length} collections…`);
  const bar = progressBar('objects', total);
  let objects = 0;
  for (const { name } of collections) {
    let cursor: string | null = null;
    do {
      const page: { items: ListItem[]; cursor: string | null } = await call((c) =>
        c.json('GET', dataPath(ctx, name), { query: { limit: 1000, cursor: cursor ?? undefined } }),
      );
      for (const item of page.items) {
        const obj = await fetchObject(ctx, name, item);
        if (obj === null) continue; // deleted since it was listed
        await w.line({ ns: 'person', collection: name, key: item.key, ...obj });
        bar.update(++objects);
      }
      cursor = page.cursor;
    } while (cursor !== null);
  }
  bar.stop();

  step('exporting the audit log…');
  let auditEntries = 0;
  let prev: string | null = null;
  for (let from: number | null = 1; from !== null;) {
    const page: AuditPage = await call((c) =>
      c.json<AuditPage>('GET', ctx.instance('/v1/audit'), { query: { from: from ?? 1, limit: 1000 } }),
    );
    for (const json of page.entries) {
      const entry = entryFromJson(json);
      const hash = Buffer.from(entryHash(entry)).toString('hex');
      if (prev !== null && json.prev !== prev)
        throw new CliError(
          `the audit log the instance served does not link at entry ${json.seq}; \`self audit --verify\``,
        );
      prev = hash;
      await w.line({ audit: json, hash });
      auditEntries++;
    }
    from = page.next;
  }

  const sha256 = w.digest();
  await w.line({ end: true, objects, audit_entries: auditEntries, sha256 }, false);
  await w.flush();
  return { source: 'cli', objects, audit_entries: auditEntries, sha256, bytes: w.bytes };
}

interface ExportedFields {
  content_type: string;
  version: number;
  updated_at: number;
  etag: string;
  value_b64: string;
}

/** One object's line fields, or null when it is gone; the value is checked against its etag. */
async function fetchObject(
  ctx: PersonContext,
  collection: string,
  item: ListItem,
): Promise<ExportedFields | null> {
  const got = await ctx.call(async (c) => {
    try {
      const res = await c.request('GET', `${dataPath(ctx, collection)}/${keySegment(item.key)}`, {
        timeoutMs: 120_000,
      });
      return { headers: res.headers, value: await readBody(res.body) };
    } catch (err) {
      if (err instanceof CloudApiError && err.status === 404 && err.code === 'not_found') return null;
      throw err;
    }
  });
  if (got === null) return null;
  const etag = createHash('sha256').update(got.value).digest('hex');
  const served = String(got.headers.etag ?? '').replace(/^"|"$/g, '');
  if (served !== etag)
    throw new CliError(
      `the value of ${collection}/${item.key} does not match its etag: the transfer was damaged; export again`,
    );
  const changed = etag !== item.etag;
  const lastModified = Date.parse(String(got.headers['last-modified'] ?? ''));
  return {
    content_type: String(got.headers['content-type'] ?? item.content_type),
    version: changed ? Number(got.headers['x-self-version'] ?? item.version) : item.version,
    updated_at: changed && Number.isFinite(lastModified) ? lastModified : item.updated_at,
    etag,
    value_b64: got.value.toString('base64'),
  };
}
