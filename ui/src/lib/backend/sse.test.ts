import { describe, expect, it } from 'vitest';
import { SseParser } from './sse';

describe('SseParser', () => {
  it('completes a message only at the blank line, across chunks', () => {
    const p = new SseParser();
    expect(p.push('event: gateway\ndata: {"a"')).toEqual([]);
    expect(p.push(':1}\n')).toEqual([]);
    expect(p.push('\n')).toEqual([{ event: 'gateway', data: '{"a":1}' }]);
  });

  it('joins data lines, ignores comments and keep-alives, defaults the event name', () => {
    const p = new SseParser();
    const out = p.push(': keep-alive\n\ndata: one\ndata:two\n\nevent: dropped\r\ndata: {"missed":5}\r\n\r\n');
    expect(out).toEqual([
      { event: 'message', data: 'one\ntwo' },
      { event: 'dropped', data: '{"missed":5}' },
    ]);
  });

  it('resets the event name between messages', () => {
    const p = new SseParser();
    const out = p.push('event: console\ndata: x\n\ndata: y\n\n');
    expect(out.map((m) => m.event)).toEqual(['console', 'message']);
  });
});
