/** The parts of a Fastify/ajv validation error this reads. */
export interface ValidationFailure {
  validation?: Array<{ instancePath?: string; message?: string; keyword?: string; params?: unknown }>;
  validationContext?: string;
}

/**
 * A schema failure as an `invalid_request` message and details: where (body, querystring, params,
 * headers), and every issue with its path, message, keyword and parameters. Null when `err` is not
 * a validation failure.
 */
export function describeValidation(
  err: ValidationFailure,
): { message: string; details: { location: string; issues: unknown[] } } | null {
  if (!Array.isArray(err.validation)) return null;
  const issues = err.validation.map((v) => ({
    path: v.instancePath ?? '',
    message: v.message ?? 'invalid',
    keyword: v.keyword ?? 'unknown',
    ...(v.params !== undefined ? { params: v.params } : {}),
  }));
  const location = err.validationContext ?? 'request';
  return {
    message: `${location}${issues[0]?.path ?? ''} ${issues[0]?.message ?? 'is invalid'}`,
    details: { location, issues },
  };
}
