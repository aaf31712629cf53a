//! Every admin API error is `{code, message}` JSON, including the ones axum answers by
//! itself before a handler runs (a body over the command's limit, a wrong method, an
//! extractor's rejection), which it writes as plain text or not at all.

use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tollgate_core::console::command::{self, Command, CommandVisitor};

use super::error;

/// Rewrites a non-JSON error answer of an `/api/` route as `{code, message}`, keeping its
/// status and headers such as `Allow` and `WWW-Authenticate`.
pub async fn as_json(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if !path.starts_with("/api/") || !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = to_bytes(body, 4096).await.map(|b| String::from_utf8_lossy(&b).trim().to_string()).unwrap_or_default();
    let command = path.trim_start_matches("/api/");
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            let limit = input_limit(command).map_or_else(String::new, |n| format!(" of {} MiB", n >> 20));
            ("PAYLOAD_TOO_LARGE", format!("the request body is over {command}'s limit{limit}"))
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = parts.headers.get(header::ALLOW).and_then(|v| v.to_str().ok()).unwrap_or("POST");
            ("METHOD_NOT_ALLOWED", format!("{path} answers {allow} only"))
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("UNSUPPORTED_MEDIA_TYPE", or_reason(text, status)),
        StatusCode::NOT_FOUND => ("NOT_FOUND", or_reason(text, status)),
        s if s.is_server_error() => ("INTERNAL", or_reason(text, status)),
        _ => ("BAD_REQUEST", or_reason(text, status)),
    };
    let mut answer = error(status, code, &message);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}

fn is_json(response: &Response) -> bool {
    let json = |v: &HeaderValue| {
        v.to_str().is_ok_and(|t| t.starts_with("application/json") || t.starts_with("application/problem+json"))
    };
    response.headers().get(header::CONTENT_TYPE).is_some_and(json)
}

fn or_reason(text: String, status: StatusCode) -> String {
    if text.is_empty() { status.canonical_reason().unwrap_or("error").to_string() } else { text }
}

/// The input limit of the command called `name`, if there is one.
fn input_limit(name: &str) -> Option<usize> {
    struct Find<'a>(&'a str, Option<usize>);
    impl CommandVisitor for Find<'_> {
        fn visit<C: Command>(&mut self) {
            if C::NAME == self.0 {
                self.1 = Some(C::MAX_INPUT_BYTES);
            }
        }
    }
    let mut find = Find(name, None);
    command::visit_all(&mut find);
    find.1
}
