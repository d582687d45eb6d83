/**
 * Why a grant or an app token was refused. Stable codes (the HTTP layer maps them to statuses,
 * clients branch on them); messages say what to do and never carry a token or a signature.
 */
export type GrantErrorCode =
  /** The signed consent does not hold up: details.reason says which check failed (400). */
  | 'invalid_consent'
  /** A grant with this id exists with another statement (409). */
  | 'grant_conflict'
  /** No grant with this id (404). */
  | 'not_found'
  /** The app's access token or its grant does not allow access: details.reason (401). */
  | 'invalid_token';

/** Why a POST /v1/grants consent was refused (`details.reason` of invalid_consent). */
export type ConsentRefusal =
  'malformed' | 'wrong_did' | 'bad_signature' | 'expired' | 'not_yet_valid' | 'too_short' | 'too_long';

/** Why an app request was refused (`details.reason` of invalid_token), docs/instance-api.md. */
export type TokenRefusal =
  | 'no_issuer'
  | 'bad_token'
  | 'expired'
  | 'wrong_audience'
  | 'unknown_grant'
  | 'grant_revoked'
  | 'grant_expired'
  | 'scope_not_granted';

const STATUS: Readonly<Record<GrantErrorCode, number>> = {
  invalid_consent: 400,
  grant_conflict: 409,
  not_found: 404,
  invalid_token: 401,
};

export class GrantError extends Error {
  override readonly name = 'GrantError';
  readonly status: number;

  constructor(
    readonly code: GrantErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.status = STATUS[code];
  }
}
