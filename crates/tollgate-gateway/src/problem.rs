//! RFC 9457 problem responses: JSON for programs, a small page for browsers, with the
//! headers each status calls for. Nothing internal (SQL, upstream address) goes in.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Map, Value};
use tollgate_core::domain::policy::DenialFacts;
use tollgate_core::live::Admitted;
use tollgate_core::store::settings::Settings;

use crate::messages::{Lang, Reason, fact_label, pay_label, quality, text};
use crate::{Body, names};

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

/// True when `text/html` has a higher weight than any JSON type or `*/*` (browsers, not
/// curl). Items with a malformed weight are ignored.
fn prefers_html(accept: Option<&str>) -> bool {
    let (mut html, mut json) = (0.0f32, 0.0f32);
    for item in accept.unwrap_or("").split(',') {
        let (media, params) = item.split_once(';').unwrap_or((item, ""));
        let Some(q) = quality(params) else { continue };
        let media = media.trim();
        if media.eq_ignore_ascii_case("text/html") {
            html = html.max(q);
        } else if ["application/json", "application/problem+json", "*/*"].iter().any(|m| media.eq_ignore_ascii_case(m))
        {
            json = json.max(q);
        }
    }
    html > json
}

/// Marks a response that says nothing about the account (see [`Reason::shows_account`]):
/// the gateway then adds no balance header either.
#[derive(Debug, Clone, Copy)]
pub struct AccountHidden;

/// Everything a problem response says.
pub struct Problem<'a> {
    pub reason: Reason,
    pub facts: DenialFacts,
    /// `facts` as a JSON object, serialized once and shared with the event.
    pub facts_json: &'a str,
    pub request_id: &'a str,
    pub instance: &'a str,
    pub who: Option<&'a Admitted>,
    /// The settings, for the problem type base and the billing link template.
    pub settings: &'a Settings,
    /// A `type` URI of another registry (the draft Payment scheme's) instead of the base's.
    pub type_uri: Option<&'a str>,
}

impl Problem<'_> {
    /// The JSON body, written straight into bytes (this is the 402 hot path): the RFC 9457
    /// members, the extension members, then the facts (`facts_json`, already serialized).
    pub fn json(&self, lang: Lang, link: Option<&str>) -> Vec<u8> {
        let (title, detail) = text(lang, self.reason, &self.facts);
        let code = self.reason.code();
        let mut out = Vec::with_capacity(384 + self.facts_json.len());
        let member = |out: &mut Vec<u8>, name: &str, value: &str| {
            out.push(if out.is_empty() { b'{' } else { b',' });
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            serde_json::to_writer(&mut *out, value).expect("writing to a Vec cannot fail");
        };
        // `type`: the base, then `INSUFFICIENT_CREDITS` as `insufficient-credits` (codes are
        // ASCII capitals and underscores: nothing to escape), without a String per answer.
        out.extend_from_slice(b"{\"type\":");
        if let Some(uri) = self.type_uri {
            serde_json::to_writer(&mut out, uri).expect("writing to a Vec cannot fail");
        } else {
            serde_json::to_writer(&mut out, &self.settings.problem_type_base).expect("writing to a Vec cannot fail");
            out.pop(); // the base's closing quote
            out.extend(code.bytes().map(|b| if b == b'_' { b'-' } else { b.to_ascii_lowercase() }));
            out.push(b'"');
        }
        member(&mut out, "title", title);
        out.extend_from_slice(format!(",\"status\":{}", self.reason.status()).as_bytes());
        member(&mut out, "detail", &detail);
        member(&mut out, "instance", self.instance);
        member(&mut out, "code", code);
        member(&mut out, "request_id", self.request_id);
        if let (Some(link), Some(who)) = (link, self.who()) {
            member(&mut out, "link", link);
            member(&mut out, "tenant", &who.tenant);
        }
        let inner = self.facts_json.trim().trim_start_matches('{').trim_end_matches('}');
        if !inner.is_empty() {
            out.push(b',');
            out.extend_from_slice(inner.as_bytes());
        }
        out.push(b'}');
        out
    }

    /// The caller's account, unless this answer must not show it.
    fn who(&self) -> Option<&Admitted> {
        self.who.filter(|_| self.reason.shows_account())
    }

    /// The whole response for `audience`.
    pub fn response(&self, audience: Audience) -> Response<Body> {
        let link = self.who().map(|w| w.billing_link(&self.settings.billing_link_template));
        let json = self.json(audience.lang, link.as_deref());
        let status = StatusCode::from_u16(self.reason.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (content_type, bytes) = if audience.html {
            let body: Map<String, Value> = serde_json::from_slice(&json).unwrap_or_default();
            ("text/html; charset=utf-8", Bytes::from(page(&body, audience.lang, status)))
        } else {
            ("application/problem+json", Bytes::from(json))
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
            503 => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(5));
            }
            429 => {
                let retry = self.facts.retry_after.unwrap_or(1);
                h.insert(header::RETRY_AFTER, HeaderValue::from(retry));
                let policy = if self.reason == Reason::KeylessRateLimited { "keyless" } else { "plan" };
                h.insert(
                    names::RATELIMIT,
                    HeaderValue::from_str(&format!("\"{policy}\";r=0;t={retry}")).expect("ascii"),
                );
                if let Some((rate, burst)) = self.who().and_then(|w| w.rate) {
                    // draft-ietf-httpapi-ratelimit-headers: the quota per one-second window.
                    let policy = format!("\"plan\";q={rate};w=1;burst={burst}");
                    h.insert(names::RATELIMIT_POLICY, HeaderValue::from_str(&policy).expect("ascii"));
                }
            }
            _ => {}
        }
        if !self.reason.shows_account() {
            response.extensions_mut().insert(AccountHidden);
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
            format!("<tr><th>{}</th><td>{}</td></tr>", escape(fact_label(lang, k)), escape(&v))
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
        assert!(!prefers_html(Some("text/html;q=0, */*")), "q=0 is not acceptable");
        assert!(prefers_html(Some("TEXT/HTML, */*;Q=0.5")), "names in any case");
    }

    proptest::proptest! {
        #[test]
        fn any_accept_is_answered(value in "[ -~]{0,80}") {
            let _ = Audience::of(&HeaderMap::from_iter([(header::ACCEPT, HeaderValue::from_str(&value).unwrap())]));
        }

        /// HTML only when its best weight beats every JSON type's.
        #[test]
        fn html_wins_only_by_weight(items in proptest::collection::vec(("(text/html|application/json|application/problem\\+json|\\*/\\*|image/png)", 0u16..=1000), 0..6)) {
            let q = |m: u16| if m == 1000 { "1".to_string() } else { format!("0.{m:03}") };
            let header = items.iter().map(|(media, m)| format!("{media};q={}", q(*m))).collect::<Vec<_>>().join(",");
            let best = |want: &dyn Fn(&str) -> bool| items.iter().filter(|(media, _)| want(media)).map(|(_, m)| *m).max().unwrap_or(0);
            let html = best(&|m| m == "text/html");
            let json = best(&|m| m != "text/html" && m != "image/png");
            proptest::prop_assert_eq!(prefers_html(Some(&header)), html > json, "{}", header);
        }
    }

    #[test]
    fn html_escapes_everything() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;", "markup is inert");
    }
}
