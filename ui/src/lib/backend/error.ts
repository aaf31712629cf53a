/**
 * A console command or the event stream failed. `code` is the server's machine-readable
 * code (e.g. `INVALID_INPUT`, `NOT_FOUND`), `field` the input field at fault when there is
 * one, so a form can show the message next to it.
 */
export class BackendError extends Error {
  readonly code: string;
  readonly field: string | null;
  /** HTTP status, or 0 when the server could not be reached. */
  readonly status: number;

  constructor(code: string, message: string, field: string | null = null, status = 0) {
    super(message);
    this.name = 'BackendError';
    this.code = code;
    this.field = field;
    this.status = status;
  }
}

/** Turns an error body `{code, message, field?}` (or anything else) into a BackendError. */
export function backendError(body: unknown, status: number): BackendError {
  if (body && typeof body === 'object' && 'code' in body && 'message' in body) {
    const b = body as { code: unknown; message: unknown; field?: unknown };
    return new BackendError(
      String(b.code),
      String(b.message),
      typeof b.field === 'string' ? b.field : null,
      status,
    );
  }
  return new BackendError('UNEXPECTED_RESPONSE', `the server answered ${status} without an error body`, null, status);
}
