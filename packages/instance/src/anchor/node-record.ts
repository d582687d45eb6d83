/**
 * The node record an instance announces on chain (`node.announce`): where the gateway serves it.
 * Its peer id is the instance key's address (the chain's peer ids are alphanumeric).
 */

export const INSTANCE_NODE_ROLES = ['instance'] as const;
export const INSTANCE_NODE_VERSION = '0.1.0';

export interface NodeAnnouncement {
  did: string;
  peer_id: string;
  multiaddrs: string[];
  roles: string[];
  version: string;
}

const IPV4_RE = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * The multiaddr of an HTTP endpoint: `/ip4|ip6|dns4/<host>/tcp/<port>/http` (`/tls/http` for
 * https), then `/http-path/<path, percent-encoded, without its leading slash>` when the path is not
 * `/`. E.g. http://127.0.0.1:8080/v1/i/did:self:self1… →
 * `/ip4/127.0.0.1/tcp/8080/http/http-path/v1%2Fi%2Fdid%3Aself%3Aself1…`.
 */
export function endpointMultiaddr(endpoint: string): string {
  const url = new URL(endpoint);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`an instance endpoint is an http(s) URL, got ${url.protocol}`);
  }
  const tls = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const hostPart = url.hostname.startsWith('[') ? 'ip6' : IPV4_RE.test(host) ? 'ip4' : 'dns4';
  const port = url.port === '' ? (tls ? 443 : 80) : Number(url.port);
  const path = url.pathname.replace(/^\/+/, '').replace(/\/+$/, '');
  return (
    `/${hostPart}/${host}/tcp/${port}${tls ? '/tls/http' : '/http'}` +
    (path === '' ? '' : `/http-path/${encodeURIComponent(safeDecode(path))}`)
  );
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

export function instanceAnnouncement(
  did: string,
  instanceAddress: string,
  endpoint: string,
): NodeAnnouncement {
  return {
    did,
    peer_id: instanceAddress,
    multiaddrs: [endpointMultiaddr(endpoint)],
    roles: [...INSTANCE_NODE_ROLES],
    version: INSTANCE_NODE_VERSION,
  };
}

export function sameAnnouncement(a: NodeAnnouncement, b: NodeAnnouncement): boolean {
  const list = (x: string[]): string => JSON.stringify(x);
  return (
    a.did === b.did &&
    a.peer_id === b.peer_id &&
    a.version === b.version &&
    list(a.multiaddrs) === list(b.multiaddrs) &&
    list(a.roles) === list(b.roles)
  );
}
