import type { Command } from 'commander';
import { PersonContext, step } from '../device/index.js';
import { addServerOption } from './signup.js';
import { wantsJson } from './status.js';

/** A memory item as the instance keeps it (docs/instance-api.md, the AI section). */
interface MemoryItem {
  id: number;
  content: string;
  created_at: number;
  updated_at: number;
}

const MEMORY_HINTS = {
  not_found: '`self memory ls` lists your memory items and their ids',
  ai_unavailable: 'memory lives in your instance, but this cloud has no AI configured yet',
};

/**
 * `self memory ls|add|edit|rm`: what the assistant remembers about the person, which it proposes
 * in chats and the person can see, correct and delete.
 */
export function registerMemory(program: Command): void {
  const memory = program
    .command('memory')
    .summary('see, add, edit and delete what your assistant remembers')
    .description(
      'memory items are facts your assistant keeps in your instance (it proposes them when you tell it ' +
        'about yourself, or say "remember that …") and uses in later chats. They are yours to review.',
    );

  addServerOption(memory.command('ls').description('list your memory items')).action(
    async (opts: { server?: string }) => {
      const ctx = PersonContext.open({ server: opts.server });
      const { items } = await ctx.call(
        (c) => c.json<{ items: MemoryItem[] }>('GET', ctx.instance('/v1/ai/memory')),
        MEMORY_HINTS,
      );
      if (wantsJson(program)) return console.log(JSON.stringify({ items }));
      if (items.length === 0) return step('your assistant remembers nothing yet');
      for (const item of items) console.log(`${item.id}  ${item.content}`);
    },
  );

  addServerOption(memory.command('add <text...>').description('add a memory item yourself')).action(
    async (words: string[], opts: { server?: string }) => {
      const ctx = PersonContext.open({ server: opts.server });
      const { item } = await ctx.call(
        (c) =>
          c.json<{ item: MemoryItem }>('POST', ctx.instance('/v1/ai/memory'), {
            json: { content: words.join(' ') },
          }),
        MEMORY_HINTS,
      );
      if (wantsJson(program)) console.log(JSON.stringify(item));
      else console.log(`remembered ${item.id}: ${item.content}`);
    },
  );

  addServerOption(
    memory.command('edit <id> <text...>').description('replace the text of a memory item'),
  ).action(async (id: string, words: string[], opts: { server?: string }) => {
    const ctx = PersonContext.open({ server: opts.server });
    const { item } = await ctx.call(
      (c) =>
        c.json<{ item: MemoryItem }>('PATCH', ctx.instance(`/v1/ai/memory/${encodeURIComponent(id)}`), {
          json: { content: words.join(' ') },
        }),
      MEMORY_HINTS,
    );
    if (wantsJson(program)) console.log(JSON.stringify(item));
    else console.log(`updated ${item.id}: ${item.content}`);
  });

  addServerOption(
    memory.command('rm <id>').description('delete a memory item: the assistant forgets it'),
  ).action(async (id: string, opts: { server?: string }) => {
    const ctx = PersonContext.open({ server: opts.server });
    await ctx.call(
      (c) => c.request('DELETE', ctx.instance(`/v1/ai/memory/${encodeURIComponent(id)}`)),
      MEMORY_HINTS,
    );
    if (wantsJson(program)) console.log(JSON.stringify({ deleted: id }));
    else console.log(`forgot ${id}`);
  });
}
