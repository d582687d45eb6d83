import type { Command } from 'commander';
import type { AuditEntryJson } from '@self/instance';
import { CliError } from '../errors.js';
import { PersonContext, step } from '../device/index.js';
import { addServerOption, parsePositive } from './signup.js';
import { wantsJson } from './status.js';

export interface AuditPage {
  entries: AuditEntryJson[];
  next: number | null;
}

type VerifyResult =
  | { ok: true; entries: number; segments: number; head: string }
  | { ok: false; seq: number; reason: string; message: string; segment?: number };

interface AuditOptions {
  verify?: boolean;
  from: string;
  limit: string;
  all?: boolean;
  proof?: string;
  server?: string;
}

export function registerAudit(program: Command): void {
  addServerOption(
    program
      .command('audit')
      .summary('read and verify your instance’s audit log')
      .description(
        'read your instance’s audit log: every access to your data, by you or an app, hash-chained. ' +
          '--verify re-hashes the whole chain and its closed segments; --proof SEQ prints one entry’s ' +
          'Merkle proof (checkable against its SELF Chain anchor).',
      )
      .option('--verify', 'check the log’s integrity instead of listing it (exit 1 if it is broken)')
      .option('--from <seq>', 'first entry to list', '1')
      .option('--limit <n>', 'entries per page, 1–1000', '100')
      .option('--all', 'follow the pages to the end of the log')
      .option('--proof <seq>', 'print the inclusion proof of entry SEQ (its segment must be closed)'),
  ).action(async (opts: AuditOptions) => {
    const ctx = PersonContext.open({ server: opts.server });
    const json = wantsJson(program);
    const base = ctx.instance('/v1/audit');

    if (opts.verify === true) {
      const r = await ctx.call((c) => c.json<VerifyResult>('GET', `${base}/verify`, { timeoutMs: 300_000 }));
      if (json) console.log(JSON.stringify(r));
      else if (r.ok)
        console.log(`audit log intact: ${r.entries} entries, ${r.segments} closed segments, head ${r.head}`);
      if (!r.ok) {
        throw new CliError(
          `the audit log is broken at entry ${r.seq}: ${r.message} (${r.reason})\n` +
            '  hint: the instance’s storage was damaged or altered; keep a copy (`self export`) and tell your cloud operator',
        );
      }
      return;
    }

    if (opts.proof !== undefined) {
      const seq = parsePositive(opts.proof, '--proof');
      const proof = await ctx.call((c) => c.json<unknown>('GET', `${base}/${seq}/proof`), {
        not_segmented:
          'the entry’s segment is not closed yet (the instance closes one at each anchor); try again later',
        not_found: 'there is no entry with that number',
      });
      console.log(JSON.stringify(proof, null, json ? 0 : 2));
      return;
    }

    let from: number | null = parsePositive(opts.from, '--from');
    const limit = parsePositive(opts.limit, '--limit');
    if (limit > 1000) throw new CliError('--limit must be 1–1000', 2);
    const entries: AuditEntryJson[] = [];
    do {
      const page: AuditPage = await ctx.call((c) =>
        c.json<AuditPage>('GET', base, { query: { from: from ?? 1, limit } }),
      );
      if (json) entries.push(...page.entries);
      else for (const e of page.entries) console.log(formatEntry(e));
      from = page.next;
    } while (opts.all === true && from !== null);
    if (json) console.log(JSON.stringify({ entries, next: from }));
    else if (from !== null) step(`(more: self audit --from ${from}, or --all)`);
  });
}

export function formatEntry(e: AuditEntryJson): string {
  const who = e.app === null ? 'you' : `app ${e.app}`;
  return [String(e.seq).padStart(6), new Date(e.time).toISOString(), who, e.action, e.object, e.outcome].join(
    '  ',
  );
}
