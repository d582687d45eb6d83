/**
 * A one-line progress bar on stderr (stdout stays machine-readable). Silent when stderr is not a
 * terminal, so logs and CI output stay clean.
 */
export function progressBar(label: string, total: number): { update(done: number): void; stop(): void } {
  const tty = process.stderr.isTTY === true;
  let last = -1;
  return {
    update(done: number) {
      if (!tty) return;
      const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
      if (pct === last) return;
      last = pct;
      const width = 24;
      const filled = Math.round((pct / 100) * width);
      process.stderr.write(
        `\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${pct}% (${done}/${total})`,
      );
    },
    stop() {
      if (tty && last >= 0) process.stderr.write('\n');
    },
  };
}
