//! Request paths as the router sees them: one spelling per resource, so a route's price
//! and scope apply to what the upstream will actually serve.
//!
//! An upstream may resolve `/v1/cheap/../expensive`, `%2e%2e` or `%65xpensive` to
//! `/v1/expensive`; if the gateway routed the raw text, such a request would pass as the
//! cheap route. So the gateway routes the [`normalize`]d path and forwards that same path
//! (the query is kept as sent). Normalising follows RFC 3986:
//!
//! - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded (§6.2.2.2),
//!   so `%2e`, `%2E` and `.%2e` are dots like any other; the hex of the encodings that
//!   stay is upper-cased (§6.2.2.1);
//! - dot segments are removed (`remove_dot_segments`, §5.2.4);
//! - repeated slashes are collapsed (`/v1//x` is `/v1/x`); a trailing slash is kept.
//!
//! Paths whose meaning depends on the server behind are refused instead ([`PathError`]):
//! an encoded slash (`%2F`), a backslash (raw or `%5C`), an encoded control byte or a
//! malformed `%` escape, a `..` that climbs above the root, and dot segments carrying a
//! `;` parameter (`..;/`, which some servers treat as `..`).

use std::borrow::Cow;
use std::fmt;

/// Why a path cannot be routed unambiguously.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/` (e.g. `*`).
    NotAbsolute,
    /// `%2F`: one server sees a slash, another a character of a segment.
    EncodedSlash,
    /// `\` or `%5C`: some servers treat it as a slash.
    Backslash,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// A control byte, raw or encoded (`%00`–`%1F`, `%7F`).
    ControlByte,
    /// A `..` segment above the root (`/../x`).
    AboveRoot,
    /// A dot segment with a `;` parameter (`..;x`).
    DotParameter,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "the path must start with '/'",
            PathError::EncodedSlash => "the path contains an encoded slash (%2F)",
            PathError::Backslash => "the path contains a backslash",
            PathError::BadEscape => "the path contains a '%' not followed by two hex digits",
            PathError::ControlByte => "the path contains a control character",
            PathError::AboveRoot => "the path climbs above the root with '..'",
            PathError::DotParameter => "the path contains a dot segment with a ';' parameter",
        })
    }
}

impl std::error::Error for PathError {}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes what RFC 3986 lets a normaliser decode, and refuses what it must not guess.
fn decode(raw: &str) -> Result<String, PathError> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let (Some(hi), Some(lo)) =
                    (bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b)))
                else {
                    return Err(PathError::BadEscape);
                };
                let v = hi << 4 | lo;
                match v {
                    b'/' => return Err(PathError::EncodedSlash),
                    b'\\' => return Err(PathError::Backslash),
                    0..0x20 | 0x7f => return Err(PathError::ControlByte),
                    v if is_unreserved(v) => out.push(char::from(v)),
                    v => {
                        out.push('%');
                        out.push(char::from(HEX[usize::from(v >> 4)]));
                        out.push(char::from(HEX[usize::from(v & 0xf)]));
                    }
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            0..0x20 | 0x7f => return Err(PathError::ControlByte),
            _ => {
                // Copy the run up to the next byte that needs a look (all ASCII, so the
                // slice boundaries are char boundaries).
                let end = bytes[i..]
                    .iter()
                    .position(|b| matches!(b, b'%' | b'\\' | 0..0x20 | 0x7f))
                    .map_or(bytes.len(), |n| i + n);
                out.push_str(&raw[i..end]);
                i = end;
            }
        }
    }
    Ok(out)
}

/// The path the gateway routes and forwards for `raw` (the path of a request target, as
/// received), or why it is refused. Returns `raw` itself when it is already normal.
pub fn normalize(raw: &str) -> Result<Cow<'_, str>, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if already_normal(raw) {
        return Ok(Cow::Borrowed(raw));
    }
    resolve(raw)
}

/// The full normaliser: decodes, then resolves dot and empty segments.
fn resolve(raw: &str) -> Result<Cow<'_, str>, PathError> {
    let decoded = decode(raw)?;
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in decoded.split('/').skip(1) {
        trailing_slash = false;
        match segment {
            "" => trailing_slash = true,
            "." => trailing_slash = true,
            ".." => {
                segments.pop().ok_or(PathError::AboveRoot)?;
                trailing_slash = true;
            }
            s if s.starts_with(".;") || s.starts_with("..;") => return Err(PathError::DotParameter),
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || segments.is_empty() {
        out.push('/');
    }
    Ok(if out == raw { Cow::Borrowed(raw) } else { Cow::Owned(out) })
}

/// Most paths are normal as sent: no escapes, no empty or dot segments. Saying so without
/// copying keeps three allocations off every request.
fn already_normal(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    bytes.first() == Some(&b'/')
        && !bytes.iter().any(|b| matches!(b, b'%' | b'\\' | 0..0x20 | 0x7f))
        && !bytes.windows(2).any(|w| w[0] == b'/' && matches!(w[1], b'/' | b'.'))
}

/// True when `path` is at or below `prefix`: the prefix ends at a segment boundary
/// (`/v1` covers `/v1` and `/v1/x`, not `/v10`). `path` should be [`normalize`]d.
pub fn under_prefix(path: &str, prefix: &str) -> bool {
    path.starts_with(prefix)
        && (path.len() == prefix.len() || prefix.ends_with('/') || path.as_bytes().get(prefix.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ok(raw: &str) -> String {
        normalize(raw).unwrap_or_else(|e| panic!("{raw} should normalise: {e}")).into_owned()
    }

    #[test]
    fn dot_segments_and_their_encodings_resolve() {
        for raw in [
            "/v1/cheap/../expensive",
            "/v1/cheap/%2e%2e/expensive",
            "/v1/cheap/%2E%2E/expensive",
            "/v1/cheap/.%2e/expensive",
            "/v1/cheap/%2e./expensive",
            "/v1/./cheap/../expensive",
            "/v1//cheap/..//expensive",
            "/v1/%65xpensive",
        ] {
            assert_eq!(ok(raw), "/v1/expensive", "{raw}");
        }
        assert_eq!(ok("/v1/x/"), "/v1/x/", "a trailing slash is kept");
        assert_eq!(ok("/v1/x/.."), "/v1/", "a final .. leaves a directory");
        assert_eq!(ok("/"), "/", "the root");
        assert_eq!(ok("//"), "/", "only slashes");
        assert_eq!(ok("/a%2cb%c3%a9"), "/a%2Cb%C3%A9", "escapes that stay are upper-cased");
        assert!(matches!(normalize("/v1/x"), Ok(Cow::Borrowed(_))), "a normal path is not copied");
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        let cases = [
            ("*", PathError::NotAbsolute),
            ("/v1/a%2fb", PathError::EncodedSlash),
            ("/v1/a%2Fb", PathError::EncodedSlash),
            ("/v1/a\\b", PathError::Backslash),
            ("/v1/a%5cb", PathError::Backslash),
            ("/v1/a%zz", PathError::BadEscape),
            ("/v1/a%2", PathError::BadEscape),
            ("/v1/a%00", PathError::ControlByte),
            ("/../v1", PathError::AboveRoot),
            ("/v1/../../x", PathError::AboveRoot),
            ("/v1/%2e%2e/%2e%2e/x", PathError::AboveRoot),
            ("/v1/cheap/..;/expensive", PathError::DotParameter),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize(raw), Err(expected), "{raw}");
        }
    }

    /// A path segment: plain characters, dots (plain or encoded), and escapes that stay.
    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9_~-]{1,6}",
            Just(".".to_string()),
            Just("..".to_string()),
            Just("%2e".to_string()),
            Just("%2E%2e".to_string()),
            Just(".%2E".to_string()),
            Just(String::new()),
            "%[0-9a-fA-F]{2}",
            "[a-z]{1,3}%2[eE][a-z]{0,2}",
            "[!$&'()*+,;=:@]{1,3}",
        ]
    }

    fn raw_path() -> impl Strategy<Value = String> {
        (prop::collection::vec(segment(), 0..8), any::<bool>()).prop_map(|(segments, trailing)| {
            let mut p = format!("/{}", segments.join("/"));
            if trailing {
                p.push('/');
            }
            p
        })
    }

    /// A path that is already normal: non-dot segments of plain characters.
    fn normal_path() -> impl Strategy<Value = String> {
        (prop::collection::vec("[a-zA-Z0-9_~-]{1,6}|[a-z]{0,2}%[2-9A-F][0-9A-F]", 0..6), any::<bool>()).prop_filter_map(
            "dots are not normal",
            |(segments, trailing)| {
                let undecodable = |s: &String| {
                    s.split('%').skip(1).all(|h| {
                        let v = u8::from_str_radix(&h[..2], 16).unwrap_or(0);
                        !is_unreserved(v) && v != b'/' && v != b'\\' && v >= 0x20 && v != 0x7f
                    })
                };
                if !segments.iter().all(undecodable) {
                    return None;
                }
                let mut p = format!("/{}", segments.join("/"));
                if trailing && !segments.is_empty() {
                    p.push('/');
                }
                Some(p)
            },
        )
    }

    proptest! {
        #[test]
        fn normal_paths_have_no_dot_segments_or_double_slashes(raw in raw_path()) {
            if let Ok(p) = normalize(&raw) {
                prop_assert!(p.starts_with('/'), "{p}");
                prop_assert!(!p.contains("//"), "{raw} -> {p}");
                for s in p.split('/') {
                    prop_assert!(s != "." && s != "..", "{raw} -> {p}");
                }
                prop_assert!(!p.to_ascii_lowercase().contains("%2e"), "{raw} -> {p}");
                prop_assert_eq!(normalize(&p).map(Cow::into_owned), Ok(p.to_string()), "normalising is idempotent");
            }
        }

        #[test]
        fn the_shortcut_agrees_with_the_full_normaliser(raw in "/[ -~]{0,40}", p in raw_path()) {
            for raw in [raw, p] {
                if already_normal(&raw) {
                    prop_assert_eq!(resolve(&raw).map(Cow::into_owned), Ok(raw.clone()), "{} is normal", raw);
                }
            }
        }

        #[test]
        fn any_string_normalises_or_is_refused_without_panic(raw in "/[ -~]{0,40}") {
            let _ = normalize(&raw);
        }

        #[test]
        fn a_normal_path_normalises_to_itself(p in normal_path()) {
            prop_assert_eq!(normalize(&p), Ok(Cow::Borrowed(p.as_str())));
        }

        /// A route never answers for a path that, once the dots are resolved, lies outside
        /// its prefix, however the dots were spelt.
        #[test]
        fn a_route_never_matches_outside_its_prefix(
            prefix in prop::collection::vec("[a-z]{1,4}", 1..3),
            climb in prop::collection::vec(segment(), 0..6),
        ) {
            let prefix = format!("/{}", prefix.join("/"));
            let raw = format!("{prefix}/{}", climb.join("/"));
            if let Ok(p) = normalize(&raw) {
                // The reference: resolve the decoded segments with a stack.
                let decoded = raw.replace("%2e", ".").replace("%2E", ".");
                let mut stack: Vec<String> = Vec::new();
                for s in decoded.split('/').filter(|s| !s.is_empty() && *s != ".") {
                    if s == ".." { stack.pop(); } else { stack.push(decode(s).unwrap()); }
                }
                let resolved = format!("/{}", stack.join("/"));
                prop_assert_eq!(under_prefix(&p, &prefix), under_prefix(&resolved, &prefix), "{} -> {}", raw, p);
            }
        }
    }
}
