import type { Provisioner } from '../instances/index.js';
import { OAuthError } from './errors.js';

/** An instance's grant as its API answers it (docs/instance-api.md, "Grants"). */
export interface InstanceGrant {
  id: string;
  app_id: string;
  scopes: string[];
  issued_at: number;
  expires_at: number;
  revoked_at: number | null;
  state: 'active' | 'revoked' | 'expired';
  [field: string]: unknown;
}

export interface InstanceAnswer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * Calls a person's instance as that person (the cloud acts for them only in the steps they
 * started: relaying a consent they signed, listing and revoking their grants). The gateway sets
 * the identity headers itself, as the forwarding route does.
 */
export async function callAsPerson(
  provisioner: Provisioner,
  did: string,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  json?: unknown,
): Promise<InstanceAnswer> {
  const headers: Record<string, string> = {
    'x-self-actor': 'person',
    'x-self-did': did,
    accept: 'application/json',
  };
  let body: Uint8Array | undefined;
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    body = Buffer.from(JSON.stringify(json));
  }
  const res = await provisioner.forward(did, { method, path, headers, ...(body ? { body } : {}) });
  if (res.stream !== undefined) res.stream.destroy();
  let parsed: Record<string, unknown> = {};
  try {
    const text = Buffer.from(res.body).toString('utf8');
    parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    parsed = {};
  }
  return { status: res.status, body: parsed };
}

/**
 * An instance's refusal passed on: its 4xx keeps its status and code (it is about what the person
 * or app sent); anything else is the instance being unavailable.
 */
export function instanceFailure(answer: InstanceAnswer, what: string): OAuthError {
  const b = answer.body;
  const code = typeof b.error === 'string' ? b.error : 'unavailable';
  const message = typeof b.message === 'string' ? b.message : `the instance could not ${what}`;
  const details =
    typeof b.details === 'object' && b.details !== null ? (b.details as Record<string, unknown>) : {};
  if (answer.status >= 400 && answer.status < 500)
    return new OAuthError(answer.status, code, message, details);
  return new OAuthError(503, 'unavailable', `the instance could not ${what} right now; try again shortly`, {
    instance_status: answer.status,
  });
}

export const grantOf = (answer: InstanceAnswer): InstanceGrant | null => {
  const g = answer.body.grant;
  return typeof g === 'object' && g !== null ? (g as InstanceGrant) : null;
};
