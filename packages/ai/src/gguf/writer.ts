import { createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { once } from 'node:events';

/**
 * A GGUF v3 writer (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md).
 *
 * Written by hand: npm has GGUF readers (node-llama-cpp's own, @huggingface/gguf) but no maintained
 * writer, and the format is a short header, typed key/value metadata and aligned tensor data. The
 * files it writes are checked by node-llama-cpp's reader and loaded by llama.cpp in the tests.
 */

export const GGUF_VERSION = 3;
const ALIGNMENT = 32;

export type GgufValue =
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'u64'; value: bigint }
  | { type: 'string[]'; value: readonly string[] }
  | { type: 'f32[]'; value: readonly number[] | Float32Array }
  | { type: 'i32[]'; value: readonly number[] | Int32Array };

/** ggml tensor types this writer can emit. */
export const GgmlType = { F32: 0, F16: 1, Q8_0: 8 } as const;
export type GgmlTypeName = keyof typeof GgmlType;

export interface GgufTensor {
  name: string;
  /** ggml order: dims[0] is the contiguous (row) dimension. */
  dims: readonly number[];
  type: GgmlTypeName;
  /** The encoded tensor bytes, produced lazily so large models never sit in memory whole. */
  data: () => Uint8Array;
}

const VT = { u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10 } as const;

class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;
  push(buf: Buffer): void {
    this.chunks.push(buf);
    this.length += buf.length;
  }
  u32(n: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    this.push(b);
  }
  i32(n: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(n);
    this.push(b);
  }
  f32(n: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(n);
    this.push(b);
  }
  u64(n: bigint | number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    this.push(b);
  }
  str(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.push(bytes);
  }
  pad(to: number): void {
    const rem = this.length % to;
    if (rem !== 0) this.push(Buffer.alloc(to - rem));
  }
  concat(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

function writeValue(sink: ByteSink, v: GgufValue): void {
  switch (v.type) {
    case 'u32':
      sink.u32(VT.u32);
      sink.u32(v.value);
      return;
    case 'i32':
      sink.u32(VT.i32);
      sink.i32(v.value);
      return;
    case 'f32':
      sink.u32(VT.f32);
      sink.f32(v.value);
      return;
    case 'bool':
      sink.u32(VT.bool);
      sink.push(Buffer.from([v.value ? 1 : 0]));
      return;
    case 'string':
      sink.u32(VT.string);
      sink.str(v.value);
      return;
    case 'u64':
      sink.u32(VT.u64);
      sink.u64(v.value);
      return;
    case 'string[]':
      sink.u32(VT.array);
      sink.u32(VT.string);
      sink.u64(v.value.length);
      for (const s of v.value) sink.str(s);
      return;
    case 'f32[]':
      sink.u32(VT.array);
      sink.u32(VT.f32);
      sink.u64(v.value.length);
      for (const x of v.value) sink.f32(x);
      return;
    case 'i32[]':
      sink.u32(VT.array);
      sink.u32(VT.i32);
      sink.u64(v.value.length);
      for (const x of v.value) sink.i32(x);
      return;
  }
}

/** Bytes a tensor of this type and shape occupies. */
export function tensorByteLength(type: GgmlTypeName, dims: readonly number[]): number {
  const n = dims.reduce((a, b) => a * b, 1);
  switch (type) {
    case 'F32':
      return n * 4;
    case 'F16':
      return n * 2;
    case 'Q8_0':
      if ((dims[0] ?? 0) % 32 !== 0) throw new Error('Q8_0 rows must be a multiple of 32');
      return (n / 32) * 34;
  }
}

/**
 * Writes a GGUF file atomically (a temporary file renamed into place), streaming tensor data
 * one tensor at a time.
 */
export async function writeGguf(
  path: string,
  metadata: ReadonlyMap<string, GgufValue>,
  tensors: readonly GgufTensor[],
): Promise<void> {
  const head = new ByteSink();
  head.push(Buffer.from('GGUF', 'ascii'));
  head.u32(GGUF_VERSION);
  head.u64(tensors.length);
  head.u64(metadata.size + (metadata.has('general.alignment') ? 0 : 1));
  for (const [key, value] of metadata) {
    head.str(key);
    writeValue(head, value);
  }
  if (!metadata.has('general.alignment')) {
    head.str('general.alignment');
    writeValue(head, { type: 'u32', value: ALIGNMENT });
  }
  let offset = 0;
  for (const t of tensors) {
    head.str(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(GgmlType[t.type]);
    head.u64(offset);
    offset += tensorByteLength(t.type, t.dims);
    offset = Math.ceil(offset / ALIGNMENT) * ALIGNMENT;
  }
  head.pad(ALIGNMENT);

  const tmp = `${path}.${process.pid}.tmp`;
  const out = createWriteStream(tmp);
  const write = async (buf: Uint8Array): Promise<void> => {
    if (!out.write(buf)) await once(out, 'drain');
  };
  try {
    await write(head.concat());
    for (const t of tensors) {
      const bytes = t.data();
      const want = tensorByteLength(t.type, t.dims);
      if (bytes.length !== want) {
        throw new Error(`tensor ${t.name}: ${bytes.length} bytes given, ${want} expected`);
      }
      await write(bytes);
      const rem = bytes.length % ALIGNMENT;
      if (rem !== 0) await write(new Uint8Array(ALIGNMENT - rem));
    }
    out.end();
    await once(out, 'finish');
    await rename(tmp, path);
  } catch (err) {
    out.destroy();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Encodes float32 values as F32 tensor bytes. */
export function f32Bytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
