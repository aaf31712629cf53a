//! Input checks shared by the commands; each names the field it rejects.

use crate::ConsoleError;

/// The largest credit amount one command may move. Far above any real top-up, and small
/// enough that no sum of balances can overflow an `i64`.
pub const MAX_CREDITS: i64 = 1_000_000_000_000_000;

type Checked<T> = Result<T, ConsoleError>;

/// A slug: 1–63 of `a-z 0-9 -`, starting with a letter or digit.
pub fn slug(field: &str, s: &str) -> Checked<String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-');
    if ok {
        Ok(s.to_string())
    } else {
        Err(ConsoleError::invalid(field, format!("'{s}' is not a valid slug (1-63 characters of a-z, 0-9 and '-')")))
    }
}

/// Derives a slug from a display name: `Acme Corp.` becomes `acme-corp`.
pub fn slugify(field: &str, name: &str) -> Checked<String> {
    let mut out = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').chars().take(63).collect::<String>();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        return Err(ConsoleError::invalid(field, format!("cannot derive a slug from '{name}'; give one with slug")));
    }
    Ok(out)
}

/// Characters that must not reach a terminal from stored text: C0 and C1 controls (escape
/// sequences, carriage returns, bells), DEL, and the Unicode line separators and bidi
/// overrides that reorder or break what a table shows.
pub fn is_control_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Refuses text holding a [control character](is_control_char), naming the field.
pub fn plain_text(field: &str, s: &str) -> Checked<()> {
    match s.chars().find(|c| is_control_char(*c)) {
        None => Ok(()),
        Some(c) => Err(ConsoleError::invalid(
            field,
            format!("must not contain control characters (found U+{:04X})", u32::from(c)),
        )),
    }
}

/// A non-empty display name of at most 200 characters, trimmed.
pub fn name(field: &str, s: &str) -> Checked<String> {
    let t = s.trim();
    plain_text(field, t)?;
    if t.is_empty() {
        return Err(ConsoleError::invalid(field, "must not be empty"));
    }
    if t.chars().count() > 200 {
        return Err(ConsoleError::invalid(field, "must be at most 200 characters"));
    }
    Ok(t.to_string())
}

/// A plausible e-mail address (one `@`, a dot in the domain, no spaces).
pub fn email(field: &str, s: &str) -> Checked<String> {
    let t = s.trim();
    plain_text(field, t)?;
    let ok = match t.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !t.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if ok { Ok(t.to_string()) } else { Err(ConsoleError::invalid(field, format!("'{s}' is not an e-mail address"))) }
}

/// The active ISO 4217 currencies a price can be set in (list one as of 2026), sorted:
/// the national currencies, without the fund codes (BOV, CHE, …), precious metals, the
/// testing code XTS and XXX ("no currency"), and without codes since withdrawn (ANG, BGN,
/// CUC, HRK, SLL, ZWL), so a typo such as `XYZ` or `USS` is refused.
pub const CURRENCIES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BHD", "BIF", "BMD", "BND",
    "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE",
    "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD",
    "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY",
    "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD",
    "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO",
    "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF",
    "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VED", "VES", "VND",
    "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// An active ISO 4217 currency code (see [`CURRENCIES`]), returned upper-case.
pub fn currency(field: &str, s: &str) -> Checked<String> {
    let code = s.trim().to_ascii_uppercase();
    if code.len() == 3 && CURRENCIES.binary_search(&code.as_str()).is_ok() {
        Ok(code)
    } else if s.len() == 3 && s.bytes().all(|b| b.is_ascii_alphabetic()) {
        Err(ConsoleError::invalid(field, format!("'{s}' is not an active ISO 4217 currency code (e.g. USD, EUR, GBP)")))
    } else {
        Err(ConsoleError::invalid(field, format!("'{s}' is not a 3-letter ISO 4217 currency code")))
    }
}

/// An absolute `http` or `https` URL with a host and no whitespace.
pub fn http_url(field: &str, s: &str) -> Checked<String> {
    let t = s.trim();
    plain_text(field, t)?;
    let rest = t.strip_prefix("http://").or_else(|| t.strip_prefix("https://"));
    let host_ok = rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !host.starts_with(':')
    });
    if host_ok && !t.chars().any(char::is_whitespace) {
        Ok(t.to_string())
    } else {
        Err(ConsoleError::invalid(field, format!("'{s}' is not an absolute http(s) URL")))
    }
}

/// Entitlement, scope and similar names: 1–64 of `a-z 0-9 _ . : -`.
pub fn token(field: &str, s: &str) -> Checked<String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b));
    if ok {
        Ok(s.to_string())
    } else {
        Err(ConsoleError::invalid(
            field,
            format!("'{s}' is not a valid name (1-64 characters of a-z, 0-9, '_', '.', ':', '-')"),
        ))
    }
}

/// A list of [`token`]s, de-duplicated and sorted so equal sets compare equal.
pub fn tokens(field: &str, items: &[String]) -> Checked<Vec<String>> {
    let mut out = items.iter().map(|s| token(field, s.trim())).collect::<Checked<Vec<_>>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

/// A credit amount that must be positive and at most [`MAX_CREDITS`].
pub fn positive_credits(field: &str, amount: i64) -> Checked<i64> {
    if amount <= 0 {
        return Err(ConsoleError::invalid(field, format!("must be positive, got {amount}")));
    }
    bounded(field, amount)
}

/// A count that must be zero or more and at most [`MAX_CREDITS`].
pub fn non_negative(field: &str, n: i64) -> Checked<i64> {
    if n < 0 {
        return Err(ConsoleError::invalid(field, format!("must not be negative, got {n}")));
    }
    bounded(field, n)
}

/// Rejects magnitudes above [`MAX_CREDITS`].
pub fn bounded(field: &str, n: i64) -> Checked<i64> {
    if n.unsigned_abs() > MAX_CREDITS as u64 {
        return Err(ConsoleError::invalid(field, format!("{n} is too large (limit {MAX_CREDITS})")));
    }
    Ok(n)
}

/// An optional free-text note, trimmed, at most 500 characters; empty means none.
pub fn note(field: &str, s: Option<&str>) -> Checked<Option<String>> {
    match s.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) if t.chars().count() > 500 => Err(ConsoleError::invalid(field, "must be at most 500 characters")),
        Some(t) => plain_text(field, t).map(|()| Some(t.to_string())),
    }
}

/// An idempotency key: 1–200 printable ASCII characters.
pub fn idempotency_key(field: &str, s: &str) -> Checked<String> {
    if !s.is_empty() && s.len() <= 200 && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(s.to_string())
    } else {
        Err(ConsoleError::invalid(field, "must be 1-200 printable ASCII characters without spaces"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugify_makes_readable_slugs() {
        assert_eq!(slugify("name", "Acme Corp.").unwrap(), "acme-corp", "punctuation folds to dashes");
        assert_eq!(slugify("name", "  Ümlaut GmbH ").unwrap(), "mlaut-gmbh", "non-ASCII letters are dropped");
        assert!(slugify("name", "!!!").is_err(), "a name with no letters gives no slug");
    }

    #[test]
    fn urls_need_scheme_and_host() {
        assert!(http_url("u", "https://billing.example.com/{tenant}").is_ok(), "a template URL is fine");
        assert!(http_url("u", "ftp://x").is_err(), "other schemes are refused");
        assert!(http_url("u", "http://").is_err(), "a URL needs a host");
        assert!(http_url("u", "http://a b").is_err(), "spaces are refused");
    }

    #[test]
    fn text_with_control_characters_is_refused() {
        for bad in
            ["Acme\x1b[2J", "a\nb", "bell\x07", "del\x7f", "c1\u{9b}", "rtl\u{202e}moc.evil", "line\u{2028}break"]
        {
            assert!(name("name", bad).is_err(), "{bad:?} is refused as a name");
            assert!(note("reason", Some(bad)).is_err(), "{bad:?} is refused as a note");
        }
        let e = name("name", "Acme\x1b[31m").unwrap_err();
        assert_eq!(
            e.to_string(),
            "name: must not contain control characters (found U+001B)",
            "the field and the character"
        );
        assert!(email("contact_email", "ops@acme.io\x07").is_err(), "e-mail addresses too");
        assert!(http_url("billing_link", "https://a.io/\x1b").is_err(), "and URLs");
        assert_eq!(name("name", "  Ümlaut GmbH  ").unwrap(), "Ümlaut GmbH", "letters of any script pass");
        assert_eq!(
            note("reason", Some("\t padded \n")).unwrap().as_deref(),
            Some("padded"),
            "trimmed whitespace is no content"
        );
    }

    #[test]
    fn currencies_are_active_iso_4217_codes() {
        assert!(CURRENCIES.windows(2).all(|w| w[0] < w[1]), "the list is sorted (it is binary searched)");
        assert_eq!(currency("currency", "eur").unwrap(), "EUR", "any case, returned upper-case");
        for bad in ["XYZ", "USS", "XTS", "XXX", "BGN", "EURO", "U1D"] {
            let e = currency("currency", bad).unwrap_err();
            assert!(e.to_string().starts_with("currency: "), "{bad} is refused naming the field: {e}");
        }
    }

    #[test]
    fn credits_are_bounded() {
        assert!(positive_credits("amount", 0).is_err(), "zero is not a top-up");
        assert!(positive_credits("amount", -5).is_err(), "negative is not a top-up");
        assert!(positive_credits("amount", i64::MAX).is_err(), "overflowing amounts are refused");
        assert_eq!(positive_credits("amount", 5000).unwrap(), 5000, "a normal amount passes");
    }
}
