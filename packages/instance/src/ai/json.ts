import type { MemoryItem } from './memory.js';
import type { MessageMeta, MessageRecord, MessageRole, MessageStatus, ThreadRecord } from './threads.js';

/** The wire shapes of the assistant's records (snake_case, times in ms since the epoch). */

export interface ThreadJson {
  id: string;
  title: string | null;
  created_at: number;
  updated_at: number;
  message_count: number;
  token_count: number;
  /** The stored summary of the thread's oldest messages (context management), if any. */
  summary: { text: string; upto_message_id: number; summarized_messages: number } | null;
}

export interface MessageJson {
  id: number;
  thread_id: string;
  role: MessageRole;
  content: string;
  tokens: number;
  status: MessageStatus;
  created_at: number;
  meta: MessageMeta;
}

export interface MemoryItemJson {
  id: number;
  content: string;
  source: { thread_id: string; message_id: number | null } | null;
  created_at: number;
  updated_at: number;
}

export function threadJson(t: ThreadRecord): ThreadJson {
  return {
    id: t.id,
    title: t.title,
    created_at: t.createdAt,
    updated_at: t.updatedAt,
    message_count: t.messageCount,
    token_count: t.tokenCount,
    summary:
      t.summary === null || t.summaryUpto === null
        ? null
        : { text: t.summary, upto_message_id: t.summaryUpto, summarized_messages: t.summaryMessages },
  };
}

export function messageJson(m: MessageRecord): MessageJson {
  return {
    id: m.id,
    thread_id: m.threadId,
    role: m.role,
    content: m.content,
    tokens: m.tokens,
    status: m.status,
    created_at: m.createdAt,
    meta: m.meta,
  };
}

export function memoryJson(m: MemoryItem): MemoryItemJson {
  return {
    id: m.id,
    content: m.content,
    source: m.sourceThread === null ? null : { thread_id: m.sourceThread, message_id: m.sourceMessage },
    created_at: m.createdAt,
    updated_at: m.updatedAt,
  };
}
