import type { TrafficStatus } from '$lib/backend';

/**
 * What the operator should know about records the server could not keep: denial samples
 * and request-log records dropped because storage fell behind. Counts are never dropped,
 * so the numbers elsewhere stay exact. `null` when nothing was dropped.
 */
export function droppedNotice(status: TrafficStatus | null): string | null {
  if (!status) return null;
  const samples = status.traffic.samples_dropped;
  const records = status.request_log_dropped;
  if (samples === 0 && records === 0) return null;
  const parts: string[] = [];
  if (samples > 0) parts.push(`${samples.toLocaleString('en-US')} denial ${samples === 1 ? 'sample' : 'samples'}`);
  if (records > 0) {
    parts.push(`${records.toLocaleString('en-US')} request-log ${records === 1 ? 'record' : 'records'}`);
  }
  return `Storage fell behind: ${parts.join(' and ')} were not kept since the server started. Denial counts and charges are complete.`;
}
