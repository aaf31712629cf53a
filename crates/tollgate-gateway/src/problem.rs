//! RFC 9457 problem responses: JSON for programs, a small page for browsers, with the
//! headers each status calls for. Nothing internal (SQL, upstream address) goes in.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Map, Value};
use tollgate_core::live::Admitted;
use tollgate_core::policy::DenialFacts;
use tollgate_core::settings::Settings;

use crate::Body;
use crate::messages::{Lang, Reason, pay_label, text};

/// What the client asked for that shapes the answer.
#[derive(Debug, Clone, Copy)]
pub struct Audience {
    pub lang: Lang,
    pub html: bool,
}

impl Audience {
    /// Reads `Accept` and `Accept-Language`.
    pub fn of(headers: &HeaderMap) -> Self {
        let get = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
        Self { lang: Lang::negotiate(get(header::ACCEPT_LANGUAGE)), html: prefers_html(get(header::ACCEPT)) }
    }
}

/// True when `text/html` has a higher quality than any JSON type (browsers, not curl).
fn prefers_html(accept: Option<&str>) -> bool {
    let (mut html, mut json) = (0.0f32, 0.0f32);
    for item in accept.unwrap_or("").split(',') {
        let mut parts = item.trim().split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse().ok()).unwrap_or(1.0);
        match media.as_str() {
            "text/html" => html = html.max(q),
            "application/json" | "application/problem+json" | "*/*" => json = json.max(q),
            _ => {}
        }
    }
    html > json
}

/// Everything a problem response says.
pub struct Problem<'a> {
    pub reason: Reason,
    pub facts: DenialFacts,
    pub request_id: &'a str,
    pub instance: &'a str,
    pub who: Option<&'a Admitted>,
    /// The settings, for the problem type base and the billing link template.
    pub settings: &'a Settings,
}

impl Problem<'_> {
    /// The JSON body.
    pub fn body(&self, lang: Lang) -> Map<String, Value> {
        let (title, detail) = text(lang, self.reason, &self.facts);
        let code = self.reason.code();
        let mut body = Map::new();
        let kebab = code.to_ascii_lowercase().replace('_', "-");
        body.insert("type".into(), format!("{}{kebab}", self.settings.problem_type_base).into());
        body.insert("title".into(), title.into());
        body.insert("status".into(), self.reason.status().into());
        body.insert("detail".into(), detail.into());
        body.insert("instance".into(), self.instance.into());
        body.insert("code".into(), code.into());
        body.insert("request_id".into(), self.request_id.into());
        if let Some(who) = self.who {
            body.insert("link".into(), who.billing_link(&self.settings.billing_link_template).into());
            body.insert("tenant".into(), who.tenant.clone().into());
        }
        if let Value::Object(facts) = serde_json::to_value(&self.facts).unwrap_or(Value::Null) {
            body.extend(facts);
        }
        body
    }

    /// The whole response for `audience`.
    pub fn response(&self, audience: Audience) -> Response<Body> {
        let body = self.body(audience.lang);
        let link = body.get("link").and_then(Value::as_str).map(str::to_string);
        let status = StatusCode::from_u16(self.reason.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (content_type, bytes) = if audience.html {
            ("text/html; charset=utf-8", Bytes::from(page(&body, audience.lang, status)))
        } else {
            ("application/problem+json", Bytes::from(serde_json::to_vec(&body).unwrap_or_default()))
        };
        let mut response = Response::new(Full::new(bytes).map_err(|never| match never {}).boxed());
        *response.status_mut() = status;
        let h = response.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(audience.lang.tag()));
        h.insert(header::VARY, HeaderValue::from_static("Accept, Accept-Language"));
        match status.as_u16() {
            401 => {
                h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"tollgate\""));
            }
            402 => {
                if let Some(link) = link.and_then(|l| HeaderValue::from_str(&format!("<{l}>; rel=\"payment\"")).ok()) {
                    h.insert(header::LINK, link);
                }
            }
            _ => {}
        }
        response
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// A small self-contained page with the same facts and a button to the billing link.
fn page(body: &Map<String, Value>, lang: Lang, status: StatusCode) -> String {
    let field =
        |k: &str| body.get(k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).unwrap_or_default();
    let skip = ["type", "title", "detail", "link", "instance"];
    let rows: String = body
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            format!("<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(&v))
        })
        .collect();
    let button = match (status.as_u16(), body.get("link").and_then(Value::as_str)) {
        (402, Some(link)) => format!("<p><a class=\"pay\" href=\"{}\">{}</a></p>", escape(link), pay_label(lang)),
        _ => String::new(),
    };
    format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{status} {title}</title><style>body{{font:16px system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}}\
         th{{text-align:left;padding-right:1rem;color:#555}}.pay{{display:inline-block;padding:.6rem 1.2rem;background:#1a56db;color:#fff;\
         border-radius:.4rem;text-decoration:none}}</style></head><body><h1>{title}</h1><p>{detail}</p>{button}<table>{rows}</table></body></html>",
        lang = lang.tag(),
        status = status.as_u16(),
        title = escape(&field("title")),
        detail = escape(&field("detail")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_get_html_and_programs_get_json() {
        assert!(prefers_html(Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")), "a browser");
        assert!(!prefers_html(Some("*/*")), "curl");
        assert!(!prefers_html(None), "no Accept header");
        assert!(!prefers_html(Some("application/json, text/html;q=0.5")), "a client preferring JSON");
    }

    #[test]
    fn html_escapes_everything() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;", "markup is inert");
    }
}
