import { BackendError } from '$lib/backend';

/** What to do when the admin API refuses the token. */
export const TOKEN_HINT = 'Open the dashboard with the link `tollgate dashboard-url` prints (or `tollgate serve` printed in its terminal): it carries the admin token.';

/** A failed action as a form shows it: next to `field` when the server named one. */
export interface ActionError {
  field: string | null;
  message: string;
}

/**
 * Turns anything a command can throw into something to show. Backend errors keep their field
 * (the input's name, e.g. `amount`) so the form can put the message beside that input;
 * anything else (a bug, a network failure) still becomes a readable message, never silence.
 */
export function toActionError(error: unknown): ActionError {
  if (error instanceof BackendError) {
    const message = sentence(error.message || error.code);
    // Without the admin token every call fails the same way: say how to get it.
    if (error.status === 401) return { field: null, message: `${message} ${TOKEN_HINT}` };
    return { field: error.field, message };
  }
  if (error instanceof Error) return { field: null, message: sentence(error.message) };
  return { field: null, message: sentence(String(error)) };
}

/**
 * The message for `field` if the error belongs to it, for a field's error slot. Beside the
 * field, the server's `field: ` prefix only repeats the label, so it goes.
 */
export function fieldError(error: ActionError | null, field: string): string | null {
  if (!error || error.field !== field) return null;
  const prefix = `${field}: `;
  const bare = error.message.toLowerCase().startsWith(prefix.toLowerCase()) ? error.message.slice(prefix.length) : error.message;
  return bare.charAt(0).toUpperCase() + bare.slice(1);
}

/**
 * The message when the error belongs to no field of this form (shown by the submit button).
 * `fields` are the fields the form displays; an error for any other field is shown here too.
 */
export function formError(error: ActionError | null, fields: readonly string[]): string | null {
  if (!error) return null;
  return error.field && fields.includes(error.field) ? null : error.message;
}

function sentence(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return 'Something went wrong.';
  const capital = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}
