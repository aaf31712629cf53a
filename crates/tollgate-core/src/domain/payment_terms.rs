//! The checks on the operator's payment settings (x402 and Payment challenges): each names
//! the setting and what is wrong with it.

use crate::ConsoleError;
use crate::domain::validate;

/// Empty (off), or a CAIP-2 network id: `namespace:reference`, e.g. `eip155:8453`.
pub fn network(key: &str, s: &str) -> Result<String, ConsoleError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(String::new());
    }
    let ok = s.split_once(':').is_some_and(|(ns, reference)| {
        (3..=8).contains(&ns.len())
            && ns.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && (1..=32).contains(&reference.len())
            && reference.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if ok {
        Ok(s.to_string())
    } else {
        Err(ConsoleError::invalid(key, format!("'{s}' is not a CAIP-2 network id such as eip155:8453")))
    }
}

/// Empty, or an EVM address: `0x` and 40 hex digits.
pub fn address(key: &str, s: &str) -> Result<String, ConsoleError> {
    let s = s.trim();
    let ok = s.is_empty() || (s.len() == 42 && s.starts_with("0x") && s[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(s.to_string())
    } else {
        Err(ConsoleError::invalid(key, format!("'{s}' is not an address (0x and 40 hex digits)")))
    }
}

/// 1–64 printable ASCII characters.
pub fn label(key: &str, s: &str) -> Result<String, ConsoleError> {
    let ok = (1..=64).contains(&s.len()) && s.bytes().all(|b| (b' '..=b'~').contains(&b));
    if ok { Ok(s.to_string()) } else { Err(ConsoleError::invalid(key, "must be 1-64 printable ASCII characters")) }
}

/// At most 8 top-ups, each 1 credit or more, sorted and without repeats.
pub fn top_ups(key: &str, sizes: &[i64]) -> Result<Vec<i64>, ConsoleError> {
    if sizes.len() > 8 {
        return Err(ConsoleError::invalid(key, format!("at most 8 top-ups, got {}", sizes.len())));
    }
    let mut out = Vec::with_capacity(sizes.len());
    for &n in sizes {
        if n < 1 {
            return Err(ConsoleError::invalid(key, format!("a top-up must be 1 credit or more, got {n}")));
        }
        out.push(validate::non_negative(key, n)?);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Empty (a random secret per process), or 32-256 visible characters.
pub fn secret(key: &str, s: &str) -> Result<String, ConsoleError> {
    let s = s.trim();
    let ok = s.is_empty() || ((32..=256).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()));
    if ok { Ok(s.to_string()) } else { Err(ConsoleError::invalid(key, "must be 32-256 visible characters, or empty")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_settings_are_checked_and_named() {
        assert_eq!(network("x402_network", " eip155:8453 ").unwrap(), "eip155:8453");
        assert!(network("x402_network", "base-sepolia").unwrap_err().to_string().contains("CAIP-2"));
        assert!(address("x402_pay_to", "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC").is_ok());
        assert!(address("x402_pay_to", "0x123").is_err());
        assert_eq!(top_ups("x402_top_ups", &[10_000, 1_000, 1_000]).unwrap(), [1_000, 10_000]);
        assert!(top_ups("x402_top_ups", &[0]).is_err());
        assert!(secret("payment_challenge_secret", "short").is_err());
        assert!(label("x402_asset_name", "").is_err());
    }
}
