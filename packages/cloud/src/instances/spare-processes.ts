import { instanceProcessCommand, type InstanceProcessCommand } from '@self/instance';
import type { Logger } from 'pino';
import { newSlot, removeSlot } from './instance-dirs.js';
import { InstanceProcess } from './instance-process.js';
import type { Sandbox } from './sandbox.js';

/** An idle process and the work directory (slot) it was started in. */
export interface SlottedProcess {
  proc: InstanceProcess;
  slot: string;
}

/**
 * Starts instance processes ahead of need. Starting node and loading the instance code is most of
 * a cold start; a spare has done both and waits, holding no instance and no secret, until a
 * request needs one. take() hands out the spare (or starts a process at once when there is none)
 * and starts the next spare a moment later, off the path of the request that took it.
 */
export class SpareProcesses {
  private command: Promise<InstanceProcessCommand>;
  private spare: SlottedProcess | null = null;
  private refilling = false;
  private closed = false;

  constructor(
    private readonly opts: {
      root: string;
      sandbox: Sandbox;
      env: Record<string, string>;
      logger: Logger;
      /** How many idle processes to keep: 0 or 1. */
      spares: number;
    },
  ) {
    // Built (or found on disk) now, so that the first start does not wait for esbuild.
    this.command = instanceProcessCommand();
    this.command.then(
      () => this.refill(0),
      () => undefined,
    );
  }

  /** An idle process in its own slot. */
  async take(): Promise<SlottedProcess> {
    const spare = this.spare;
    this.spare = null;
    this.refill(250);
    if (spare !== null && spare.proc.state === 'idle') return spare;
    if (spare !== null) removeSlot(spare.slot);
    return this.spawn();
  }

  async close(): Promise<void> {
    this.closed = true;
    const spare = this.spare;
    this.spare = null;
    if (spare !== null) {
      await spare.proc.stop(1_000);
      removeSlot(spare.slot);
    }
  }

  private async spawn(): Promise<SlottedProcess> {
    const command = await this.command.catch(() => (this.command = instanceProcessCommand()));
    const slot = newSlot(this.opts.root);
    const proc = InstanceProcess.spawnIdle({
      workDir: slot,
      command,
      sandbox: this.opts.sandbox,
      env: this.opts.env,
      logger: this.opts.logger,
    });
    void proc.exited.then(() => {
      // A spare that died before it was taken: nothing of an instance is in its slot.
      if (this.spare?.proc === proc) {
        this.spare = null;
        removeSlot(slot);
      }
    });
    return { proc, slot };
  }

  private refill(delayMs: number): void {
    if (this.closed || this.opts.spares < 1 || this.spare !== null || this.refilling) return;
    this.refilling = true;
    setTimeout(() => {
      if (this.closed) {
        this.refilling = false;
        return;
      }
      void this.spawn()
        .then(async (s) => {
          if (this.closed || this.spare !== null) {
            await s.proc.stop(1_000);
            removeSlot(s.slot);
          } else this.spare = s;
        })
        .catch((err: unknown) => this.opts.logger.warn({ err }, 'could not start a spare instance process'))
        .finally(() => {
          this.refilling = false;
        });
    }, delayMs).unref();
  }
}
