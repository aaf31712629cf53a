/** One Server-Sent Events message: its `event:` name (default `message`) and `data:`. */
export interface SseMessage {
  event: string;
  data: string;
}

/**
 * Incremental SSE parser (WHATWG rules for `event`, `data` and comments). The stream is
 * read with fetch rather than EventSource because EventSource cannot send the bearer token.
 */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];

  /** Feeds a chunk of text; returns the messages it completed. */
  push(chunk: string): SseMessage[] {
    // One cursor over the text and one slice at the end: the live feed pushes chunks of
    // many events, and cutting the buffer per line would copy the rest again each time.
    const text = this.buffer + chunk;
    const lineEnd = /\r\n|\r|\n/g;
    const out: SseMessage[] = [];
    let start = 0;
    let end: RegExpExecArray | null;
    while ((end = lineEnd.exec(text)) !== null) {
      this.line(text.slice(start, end.index), out);
      start = lineEnd.lastIndex;
    }
    this.buffer = text.slice(start);
    return out;
  }

  private line(line: string, out: SseMessage[]): void {
    if (line === '') {
      if (this.data.length > 0) out.push({ event: this.event || 'message', data: this.data.join('\n') });
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
  }
}
