/**
 * Why a provisioner refused or failed. Messages say what to do next and never carry a secret; the
 * gateway maps codes to HTTP (`not_found` 404, `exists` 409, `invalid_argument` 400, the rest 503).
 */
export type ProvisionerErrorCode =
  /** No instance for this DID here. */
  | 'not_found'
  /** provision() for a DID that already has an instance. */
  | 'exists'
  | 'invalid_argument'
  /** A sovereign instance: it opens only with the person's key, never with the host's. */
  | 'locked'
  /** The instance's database failed its integrity check: it stays down until restored from a backup. */
  | 'damaged'
  /** The instance could not be started or reached, or died while answering; try again. */
  | 'unavailable'
  /** The provisioner was closed. */
  | 'closed';

export class ProvisionerError extends Error {
  override readonly name = 'ProvisionerError';

  constructor(
    readonly code: ProvisionerErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function isProvisionerError(err: unknown, code?: ProvisionerErrorCode): err is ProvisionerError {
  return err instanceof ProvisionerError && (code === undefined || err.code === code);
}
