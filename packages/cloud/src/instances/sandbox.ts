import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ProvisionerError } from './errors.js';

/**
 * How an instance process is confined. With bubblewrap (`bwrap`), each process runs in new
 * mount, pid, ipc and uts namespaces (and a new cgroup namespace where the kernel allows) and sees:
 *
 *   read-only: /usr and the /bin, /lib, /lib64, /sbin links (system libraries), the node binary,
 *              the instance bundle's directory and the native packages it loads, and the few /etc
 *              files name resolution and TLS need (resolv.conf, hosts, nsswitch.conf, ssl certs);
 *   writable:  its own instance directory (database, blobs, its socket), and an empty private /tmp;
 *   also:      a private /proc and a minimal /dev; the host network (it reaches the chain API, for
 *              example on 127.0.0.1, and nothing needs to reach it: it serves on its Unix socket).
 *
 * Nothing else of the host's file system exists inside: no other instance directory, no host key
 * file, no control-plane database, no home directories. It runs with no capabilities
 * (`--cap-drop ALL`), in a new session (no terminal injection), with a cleared environment, and it
 * dies with its parent (`--die-with-parent`). Without bubblewrap (`none`), the process runs as the
 * provisioner's user: separate directories (mode 0700) and keys still keep instances apart, but the
 * OS does not.
 */

export type SandboxMode = 'auto' | 'bwrap' | 'none';

export interface Sandbox {
  readonly kind: 'bwrap' | 'none';
  /** The command that runs `node args…` for the instance in `dir`, confined. */
  command(opts: { dir: string; nodeArgs: string[]; readPaths: string[]; env: Record<string, string> }): {
    file: string;
    args: string[];
    env: Record<string, string>;
  };
}

const SYSTEM_LINKS = ['/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32'];
const ETC_FILES = [
  '/etc/resolv.conf',
  '/etc/hosts',
  '/etc/nsswitch.conf',
  '/etc/host.conf',
  '/etc/gai.conf',
  '/etc/localtime',
  '/etc/ssl',
  '/etc/ca-certificates',
  '/etc/pki',
];

let bwrapFound: string | null | undefined;

/** The bwrap binary when it is installed and works here (user namespaces allowed), else null. */
export function findBwrap(): string | null {
  if (bwrapFound !== undefined) return bwrapFound;
  bwrapFound = null;
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const candidate = join(dir, 'bwrap');
    if (!existsSync(candidate)) continue;
    const probe = spawnSync(
      candidate,
      ['--ro-bind', '/', '/', '--unshare-pid', '--die-with-parent', '--', process.execPath, '-e', '0'],
      { stdio: 'ignore', timeout: 10_000, env: {} },
    );
    if (probe.status === 0) bwrapFound = candidate;
    break;
  }
  return bwrapFound;
}

const NO_SANDBOX: Sandbox = {
  kind: 'none',
  command: ({ nodeArgs, env }) => ({ file: process.execPath, args: nodeArgs, env }),
};

export function chooseSandbox(mode: SandboxMode): Sandbox {
  if (mode === 'none') return NO_SANDBOX;
  const bwrap = findBwrap();
  if (bwrap !== null) return bwrapSandbox(bwrap);
  if (mode === 'bwrap') {
    throw new ProvisionerError(
      'unavailable',
      'bubblewrap (bwrap) is not installed or cannot create namespaces here; install the bubblewrap package or use sandbox "auto"/"none"',
    );
  }
  return NO_SANDBOX;
}

function bwrapSandbox(bwrap: string): Sandbox {
  return {
    kind: 'bwrap',
    command: ({ dir, nodeArgs, readPaths, env }) => {
      const node = realpathSync(process.execPath);
      const args = [
        '--die-with-parent',
        '--new-session',
        '--unshare-pid',
        '--unshare-ipc',
        '--unshare-uts',
        '--unshare-cgroup-try',
        '--cap-drop',
        'ALL',
        '--ro-bind',
        '/usr',
        '/usr',
        ...systemLinks(),
        ...ETC_FILES.flatMap((p) => ['--ro-bind-try', p, p]),
        '--proc',
        '/proc',
        '--dev',
        '/dev',
        // Before the binds below: a path under /tmp (a test's instance) is mounted on top of it.
        '--tmpfs',
        '/tmp',
        ...(node.startsWith('/usr/') ? [] : ['--ro-bind', node, node]),
        ...readPaths.flatMap((p) => ['--ro-bind', p, p]),
        '--bind',
        dir,
        dir,
        '--chdir',
        dir,
        '--clearenv',
        ...Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]),
        '--',
        node,
        ...nodeArgs,
      ];
      return { file: bwrap, args, env: {} };
    },
  };
}

/** Merged-/usr systems link /bin, /lib… into /usr: recreate the links; bind real directories. */
function systemLinks(): string[] {
  const out: string[] = [];
  for (const path of SYSTEM_LINKS) {
    let stat;
    try {
      stat = lstatSync(path);
    } catch {
      continue;
    }
    if (stat.isSymbolicLink()) out.push('--symlink', readlinkSync(path), path);
    else if (stat.isDirectory()) out.push('--ro-bind', path, path);
  }
  return out;
}
