import { randomFillSync } from 'node:crypto';
import { writeGguf, f32Bytes, tensorByteLength, type GgufTensor, type GgufValue } from './writer.js';

/**
 * The project's own GGUF models, written by script because no weights can be downloaded here.
 *
 * - `writeTestModel`: a tiny llama-architecture model (byte-level SentencePiece vocabulary, ChatML
 *   template) whose weights make it answer every prompt with the same scripted reply, token by
 *   token, and whose mean-pooled embeddings are bags of tokens. CI drives the real llama.cpp
 *   runtime end to end with it in well under a second. It is marked `self.test_model` so that the
 *   inference service refuses to offer it to people unless told it runs under test.
 * - `writeRandomModel`: a model of realistic size with random Q8_0 weights, for speed benchmarks.
 */

/** The reply the test model streams for every prompt. */
export const TEST_MODEL_REPLY =
  'Hello from the SELF test model. This reply is scripted, streamed token by token, and never changes.';
export const TEST_MODEL_NAME = 'self-test-model';
/** GGUF metadata key that marks a model as a test fixture. */
export const TEST_MODEL_MARK = 'self.test_model';

const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, byte: 6 } as const;
const SPACE = '\u2581';

/** ChatML, which node-llama-cpp recognises and which keeps the prompt format unambiguous. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

interface Vocab {
  tokens: string[];
  scores: number[];
  types: number[];
  eos: number;
}

function baseVocab(): Vocab {
  const tokens = ['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>'];
  const types: number[] = [TOKEN_TYPE.unknown, TOKEN_TYPE.control, TOKEN_TYPE.control];
  types.push(TOKEN_TYPE.control, TOKEN_TYPE.control);
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TOKEN_TYPE.byte);
  }
  // The word boundary as a piece of its own, so that spaces detokenize as spaces (bytes of "▁"
  // would not).
  tokens.push(SPACE);
  types.push(TOKEN_TYPE.normal);
  return { tokens, scores: tokens.map(() => 0), types, eos: 4 };
}

/** Splits the scripted reply into SentencePiece pieces: words with their leading space as ▁. */
export function scriptPieces(reply: string): string[] {
  const words = reply.split(' ');
  return words.map((w, i) => (i === 0 ? w : SPACE + w));
}

function commonMetadata(
  name: string,
  vocab: Vocab,
  dims: { embd: number; layers: number; heads: number; ff: number; ctx: number },
): Map<string, GgufValue> {
  return new Map<string, GgufValue>([
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.name', { type: 'string', value: name }],
    ['general.file_type', { type: 'u32', value: 0 }],
    ['llama.context_length', { type: 'u32', value: dims.ctx }],
    ['llama.embedding_length', { type: 'u32', value: dims.embd }],
    ['llama.block_count', { type: 'u32', value: dims.layers }],
    ['llama.feed_forward_length', { type: 'u32', value: dims.ff }],
    ['llama.rope.dimension_count', { type: 'u32', value: dims.embd / dims.heads }],
    ['llama.attention.head_count', { type: 'u32', value: dims.heads }],
    ['llama.attention.head_count_kv', { type: 'u32', value: dims.heads }],
    ['llama.attention.layer_norm_rms_epsilon', { type: 'f32', value: 1e-5 }],
    ['llama.vocab_size', { type: 'u32', value: vocab.tokens.length }],
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'string[]', value: vocab.tokens }],
    ['tokenizer.ggml.scores', { type: 'f32[]', value: vocab.scores }],
    ['tokenizer.ggml.token_type', { type: 'i32[]', value: vocab.types }],
    ['tokenizer.ggml.unknown_token_id', { type: 'u32', value: 0 }],
    ['tokenizer.ggml.bos_token_id', { type: 'u32', value: 1 }],
    ['tokenizer.ggml.eos_token_id', { type: 'u32', value: vocab.eos }],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: true }],
    ['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }],
    ['tokenizer.chat_template', { type: 'string', value: CHATML_TEMPLATE }],
  ]);
}

function f32Tensor(name: string, dims: number[], fill: (v: Float32Array) => void): GgufTensor {
  return {
    name,
    dims,
    type: 'F32',
    data: () => {
      const v = new Float32Array(dims.reduce((a, b) => a * b, 1));
      fill(v);
      return f32Bytes(v);
    },
  };
}

export interface TestModelOptions {
  /** Trained context length written to the metadata (the service may use less). */
  contextLength?: number;
  reply?: string;
}

/**
 * Writes the scripted test model. Its one layer contributes nothing (zero attention output and
 * zero feed-forward down-projection), so the logits depend only on the current token: each token
 * embeds as a one-hot vector and the output matrix maps it to the next token of the script.
 * Every token outside the script leads to the script's first piece, the last piece leads to
 * `<|im_end|>`, so any ChatML prompt gets exactly the scripted reply.
 */
export async function writeTestModel(path: string, opts: TestModelOptions = {}): Promise<void> {
  const vocab = baseVocab();
  const pieces = scriptPieces(opts.reply ?? TEST_MODEL_REPLY);
  if (new Set(pieces).size !== pieces.length) throw new Error('script pieces must be distinct');
  const firstScript = vocab.tokens.length;
  for (const p of pieces) {
    vocab.tokens.push(p);
    vocab.scores.push(-1);
    vocab.types.push(TOKEN_TYPE.normal);
  }
  const nVocab = vocab.tokens.length;
  const embd = Math.ceil(nVocab / 64) * 64;
  const heads = 4;
  const ff = 32;
  const next = (t: number): number => {
    if (t < firstScript) return firstScript;
    if (t === nVocab - 1) return vocab.eos;
    return t + 1;
  };
  const meta = commonMetadata(TEST_MODEL_NAME, vocab, {
    embd,
    layers: 1,
    heads,
    ff,
    ctx: opts.contextLength ?? 4096,
  });
  meta.set('llama.pooling_type', { type: 'u32', value: 1 });
  meta.set(TEST_MODEL_MARK, { type: 'bool', value: true });

  const zeros = (): void => undefined;
  const ones = (v: Float32Array): void => {
    v.fill(1);
  };
  const tensors: GgufTensor[] = [
    f32Tensor('token_embd.weight', [embd, nVocab], (v) => {
      for (let t = 0; t < nVocab; t++) v[t * embd + t] = 1;
    }),
    f32Tensor('output_norm.weight', [embd], ones),
    f32Tensor('output.weight', [embd, nVocab], (v) => {
      // Row j holds the weights of logit j: it fires on every token whose successor is j.
      for (let t = 0; t < nVocab; t++) v[next(t) * embd + t] = 10;
    }),
    f32Tensor('blk.0.attn_norm.weight', [embd], ones),
    f32Tensor('blk.0.attn_q.weight', [embd, embd], zeros),
    f32Tensor('blk.0.attn_k.weight', [embd, embd], zeros),
    f32Tensor('blk.0.attn_v.weight', [embd, embd], zeros),
    f32Tensor('blk.0.attn_output.weight', [embd, embd], zeros),
    f32Tensor('blk.0.ffn_norm.weight', [embd], ones),
    f32Tensor('blk.0.ffn_gate.weight', [embd, ff], zeros),
    f32Tensor('blk.0.ffn_up.weight', [embd, ff], zeros),
    f32Tensor('blk.0.ffn_down.weight', [ff, embd], zeros),
  ];
  await writeGguf(path, meta, tensors);
}

export interface RandomModelOptions {
  embd: number;
  layers: number;
  heads: number;
  ff: number;
  vocab: number;
  contextLength?: number;
  name?: string;
}

/** A preset of roughly 0.3B parameters (about 330 MB at Q8_0): a realistic small assistant. */
export const RANDOM_MODEL_SMALL: RandomModelOptions = {
  embd: 1024,
  layers: 16,
  heads: 16,
  ff: 2816,
  vocab: 32000,
};

function q8Random(dims: number[], scale: number): GgufTensor {
  return {
    name: '',
    dims,
    type: 'Q8_0',
    data: () => {
      const bytes = new Uint8Array(tensorByteLength('Q8_0', dims));
      randomFillSync(bytes);
      // Each 34-byte block is an f16 scale then 32 int8 quants; fix the scale so values stay small.
      const view = new DataView(bytes.buffer);
      const f16 = f32ToF16(scale);
      for (let off = 0; off < bytes.length; off += 34) view.setUint16(off, f16, true);
      return bytes;
    },
  };
}

function f32ToF16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0] ?? 0;
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  const mant = (u >>> 13) & 0x3ff;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | mant;
}

/**
 * `count` word pieces `▁a`, `▁b`, … `▁aa`, … over ten letters, shortest first. The set is closed
 * under prefixes, so SentencePiece's merges rebuild any generated word from its letters: the text a
 * random model writes tokenizes back to about as many tokens as it was generated in, as with a
 * trained vocabulary (pieces without their prefixes would fall back to one byte a character).
 */
function wordPieces(count: number): string[] {
  const letters = 'etaoinshrd';
  const out: string[] = [];
  let level = [SPACE];
  while (out.length < count) {
    const next: string[] = [];
    for (const prefix of level) for (const l of letters) next.push(prefix + l);
    out.push(...next.slice(0, count - out.length));
    level = next;
  }
  return out;
}

/** Writes a llama model with random Q8_0 weights: for measuring speed, never for answers. */
export async function writeRandomModel(path: string, o: RandomModelOptions): Promise<void> {
  const vocab = baseVocab();
  for (const word of wordPieces(o.vocab - vocab.tokens.length)) {
    vocab.tokens.push(word);
    // Longer pieces win, as in a trained SentencePiece model.
    vocab.scores.push(word.length);
    vocab.types.push(TOKEN_TYPE.normal);
  }
  const meta = commonMetadata(o.name ?? 'self-random-model', vocab, {
    embd: o.embd,
    layers: o.layers,
    heads: o.heads,
    ff: o.ff,
    ctx: o.contextLength ?? 4096,
  });
  meta.set('general.file_type', { type: 'u32', value: 7 });
  meta.set(TEST_MODEL_MARK, { type: 'bool', value: true });
  const named = (name: string, t: GgufTensor): GgufTensor => ({ ...t, name });
  const norm = (name: string): GgufTensor => f32Tensor(name, [o.embd], (v) => v.fill(1));
  const s = 0.02 / 64;
  const tensors: GgufTensor[] = [
    named('token_embd.weight', q8Random([o.embd, o.vocab], s)),
    norm('output_norm.weight'),
    named('output.weight', q8Random([o.embd, o.vocab], s)),
  ];
  for (let l = 0; l < o.layers; l++) {
    const p = `blk.${l}.`;
    tensors.push(
      norm(`${p}attn_norm.weight`),
      named(`${p}attn_q.weight`, q8Random([o.embd, o.embd], s)),
      named(`${p}attn_k.weight`, q8Random([o.embd, o.embd], s)),
      named(`${p}attn_v.weight`, q8Random([o.embd, o.embd], s)),
      named(`${p}attn_output.weight`, q8Random([o.embd, o.embd], s)),
      norm(`${p}ffn_norm.weight`),
      named(`${p}ffn_gate.weight`, q8Random([o.embd, o.ff], s)),
      named(`${p}ffn_up.weight`, q8Random([o.embd, o.ff], s)),
      named(`${p}ffn_down.weight`, q8Random([o.ff, o.embd], s)),
    );
  }
  await writeGguf(path, meta, tensors);
}
