import { describe, expect, it } from 'vitest';
import { compareCodes, counterKey, isDenial, statusClass } from './classify';

describe('classify', () => {
  it('puts each decision in one counter', () => {
    expect(counterKey({ status: 200, code: null })).toBe('SERVED');
    expect(counterKey({ status: 404, code: undefined })).toBe('SERVED');
    expect(counterKey({ status: 503, code: null })).toBe('UPSTREAM_ERROR');
    expect(counterKey({ status: 402, code: 'INSUFFICIENT_CREDITS' })).toBe('INSUFFICIENT_CREDITS');
    expect(counterKey({ status: 504, code: 'UPSTREAM_TIMEOUT' })).toBe('UPSTREAM_TIMEOUT');
  });

  it('treats only coded answers as denials', () => {
    expect(isDenial({ status: 402, code: 'QUOTA_EXHAUSTED' })).toBe(true);
    expect(isDenial({ status: 500, code: null })).toBe(false);
  });

  it('assigns status classes for the chart', () => {
    expect(statusClass({ status: 200, code: null })).toBe('served');
    expect(statusClass({ status: 401, code: 'INVALID_API_KEY' })).toBe('401');
    expect(statusClass({ status: 402, code: 'FEATURE_NOT_IN_PLAN' })).toBe('402');
    expect(statusClass({ status: 403, code: 'TENANT_BLOCKED' })).toBe('403');
    expect(statusClass({ status: 429, code: 'RATE_LIMITED' })).toBe('429');
    expect(statusClass({ status: 404, code: 'ROUTE_NOT_FOUND' })).toBe('other');
    expect(statusClass({ status: 502, code: null })).toBe('other');
  });

  it('orders codes as the gateway checks them, unknown ones last', () => {
    const codes = ['ZZZ_NEW', 'INSUFFICIENT_CREDITS', 'SERVED', 'RATE_LIMITED', 'INVALID_API_KEY', 'AAA_NEW'];
    expect(codes.sort(compareCodes)).toEqual(['SERVED', 'INVALID_API_KEY', 'RATE_LIMITED', 'INSUFFICIENT_CREDITS', 'AAA_NEW', 'ZZZ_NEW']);
  });
});
