import { spawnSync } from 'node:child_process';

/**
 * A test LAN of network namespaces: one namespace per node, each with a veth into a bridge in the
 * root namespace (which also has an address, so the test reaches every node's API). A partition
 * is a set of blackhole routes inside the namespaces; healing deletes them. Linux, root only.
 */
export class NetnsLan {
  readonly hosts: string[];
  readonly namespaces: string[];
  private readonly bridge: string;
  private readonly blackholes: Array<[ns: string, ip: string]> = [];

  constructor(
    count: number,
    private readonly tag = String(process.pid % 100_000),
    private readonly subnet = '10.199.77',
  ) {
    this.bridge = `sbr${tag}`;
    this.namespaces = Array.from({ length: count }, (_, i) => `sn${tag}-${i}`);
    this.hosts = Array.from({ length: count }, (_, i) => `${subnet}.${10 + i}`);
  }

  /** True when this process may create namespaces (root on Linux with iproute2). */
  static available(): boolean {
    if (process.platform !== 'linux') return false;
    const probe = `snprobe${process.pid % 100_000}`;
    const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
    if (add.status !== 0) return false;
    spawnSync('ip', ['netns', 'del', probe]);
    return true;
  }

  up(): void {
    this.down();
    ip('link', 'add', this.bridge, 'type', 'bridge');
    ip('addr', 'add', `${this.subnet}.1/24`, 'dev', this.bridge);
    ip('link', 'set', this.bridge, 'up');
    this.namespaces.forEach((ns, i) => {
      const host = `sv${this.tag}x${i}`;
      const peer = `sp${this.tag}x${i}`;
      ip('netns', 'add', ns);
      ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
      ip('link', 'set', peer, 'netns', ns);
      ip('link', 'set', host, 'master', this.bridge);
      ip('link', 'set', host, 'up');
      ip('-n', ns, 'addr', 'add', `${this.hosts[i]}/24`, 'dev', peer);
      ip('-n', ns, 'link', 'set', peer, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    });
  }

  /** Cuts every path between the two groups (node indexes), both directions. */
  partition(a: number[], b: number[]): void {
    for (const i of a)
      for (const j of b) {
        this.blackhole(this.namespaces[i]!, this.hosts[j]!);
        this.blackhole(this.namespaces[j]!, this.hosts[i]!);
      }
  }

  heal(): void {
    for (const [ns, ipAddr] of this.blackholes.splice(0))
      ip('-n', ns, 'route', 'del', 'blackhole', `${ipAddr}/32`);
  }

  down(): void {
    for (const ns of this.namespaces) spawnSync('ip', ['netns', 'del', ns]);
    spawnSync('ip', ['link', 'del', this.bridge]);
  }

  private blackhole(ns: string, ipAddr: string): void {
    ip('-n', ns, 'route', 'add', 'blackhole', `${ipAddr}/32`);
    this.blackholes.push([ns, ipAddr]);
  }
}

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
}
