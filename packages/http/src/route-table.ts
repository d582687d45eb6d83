/**
 * Which methods each route path answers, so a request with a known path and another method gets
 * 405 method_not_allowed (with Allow) instead of 404.
 */
export class RouteTable {
  private readonly routes: Array<{ pattern: RegExp; methods: Set<string> }> = [];

  add(url: string, method: string | string[]): void {
    if (url.includes('*')) return;
    const source = `^${url
      .split('/')
      .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/')}$`;
    let route = this.routes.find((r) => r.pattern.source === source);
    if (!route) {
      route = { pattern: new RegExp(source), methods: new Set() };
      this.routes.push(route);
    }
    for (const m of Array.isArray(method) ? method : [method]) route.methods.add(m.toUpperCase());
  }

  /** Methods allowed on this path (empty: the path is unknown). */
  allowed(path: string): string[] {
    const methods = new Set<string>();
    for (const r of this.routes) if (r.pattern.test(path)) for (const m of r.methods) methods.add(m);
    return [...methods].sort();
  }
}

/** What to answer a request no route matched: 405 with the allowed methods for a known path, else 404. */
export function describeUnrouted(
  routes: RouteTable,
  method: string,
  url: string,
):
  | { status: 405; code: 'method_not_allowed'; message: string; allowed: string[] }
  | { status: 404; code: 'not_found'; message: string } {
  const path = url.split('?')[0] ?? '';
  const allowed = routes.allowed(path);
  const shown = path.length > 200 ? `${path.slice(0, 200)}…` : path;
  if (allowed.length > 0)
    return {
      status: 405,
      code: 'method_not_allowed',
      message: `${method} is not allowed on ${shown}`,
      allowed,
    };
  return { status: 404, code: 'not_found', message: `no route ${method} ${shown}` };
}
