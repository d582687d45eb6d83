import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { PersonContext, errnoText, readBody, step } from '../device/index.js';
import { addServerOption, parsePositive } from './signup.js';
import { wantsJson } from './status.js';

/** One object of a listing (GET /v1/data/:collection). */
export interface ListItem {
  key: string;
  size: number;
  etag: string;
  version: number;
  updated_at: number;
  content_type: string;
}

interface ListPage {
  items: ListItem[];
  cursor: string | null;
}

/**
 * A key as one path segment. Dots are encoded when the key is `.` or `..`, so nothing on the way
 * (a proxy, a URL library) mistakes the key for path navigation; the instance percent-decodes.
 */
export function keySegment(key: string): string {
  const encoded = encodeURIComponent(key);
  return key === '.' || key === '..' ? encoded.replace(/\./g, '%2E') : encoded;
}

export function dataPath(ctx: PersonContext, collection: string, key?: string): string {
  const base = ctx.instance(`/v1/data/${encodeURIComponent(collection)}`);
  return key === undefined ? base : `${base}/${keySegment(key)}`;
}

const NAME_HINT =
  'collection names are 1–32 of a-z 0-9 _ - starting with a letter; keys are 1–512 bytes of UTF-8 ' +
  'without control characters or leading/trailing spaces';

const DATA_HINTS = {
  not_found: 'no such object; `self data ls <collection>` lists the keys',
  invalid_request: NAME_HINT,
};

export function registerData(program: Command): void {
  const data = program
    .command('data')
    .summary('put, get, list and delete your data')
    .description(
      'store and read your data in your private instance: values are raw bytes, under a collection ' +
        '(a-z 0-9 _ -, starting with a letter) and a key (any UTF-8 text). Signs in when needed.',
    );

  addServerOption(
    data
      .command('put <collection> <key> [value]')
      .description('store a value: the [value] argument, --file F, or standard input with `-`')
      .option('--file <path>', 'read the value from this file (- for standard input)')
      .option(
        '--content-type <type>',
        'the value’s media type (default: text/plain for an argument, else application/octet-stream)',
      )
      .option(
        '--if-match <etag>',
        'store only if the object’s current etag is this one (optimistic concurrency)',
      ),
  ).action(
    async (
      collection: string,
      key: string,
      value: string | undefined,
      opts: { file?: string; contentType?: string; ifMatch?: string; server?: string },
    ) => {
      const body = await readValue(value, opts.file);
      const ctx = PersonContext.open({ server: opts.server });
      const contentType = opts.contentType ?? body.defaultType;
      const result = await ctx.call(
        (c) =>
          c.json<{ version: number; etag: string; size: number }>('PUT', dataPath(ctx, collection, key), {
            body: body.bytes,
            contentType,
            headers:
              opts.ifMatch !== undefined ? { 'if-match': `"${opts.ifMatch.replace(/^"|"$/g, '')}"` } : {},
            timeoutMs: 120_000,
          }),
        {
          ...DATA_HINTS,
          not_found: 'no such collection or key',
          conflict:
            'the object changed (its etag is no longer --if-match); `self data get` it again and retry',
        },
      );
      if (wantsJson(program)) console.log(JSON.stringify({ collection, key, ...result }));
      else
        console.log(
          `stored ${collection}/${key}: version ${result.version}, ${result.size} bytes, etag ${result.etag}`,
        );
    },
  );

  addServerOption(
    data
      .command('get <collection> <key>')
      .description('print a value’s raw bytes to standard output (or write them to --out F)')
      .option('--out <path>', 'write the value to this file (mode 0600) instead of standard output'),
  ).action(async (collection: string, key: string, opts: { out?: string; server?: string }) => {
    const ctx = PersonContext.open({ server: opts.server });
    const got = await ctx.call(async (c) => {
      const res = await c.request('GET', dataPath(ctx, collection, key), { timeoutMs: 120_000 });
      return { headers: res.headers, value: await readBody(res.body) };
    }, DATA_HINTS);
    const meta = {
      collection,
      key,
      content_type: String(got.headers['content-type'] ?? 'application/octet-stream'),
      etag: String(got.headers.etag ?? '').replace(/^"|"$/g, ''),
      version: Number(got.headers['x-self-version'] ?? 0),
      size: got.value.length,
    };
    if (opts.out !== undefined) {
      try {
        writeFileSync(opts.out, got.value, { mode: 0o600 });
      } catch (err) {
        throw new CliError(`cannot write ${opts.out}: ${errnoText(err)}`);
      }
      if (wantsJson(program)) console.log(JSON.stringify({ ...meta, out: opts.out }));
      else step(`wrote ${meta.size} bytes to ${opts.out}`);
      return;
    }
    if (wantsJson(program)) console.log(JSON.stringify({ ...meta, value_b64: got.value.toString('base64') }));
    else await writeStdout(got.value);
  });

  addServerOption(
    data
      .command('ls [collection]')
      .description('list the keys of a collection in byte order (or, without one, your collections)')
      .option('--prefix <text>', 'only keys starting with this')
      .option('--limit <n>', 'keys per page, 1–1000', '100')
      .option('--cursor <cursor>', 'continue a listing where the previous page ended')
      .option('--all', 'follow the pages to the end')
      .option('-l, --long', 'also print size, version, update time and content type'),
  ).action(
    async (
      collection: string | undefined,
      opts: {
        prefix?: string;
        limit: string;
        cursor?: string;
        all?: boolean;
        long?: boolean;
        server?: string;
      },
    ) => {
      const ctx = PersonContext.open({ server: opts.server });
      if (collection === undefined) {
        const r = await ctx.call((c) =>
          c.json<{ collections: Array<{ name: string; objects: number; bytes: number }> }>(
            'GET',
            ctx.instance('/v1/collections'),
          ),
        );
        if (wantsJson(program)) console.log(JSON.stringify(r));
        else
          for (const col of r.collections)
            console.log(`${col.name}\t${col.objects} objects\t${col.bytes} bytes`);
        return;
      }
      const limit = parsePositive(opts.limit, '--limit');
      if (limit > 1000) throw new CliError('--limit must be 1–1000', 2);
      const items: ListItem[] = [];
      let cursor: string | null = opts.cursor ?? null;
      do {
        const page = await ctx.call(
          (c) =>
            c.json<ListPage>('GET', dataPath(ctx, collection), {
              query: { prefix: opts.prefix, limit, cursor: cursor ?? undefined },
            }),
          { not_found: 'no such collection; `self data ls` lists yours', invalid_request: NAME_HINT },
        );
        if (wantsJson(program)) items.push(...page.items);
        else for (const item of page.items) console.log(formatItem(item, opts.long === true));
        cursor = page.cursor;
      } while (opts.all === true && cursor !== null);
      if (wantsJson(program)) console.log(JSON.stringify({ items, cursor }));
      else if (cursor !== null) step(`(more: self data ls ${collection} --cursor ${cursor}, or --all)`);
    },
  );

  addServerOption(data.command('rm <collection> <key>').description('delete an object')).action(
    async (collection: string, key: string, opts: { server?: string }) => {
      const ctx = PersonContext.open({ server: opts.server });
      await ctx.call(async (c) => {
        const res = await c.request('DELETE', dataPath(ctx, collection, key));
        await readBody(res.body);
      }, DATA_HINTS);
      if (wantsJson(program)) console.log(JSON.stringify({ deleted: true, collection, key }));
      else console.log(`deleted ${collection}/${key}`);
    },
  );

  addServerOption(data.command('usage').description('storage used and your quota')).action(
    async (opts: { server?: string }) => {
      const ctx = PersonContext.open({ server: opts.server });
      const u = await ctx.call((c) =>
        c.json<{ bytes: number; quota_bytes: number; objects: number }>('GET', ctx.instance('/v1/usage')),
      );
      if (wantsJson(program)) console.log(JSON.stringify(u));
      else console.log(`${u.objects} objects, ${u.bytes} of ${u.quota_bytes} bytes used`);
    },
  );
}

function formatItem(item: ListItem, long: boolean): string {
  if (!long) return item.key;
  return [
    item.key,
    String(item.size),
    `v${item.version}`,
    new Date(item.updated_at).toISOString(),
    item.content_type,
  ].join('\t');
}

async function readValue(
  value: string | undefined,
  file: string | undefined,
): Promise<{ bytes: Uint8Array; defaultType: string }> {
  if (value !== undefined && file !== undefined)
    throw new CliError('give the value as an argument or --file, not both', 2);
  if (value === undefined && file === undefined)
    throw new CliError('no value: give it as an argument, --file <path>, or `-` to read standard input', 2);
  const source = file ?? value;
  if (source === '-') {
    if (process.stdin.isTTY === true) step('reading the value from standard input (end with Ctrl-D)…');
    return { bytes: await readStdin(), defaultType: 'application/octet-stream' };
  }
  if (file !== undefined) {
    try {
      return { bytes: readFileSync(file), defaultType: 'application/octet-stream' };
    } catch (err) {
      throw new CliError(`cannot read ${file}: ${errnoText(err)}`, 2);
    }
  }
  return { bytes: Buffer.from(value ?? '', 'utf8'), defaultType: 'text/plain; charset=utf-8' };
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function writeStdout(bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(bytes, (err) => (err ? reject(err) : resolve()));
  });
}
