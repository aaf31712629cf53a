import { describe, expect, it } from 'vitest';
import type { TrafficStatus } from '$lib/backend';
import { droppedNotice } from './dropped';

function status(samples: number, records: number): TrafficStatus {
  return {
    running: true,
    request_log_capacity: 1000000,
    request_log_written: 10,
    request_log_dropped: records,
    traffic: {
      samples_taken: 100,
      samples_stored: 100 - samples,
      samples_dropped: samples,
      samples_pending: 0,
      samples_peak_pending: 2000,
      sample_limit: 2000,
      denials_unattributed: 0,
    },
  };
}

describe('droppedNotice', () => {
  it('says nothing when nothing was dropped', () => {
    expect(droppedNotice(null)).toBeNull();
    expect(droppedNotice(status(0, 0))).toBeNull();
  });

  it('names what was dropped and that counts are complete', () => {
    expect(droppedNotice(status(1234, 0))).toBe(
      'Storage fell behind: 1,234 denial samples were not kept since the server started. Denial counts and charges are complete.',
    );
    expect(droppedNotice(status(1, 2))).toContain('1 denial sample and 2 request-log records');
  });
});
