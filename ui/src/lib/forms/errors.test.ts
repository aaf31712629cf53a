import { describe, expect, it } from 'vitest';
import { BackendError } from '$lib/backend';
import { fieldError, formError, toActionError, TOKEN_HINT } from './errors';

describe('toActionError', () => {
  it('keeps the field a backend error names', () => {
    const error = toActionError(new BackendError('INVALID_INPUT', 'amount must be positive', 'amount', 422));
    expect(error).toEqual({ field: 'amount', message: 'Amount must be positive.' });
  });

  it('says how to get the admin token when the server refuses it', () => {
    const error = toActionError(new BackendError('UNAUTHORIZED', 'missing or wrong admin token', null, 401));
    expect(error.field).toBeNull();
    expect(error.message).toBe(`Missing or wrong admin token. ${TOKEN_HINT}`);
  });

  it('turns any other failure into a message', () => {
    expect(toActionError(new Error('boom'))).toEqual({ field: null, message: 'Boom.' });
    expect(toActionError('nope?')).toEqual({ field: null, message: 'Nope?' });
    expect(toActionError(new BackendError('NOT_FOUND', ''))).toEqual({ field: null, message: 'NOT_FOUND.' });
  });
});

describe('fieldError without the repeated field name', () => {
  it('drops the server\'s "field: " prefix beside the field, keeps it elsewhere', () => {
    const error = toActionError(new BackendError('INVALID_INPUT', 'upstream_url: https is not supported', 'upstream_url', 422));
    expect(fieldError(error, 'upstream_url')).toBe('Https is not supported.');
    expect(formError(error, ['path_prefix'])).toBe('Upstream_url: https is not supported.');
  });
});

describe('fieldError / formError', () => {
  const onAmount = { field: 'amount', message: 'Too small.' };
  const onOther = { field: 'tenant', message: 'No such tenant.' };
  const general = { field: null, message: 'Offline.' };

  it('puts a field error next to its field only', () => {
    expect(fieldError(onAmount, 'amount')).toBe('Too small.');
    expect(fieldError(onAmount, 'note')).toBeNull();
    expect(formError(onAmount, ['amount', 'note'])).toBeNull();
  });

  it('shows errors for fields the form lacks, and general ones, by the action', () => {
    expect(formError(onOther, ['amount', 'note'])).toBe('No such tenant.');
    expect(formError(general, ['amount'])).toBe('Offline.');
    expect(formError(null, ['amount'])).toBeNull();
  });
});
