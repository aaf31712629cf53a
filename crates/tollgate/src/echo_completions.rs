//! `tollgate echo`'s stand-in for an AI API: `POST …/chat/completions` in OpenAI's shape,
//! answering the last user message back word by word, with the token usage a metered
//! route charges (`usage`; in a stream, the last chunk's when the client asks for it with
//! `stream_options.include_usage`, as OpenAI sends it). Tokens are words here.

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// What the stand-in answers `request` with: the words it says, and the usage.
fn reply(request: &Value) -> (Vec<String>, Value) {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let prompt: usize = messages.iter().map(|m| m["content"].as_str().unwrap_or("").split_whitespace().count()).sum();
    let last = messages.iter().rev().find(|m| m["role"] == "user").and_then(|m| m["content"].as_str()).unwrap_or("");
    let limit = request["max_completion_tokens"].as_u64().or(request["max_tokens"].as_u64()).unwrap_or(u64::MAX);
    let words: Vec<String> = std::iter::once("echo:")
        .chain(last.split_whitespace())
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(str::to_string)
        .collect();
    let usage =
        json!({"prompt_tokens": prompt, "completion_tokens": words.len(), "total_tokens": prompt + words.len()});
    (words, usage)
}

/// Answers one chat completion request (its JSON body), streamed when it asks.
pub async fn answer(body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        let error = json!({"error": {"message": "the body is not JSON", "type": "invalid_request_error"}});
        return (axum::http::StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    };
    let model = request["model"].as_str().unwrap_or("echo").to_string();
    let (words, usage) = reply(&request);
    if request["stream"] != json!(true) {
        return axum::Json(json!({
            "id": "chatcmpl-echo", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": words.join(" ")}, "finish_reason": "stop"}],
            "usage": usage,
        }))
        .into_response();
    }
    let chunk = |choices: Value, usage: Value| {
        let c = json!({"id": "chatcmpl-echo", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": choices, "usage": usage});
        Ok::<_, std::convert::Infallible>(Bytes::from(format!("data: {c}\n\n")))
    };
    let mut events: Vec<_> = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let text = if i == 0 { w.clone() } else { format!(" {w}") };
            chunk(json!([{"index": 0, "delta": {"content": text}, "finish_reason": null}]), Value::Null)
        })
        .collect();
    events.push(chunk(json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]), Value::Null));
    if request["stream_options"]["include_usage"] == json!(true) {
        events.push(chunk(json!([]), usage));
    }
    events.push(Ok(Bytes::from_static(b"data: [DONE]\n\n")));
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(futures_util::stream::iter(events)))
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_tokens_and_max_tokens_cuts_the_reply() {
        let request = json!({"model": "m", "max_tokens": 3, "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "say hello to the world"},
        ]});
        let (words, usage) = reply(&request);
        assert_eq!(words, ["echo:", "say", "hello"]);
        assert_eq!(usage, json!({"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}));
    }
}
