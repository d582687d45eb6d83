import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { PersonContext, step } from '../device/index.js';
import { readSession } from '../device/session.js';
import { progressBar } from '../progress.js';
import { addServerOption } from './signup.js';
import { wantsJson } from './status.js';

/** A model as the instance's OpenAI-compatible /v1/models lists it, with SELF's fields. */
interface ModelEntry {
  id: string;
  context_length?: number;
  runtime?: string;
  state?: string;
  unavailable_reason?: string;
}

/** Where `self up` and `self ai pull` keep downloaded models under the data directory. */
export const modelCacheDir = (dataDir: string): string => resolve(dataDir, 'models');

const AI_HINTS = {
  ai_unavailable:
    'this cloud has no AI model running; its operator can start one with `self up --model <file.gguf>`',
};

export function registerAi(program: Command): void {
  const ai = program
    .command('ai')
    .summary('your private AI: its OpenAI-compatible endpoint, its models; operators: pull models')
    .description(
      'your private AI runs next to your instance and answers only you (and the apps you allow). ' +
        'Its API speaks the OpenAI protocol, so OpenAI clients work against it.',
    );

  addServerOption(
    ai
      .command('endpoint')
      .description(
        'print the base URL and a bearer token for your OpenAI-compatible endpoint (for the `openai` ' +
          'client: baseURL and apiKey). The token is a session: keep it secret; `self logout` ends it.',
      ),
  ).action(async (opts: { server?: string }) => {
    const ctx = PersonContext.open({ server: opts.server });
    await ctx.ensureSession();
    const token = ctx.client.token;
    if (token === null) throw new CliError('no session could be made; run `self login`');
    const session = readSession(ctx.home);
    const expiresAt = session?.token === token ? session.expires_at : null;
    const baseUrl = `${ctx.server}${ctx.instance('/v1/')}`.replace(/\/$/, '');
    if (wantsJson(program)) {
      console.log(JSON.stringify({ base_url: baseUrl, api_key: token, expires_at: expiresAt }));
      return;
    }
    console.log(`base URL: ${baseUrl}`);
    console.log(`API key:  ${token}`);
    if (expiresAt !== null)
      step(`the key is your session and expires at ${new Date(expiresAt).toISOString()}`);
    step(`e.g.  new OpenAI({ baseURL: '${baseUrl}', apiKey: '<API key>' }).chat.completions.create(…)`);
  });

  addServerOption(
    ai.command('models').description('list the models your tier may use (the first is the default)'),
  ).action(async (opts: { server?: string }) => {
    const ctx = PersonContext.open({ server: opts.server });
    const list = await ctx.call(
      (c) => c.json<{ data: ModelEntry[] }>('GET', ctx.instance('/v1/models')),
      AI_HINTS,
    );
    if (wantsJson(program)) return console.log(JSON.stringify({ models: list.data }));
    if (list.data.length === 0) return step('your tier has no AI model on this cloud');
    list.data.forEach((m, i) => {
      const ctxLen = !m.context_length ? '' : `  context ${m.context_length} tokens`;
      const state =
        m.state === undefined || m.state === 'ready'
          ? ''
          : `  (${m.state}${m.unavailable_reason ? `: ${m.unavailable_reason}` : ''})`;
      console.log(`${m.id}${i === 0 ? '  [default]' : ''}${ctxLen}${state}`);
    });
  });

  ai.command('pull <model-uri>')
    .description(
      'operators: download a GGUF model into the cloud’s model cache (<data>/models), resumably, with ' +
        'a progress bar and a SHA-256 check. URIs: https://…/file.gguf or hf:<owner>/<repo>/<file>.gguf',
    )
    .option('--data <dir>', 'the data directory of `self up`', './.self')
    .option('--sha256 <hex>', 'the file’s expected SHA-256 (checked after the download)')
    .action(async (uri: string, opts: { data: string; sha256?: string }) => {
      if (opts.sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(opts.sha256))
        throw new CliError('--sha256 is 64 hex digits', 2);
      const { downloadModel } = await import('@self/ai');
      const cacheDir = modelCacheDir(opts.data);
      let bar: ReturnType<typeof progressBar> | null = null;
      let path: string;
      try {
        path = await downloadModel(uri, {
          cacheDir,
          ...(opts.sha256 === undefined ? {} : { sha256: opts.sha256.toLowerCase() }),
          onProgress: (done: number, total: number | null) => {
            if (total === null || total <= 0) return;
            bar ??= progressBar(`pulling ${uri}`, total);
            bar.update(done);
          },
        });
      } catch (err) {
        throw new CliError(
          `could not pull ${uri}: ${err instanceof Error ? err.message : String(err)}\n` +
            '  hint: check the URI and the network; running the command again resumes the download',
        );
      } finally {
        (bar as ReturnType<typeof progressBar> | null)?.stop();
      }
      if (wantsJson(program)) console.log(JSON.stringify({ uri, path }));
      else {
        console.log(path);
        step(`serve it with: self up --model ${uri}`);
      }
    });
}
