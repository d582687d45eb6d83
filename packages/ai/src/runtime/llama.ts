import type { Llama, LlamaGpuType } from 'node-llama-cpp';

/** Where llama.cpp runs: `'auto'` uses a GPU when one (and its prebuilt binary) is present. */
export type GpuSetting = 'auto' | LlamaGpuType;

/** Just what this package writes to a log: structured fields, never prompt or reply text. */
export interface RuntimeLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

type NodeLlamaCpp = typeof import('node-llama-cpp');

let moduleLoad: Promise<NodeLlamaCpp> | undefined;

/**
 * node-llama-cpp, imported on first use: an upstream-only service never loads the native addon,
 * and the environment is set before the module reads it (no binary downloads or builds at run
 * time: SELF uses the prebuilt binaries installed with the package).
 */
export function nodeLlamaCpp(): Promise<NodeLlamaCpp> {
  process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD ??= 'true';
  moduleLoad ??= import('node-llama-cpp');
  return moduleLoad;
}

const llamas = new Map<string, Promise<Llama>>();

/**
 * One llama.cpp binding per GPU setting and process: loading the binding is the slow part, and
 * every model of the process shares it. llama.cpp's own messages go to `logger` at warn and
 * above (they describe the hardware and the model, not the prompts).
 */
export async function sharedLlama(gpu: GpuSetting, logger?: RuntimeLogger): Promise<Llama> {
  const key = String(gpu);
  let llama = llamas.get(key);
  if (!llama) {
    const lib = await nodeLlamaCpp();
    llama = lib.getLlama({
      gpu,
      build: 'never',
      logLevel: lib.LlamaLogLevel.warn,
      logger: (level, message) => {
        const text = message.trim();
        if (text === '' || !logger) return;
        if (level === lib.LlamaLogLevel.error || level === lib.LlamaLogLevel.fatal)
          logger.error({ source: 'llama.cpp' }, text);
        else logger.warn({ source: 'llama.cpp' }, text);
      },
    });
    llamas.set(key, llama);
    llama.catch(() => llamas.delete(key));
  }
  return llama;
}
