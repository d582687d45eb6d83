import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateHostKey, instanceProcessCommand } from '@self/instance';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalProvisioner, chooseSandbox, findBwrap } from '../src/instances/index.js';
import { instanceNodePid, newPerson, personHeaders } from './instances-fixtures.js';

/**
 * What an instance process can reach under bubblewrap. These tests need bwrap (the `bubblewrap`
 * package, which .ci/run installs) and a kernel that lets it create namespaces; where either is
 * missing they are skipped, and LocalProvisioner runs instances unsandboxed (sandbox 'none').
 */
const bwrap = findBwrap();

describe.skipIf(bwrap === null)(
  'the bubblewrap sandbox (skipped: bwrap is absent or cannot create namespaces here)',
  () => {
    const root = mkdtempSync(join(tmpdir(), 'self-sbx-'));
    const p = new LocalProvisioner({
      root,
      hostKey: generateHostKey(),
      publicUrl: 'http://127.0.0.1:8080',
      sandbox: 'bwrap',
    });
    afterAll(async () => {
      await p.close();
      rmSync(root, { recursive: true, force: true });
    });

    it("runs each instance where its own directory is the only one of the host's it can see", async () => {
      const [a, b] = [newPerson(), newPerson()];
      const homeA = (await p.provision(a)).location;
      const homeB = (await p.provision(b)).location;
      for (const person of [a, b]) {
        const res = await p.forward(person.did, {
          method: 'GET',
          path: '/v1/usage',
          headers: personHeaders(person.did),
        });
        expect(res.status).toBe(200);
      }
      const status = await p.status(a.did);
      expect(status.sandbox).toBe('bwrap');
      const node = instanceNodePid(status.pid!);
      expect(node).not.toBe(status.pid); // bwrap's monitor, then the node process inside

      // A running instance lives in its process's work directory, <root>/.run/<slot>/i.
      const slotOf = (did: string): string =>
        readdirSync(join(root, '.run')).find((slot) => {
          try {
            return (
              JSON.parse(readFileSync(join(root, '.run', slot, 'i', 'instance.json'), 'utf8')).did === did
            );
          } catch {
            return false;
          }
        })!;
      const [slotA, slotB] = [slotOf(a.did), slotOf(b.did)];
      expect(slotA).toBeDefined();
      expect(slotB).toBeDefined();

      // The process's view of the file system, read from the host through /proc/<pid>/root.
      const seen = (path: string): string => `/proc/${node}/root${path}`;
      expect(existsSync(seen(join(root, '.run', slotA, 'i', 'instance.db')))).toBe(true);
      expect(readdirSync(seen(root))).toEqual(['.run']);
      expect(readdirSync(seen(join(root, '.run')))).toEqual([slotA]);
      for (const other of [join(root, '.run', slotB), homeA, homeB])
        expect(existsSync(seen(other)), other).toBe(false);
      // Of the repository, only the loader, the bundle and the native packages are mounted: no sources.
      const repo = fileURLToPath(new URL('../../../', import.meta.url));
      const hidden = ['/root', '/home', '/var', '/etc/shadow', '/etc/passwd', join(repo, 'package.json')];
      const sources = ['packages/instance/src', 'packages/cloud', 'node_modules/fastify', '.git'];
      for (const path of [...hidden, ...sources.map((s) => join(repo, s))]) {
        expect(existsSync(seen(path)), path).toBe(false);
      }
      // No capabilities, and its own pid namespace (NSpid lists the host pid and the inner one).
      const procStatus = readFileSync(`/proc/${node}/status`, 'utf8');
      expect(procStatus).toMatch(/^CapEff:\s+0+$/m);
      expect(procStatus).toMatch(/^NSpid:\s+\d+\s+\d+$/m);
      // Its environment is the minimal one (bwrap adds PWD): no NODE_OPTIONS, no host variables.
      const env = readFileSync(`/proc/${node}/environ`, 'utf8').split('\0').filter(Boolean);
      expect(env.map((e) => e.split('=')[0]).sort()).toEqual(['PATH', 'PWD']);
    });

    it('lets a process write only its own directory: code is read-only, other instances do not exist', async () => {
      const [a, b] = [newPerson(), newPerson()];
      const dirA = (await p.provision(a)).location;
      const dirB = (await p.provision(b)).location;
      const { readPaths } = await instanceProcessCommand();
      const probe = `
      const fs = require('node:fs');
      const attempt = (f) => { try { f(); return 'ok'; } catch (e) { return e.code; } };
      console.log(JSON.stringify({
        ownWrite: attempt(() => fs.writeFileSync(${JSON.stringify(join(dirA, 'probe.txt'))}, 'x')),
        otherRead: attempt(() => fs.readFileSync(${JSON.stringify(join(dirB, 'keys.json'))})),
        otherWrite: attempt(() => fs.writeFileSync(${JSON.stringify(join(dirB, 'probe.txt'))}, 'x')),
        codeWrite: attempt(() => fs.writeFileSync(${JSON.stringify(join(readPaths[1]!, 'probe.txt'))}, 'x')),
        tmpWrite: attempt(() => fs.writeFileSync('/tmp/probe.txt', 'x')),
      }));`;
      const { file, args, env } = chooseSandbox('bwrap').command({
        dir: dirA,
        nodeArgs: ['-e', probe],
        readPaths,
        env: { PATH: '/usr/bin:/bin' },
      });
      const run = spawnSync(file, args, { env, encoding: 'utf8', timeout: 20_000 });
      expect(run.stderr).toBe('');
      expect(JSON.parse(run.stdout)).toEqual({
        ownWrite: 'ok',
        otherRead: 'ENOENT',
        otherWrite: 'ENOENT',
        codeWrite: 'EROFS',
        tmpWrite: 'ok', // a private, empty tmpfs
      });
      expect(existsSync(join(dirB, 'probe.txt'))).toBe(false);
      expect(existsSync('/tmp/probe.txt')).toBe(false);
    });
  },
);
