//! Finding the usage an upstream reports in its answer's body while the body streams past,
//! without holding it: a JSON answer is kept up to a bound (then only its tail, where
//! `usage` sits), a Server-Sent Events stream one event at a time.

use crate::domain::metering::{TokenUsage, reported};

/// The most of a JSON answer kept whole; past it only the last [`TAIL`] bytes are.
const WHOLE: usize = 4 << 20;
/// The tail of a long JSON answer searched for `"usage"`.
const TAIL: usize = 64 << 10;
/// The longest event of a stream read; a longer one is skipped.
const MAX_EVENT: usize = 1 << 20;

/// Reads an answer's body as it streams past.
#[derive(Debug)]
pub enum UsageScan {
    /// A JSON answer (or anything not an event stream).
    Json { kept: Vec<u8>, overflowed: bool },
    /// A `text/event-stream` answer: the current line and event's data, and the last
    /// usage any event carried (OpenAI sends it in the last chunk, with
    /// `stream_options.include_usage`).
    Events { line: Vec<u8>, data: Vec<u8>, skipping: bool, last: Option<TokenUsage>, model: Option<String> },
}

impl UsageScan {
    /// A scan for an answer of `content_type`.
    pub fn new(content_type: &[u8]) -> Self {
        let essence = content_type.split(|b| *b == b';').next().unwrap_or_default().trim_ascii();
        if essence.eq_ignore_ascii_case(b"text/event-stream") {
            Self::Events { line: Vec::new(), data: Vec::new(), skipping: false, last: None, model: None }
        } else {
            Self::Json { kept: Vec::new(), overflowed: false }
        }
    }

    /// Takes the next piece of the body.
    pub fn feed(&mut self, bytes: &[u8]) {
        match self {
            Self::Json { kept, overflowed } => {
                kept.extend_from_slice(bytes);
                if kept.len() > WHOLE {
                    *overflowed = true;
                    let cut = kept.len() - TAIL;
                    kept.drain(..cut);
                }
            }
            Self::Events { line, data, skipping, last, model } => {
                let mut rest = bytes;
                while let Some(end) = rest.iter().position(|b| *b == b'\n') {
                    if !*skipping {
                        line.extend_from_slice(&rest[..end]);
                    }
                    event_line(line, data, skipping, last, model);
                    line.clear();
                    rest = &rest[end + 1..];
                }
                if !*skipping {
                    line.extend_from_slice(rest);
                    if line.len() > MAX_EVENT {
                        line.clear();
                        *skipping = true;
                    }
                }
            }
        }
    }

    /// What the body reported so far (for a JSON answer, only once it has ended: see
    /// [`finish`](Self::finish)), and the model it named.
    pub fn so_far(&self) -> (Option<TokenUsage>, Option<&str>) {
        match self {
            Self::Json { .. } => (None, None),
            Self::Events { last, model, .. } => (*last, model.as_deref()),
        }
    }

    /// The body has ended: what it reported, and the model it named.
    pub fn finish(mut self) -> (Option<TokenUsage>, Option<String>) {
        match &mut self {
            Self::Json { kept, overflowed: false } => reported(kept),
            Self::Json { kept, overflowed: true } => (tail_usage(kept), None),
            Self::Events { line, data, skipping, last, model } => {
                // A last event without its blank line still counts.
                if !line.is_empty() && !*skipping {
                    event_line(line, data, skipping, last, model);
                }
                event_line(&mut Vec::new(), data, skipping, last, model);
                (*last, model.take())
            }
        }
    }
}

/// One line of an event stream (without its `\n`): a `data:` line adds to the event, a
/// blank line ends it (its data is then read for usage).
fn event_line(
    line: &mut Vec<u8>,
    data: &mut Vec<u8>,
    skipping: &mut bool,
    last: &mut Option<TokenUsage>,
    model: &mut Option<String>,
) {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    if line.is_empty() {
        if !*skipping && !data.is_empty() && data.as_slice() != b"[DONE]" {
            let (usage, named) = reported(data);
            if usage.is_some() {
                *last = usage;
            }
            if named.is_some() {
                *model = named;
            }
        }
        data.clear();
        *skipping = false;
        return;
    }
    if *skipping {
        return;
    }
    if let Some(value) = line.strip_prefix(b"data:") {
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if !data.is_empty() {
            data.push(b'\n');
        }
        data.extend_from_slice(value);
        if data.len() > MAX_EVENT {
            data.clear();
            *skipping = true;
        }
    }
}

/// The `usage` object in the tail of a JSON answer too long to keep whole: the last
/// `"usage"` key whose value reads as one.
fn tail_usage(tail: &[u8]) -> Option<TokenUsage> {
    let needle = b"\"usage\"";
    let mut end = tail.len();
    while let Some(at) = tail[..end].windows(needle.len()).rposition(|w| w == needle) {
        let after = &tail[at + needle.len()..];
        let value = after.trim_ascii_start().strip_prefix(b":").map(<[u8]>::trim_ascii_start);
        if let Some(value) = value {
            let mut wrapped = Vec::with_capacity(value.len() + 10);
            wrapped.extend_from_slice(b"{\"usage\":");
            let mut de = serde_json::Deserializer::from_slice(value).into_iter::<serde_json::Value>();
            if let Some(Ok(object)) = de.next() {
                wrapped.extend_from_slice(object.to_string().as_bytes());
                wrapped.push(b'}');
                if let (Some(usage), _) = reported(&wrapped) {
                    return Some(usage);
                }
            }
        }
        end = at;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(content_type: &str, pieces: &[&[u8]]) -> (Option<TokenUsage>, Option<String>) {
        let mut scan = UsageScan::new(content_type.as_bytes());
        for p in pieces {
            scan.feed(p);
        }
        scan.finish()
    }

    const USAGE: TokenUsage = TokenUsage { prompt_tokens: 12, completion_tokens: 5 };

    #[test]
    fn a_json_answer_is_read_whole_in_any_pieces() {
        let body = br#"{"id":"c1","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}"#;
        for cut in [0, 1, 20, body.len() - 1] {
            let (usage, model) = fed("application/json", &[&body[..cut], &body[cut..]]);
            assert_eq!(usage, Some(USAGE), "cut at {cut}");
            assert_eq!(model.as_deref(), Some("gpt-4o-mini"));
        }
        assert_eq!(fed("application/json", &[b"{\"error\":{}}"]).0, None, "an error has no usage");
    }

    #[test]
    fn a_long_json_answer_is_read_from_its_tail() {
        let filler = "x".repeat(WHOLE);
        let body = format!(
            r#"{{"model":"m","choices":[{{"text":"{filler}","usage":"not this"}}],"usage":{{"prompt_tokens":12,"completion_tokens":5}}}}"#
        );
        let pieces: Vec<&[u8]> = body.as_bytes().chunks(8192).collect();
        let mut scan = UsageScan::new(b"application/json");
        for p in &pieces {
            scan.feed(p);
        }
        if let UsageScan::Json { kept, .. } = &scan {
            assert!(kept.len() <= WHOLE + 8192, "bounded: {}", kept.len());
        }
        assert_eq!(scan.finish().0, Some(USAGE));
    }

    #[test]
    fn a_stream_reports_the_usage_of_its_last_chunk_split_anywhere() {
        let stream = concat!(
            "data: {\"id\":\"c\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n",
            ": a comment\r\n\r\n",
            "data: {\"id\":\"c\",\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5}}\r\n\r\n",
            "data: [DONE]\n\n"
        )
        .as_bytes();
        for cut in 0..stream.len() {
            let (usage, model) = fed("text/event-stream; charset=utf-8", &[&stream[..cut], &stream[cut..]]);
            assert_eq!(usage, Some(USAGE), "cut at {cut}");
            assert_eq!(model.as_deref(), Some("gpt-4o-mini"));
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(fed("text/event-stream", &bytewise).0, Some(USAGE));
    }

    #[test]
    fn a_stream_cut_short_has_reported_only_what_arrived() {
        let mut scan = UsageScan::new(b"text/event-stream");
        scan.feed(b"data: {\"choices\":[],\"usage\":null}\n\n");
        assert_eq!(scan.so_far().0, None);
        scan.feed(
            b"data: {\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5}}\n\ndata: {\"usage\":{\"prompt_tok",
        );
        assert_eq!(scan.so_far().0, Some(USAGE), "the half event is not read");
    }

    #[test]
    fn an_endless_line_is_skipped_not_kept() {
        let mut scan = UsageScan::new(b"text/event-stream");
        let chunk = vec![b'a'; 64 << 10];
        scan.feed(b"data: ");
        for _ in 0..40 {
            scan.feed(&chunk);
        }
        if let UsageScan::Events { line, data, .. } = &scan {
            assert!(line.len() + data.len() <= MAX_EVENT + chunk.len(), "bounded");
        }
        scan.feed(b"\n\ndata: {\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5}}\n\n");
        assert_eq!(scan.finish().0, Some(USAGE), "the stream is read again after it");
    }
}
