import { describe, expect, it } from 'vitest';
import { BackendError } from '$lib/backend';
import { Submission } from './submission.svelte';

describe('Submission', () => {
  it('is busy while the action runs and succeeds without an error', async () => {
    const submission = new Submission();
    let release!: () => void;
    const running = submission.run(() => new Promise<void>((resolve) => (release = resolve)));
    expect(submission.busy).toBe(true);
    release();
    expect(await running).toBe(true);
    expect(submission.busy).toBe(false);
    expect(submission.error).toBeNull();
  });

  it('keeps what the action threw, with the field the backend named', async () => {
    const submission = new Submission();
    const ok = await submission.run(async () => {
      throw new BackendError('INVALID_INPUT', 'amount must be positive', 'amount', 422);
    });
    expect(ok).toBe(false);
    expect(submission.busy).toBe(false);
    expect(submission.error).toEqual({ field: 'amount', message: 'Amount must be positive.' });
  });

  it('clears the previous error when it runs again', async () => {
    const submission = new Submission();
    submission.error = { field: null, message: 'Earlier failure.' };
    expect(await submission.run(async () => {})).toBe(true);
    expect(submission.error).toBeNull();
  });

  it('ignores a second run while the first is on its way', async () => {
    const submission = new Submission();
    let release!: () => void;
    let calls = 0;
    const first = submission.run(() => {
      calls++;
      return new Promise<void>((resolve) => (release = resolve));
    });
    expect(
      await submission.run(async () => {
        calls++;
      }),
    ).toBe(false);
    release();
    expect(await first).toBe(true);
    expect(calls).toBe(1);
  });
});
