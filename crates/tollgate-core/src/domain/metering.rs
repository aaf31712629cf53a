//! Metered routes: what a call reserves before it is forwarded and what it is charged once
//! the upstream has said what it used. Pure arithmetic on integers (credits and tokens),
//! no I/O: the gateway feeds it the request's and the answer's facts.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ConsoleError;
use crate::domain::validate;

/// How a route's calls are charged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Metering {
    /// The route's `cost`, known before the call.
    #[default]
    Fixed,
    /// What the upstream's answer says in the header `charge_header` (whole credits).
    Header,
    /// The answer's OpenAI-style `usage` (prompt and completion tokens, also in the last
    /// event of a streamed answer), priced per model from the settings' `model_prices`.
    Usage,
}

/// What a metered call whose answer did not finish (client gone, stream broken) is charged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum OnCancel {
    /// Nothing: the customer pays only for answers that arrived whole.
    #[default]
    Nothing,
    /// What the upstream had reported when the answer broke off (its header, or the last
    /// usage it streamed); nothing when it had reported nothing.
    Reported,
}

/// The price of one model, in credits per million tokens (integers: a credit is the
/// smallest unit, and a million tokens keeps cheap models expressible).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// The model's name as clients send it (`"model": "gpt-4o-mini"`).
    pub model: String,
    /// Credits per million prompt (input) tokens.
    pub prompt_per_million: i64,
    /// Credits per million completion (output) tokens.
    pub completion_per_million: i64,
}

/// Tokens an answer reports having used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// The most a call on a metered route may be charged, and what is held for it.
pub const MAX_RESERVATION: i64 = 1_000_000_000_000_000;

/// The largest price per million tokens (so no product of tokens and price overflows).
const MAX_PRICE: i64 = 1_000_000_000_000;

/// Checks a price table: names are tokens of at most 128 characters, unique, and prices
/// are non-negative and bounded.
pub fn check_prices(key: &str, prices: &[ModelPrice]) -> Result<(), ConsoleError> {
    if prices.len() > 1000 {
        return Err(ConsoleError::invalid(key, format!("at most 1000 models, got {}", prices.len())));
    }
    let mut seen = std::collections::HashSet::new();
    for p in prices {
        let name = p.model.as_str();
        let ok = !name.is_empty() && name.len() <= 128 && name.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(ConsoleError::invalid(key, format!("model {name:?} must be 1–128 visible ASCII characters")));
        }
        if !seen.insert(name) {
            return Err(ConsoleError::invalid(key, format!("model {name:?} is priced twice")));
        }
        for (what, n) in
            [("prompt_per_million", p.prompt_per_million), ("completion_per_million", p.completion_per_million)]
        {
            if !(0..=MAX_PRICE).contains(&n) {
                return Err(ConsoleError::invalid(key, format!("{name}: {what} must be 0–{MAX_PRICE}, got {n}")));
            }
        }
    }
    Ok(())
}

/// Checks a markup in percent (0–1000).
pub fn check_markup(key: &str, percent: i64) -> Result<i64, ConsoleError> {
    validate::non_negative(key, percent).and_then(|p| {
        if p <= 1000 { Ok(p) } else { Err(ConsoleError::invalid(key, format!("must be 0–1000 percent, got {p}"))) }
    })
}

/// The price of `model` in `prices`.
pub fn price_of<'a>(prices: &'a [ModelPrice], model: &str) -> Option<&'a ModelPrice> {
    prices.iter().find(|p| p.model == model)
}

/// `usage` priced at `price` with `markup_percent` on top, rounded up to a whole credit
/// (a call that used anything costs at least one credit when its price is not zero).
pub fn charge(usage: TokenUsage, price: &ModelPrice, markup_percent: i64) -> i64 {
    let tokens = |n: i64| i128::from(n.max(0));
    let micro = tokens(usage.prompt_tokens) * i128::from(price.prompt_per_million)
        + tokens(usage.completion_tokens) * i128::from(price.completion_per_million);
    let marked = micro * i128::from(100 + markup_percent.max(0));
    let credits = (marked + 100_000_000 - 1) / 100_000_000;
    i64::try_from(credits).unwrap_or(i64::MAX)
}

/// What a call that asks `model` for at most `max_tokens` completion tokens, with a body
/// of `body_bytes`, can cost at most: every body byte counted as a prompt token (tokenizers
/// make a token of at least one byte) and every completion token asked for.
pub fn reservation(price: &ModelPrice, markup_percent: i64, max_tokens: i64, body_bytes: usize) -> i64 {
    let usage =
        TokenUsage { prompt_tokens: i64::try_from(body_bytes).unwrap_or(i64::MAX), completion_tokens: max_tokens };
    charge(usage, price, markup_percent)
}

/// What a request body says about its cost: the model it asks for and the most completion
/// tokens it allows (`max_tokens`, or `max_completion_tokens`, OpenAI's newer name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestedTokens {
    pub model: Option<String>,
    pub max_tokens: Option<i64>,
    /// One answer (`n` and `best_of` absent or 1) from text alone: no image, audio, file or
    /// earlier response, whose tokens its bytes do not bound.
    pub plain: bool,
}

/// Reads [`RequestedTokens`] from a JSON request body; nothing from anything else.
pub fn requested(body: &[u8]) -> RequestedTokens {
    #[derive(Deserialize)]
    struct Asked {
        model: Option<String>,
        max_tokens: Option<i64>,
        max_completion_tokens: Option<i64>,
        n: Option<i64>,
        best_of: Option<i64>,
    }
    let rich = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    match serde_json::from_slice::<Asked>(body) {
        Ok(a) => RequestedTokens {
            model: a.model,
            max_tokens: a.max_completion_tokens.or(a.max_tokens),
            plain: a.n.unwrap_or(1) == 1
                && a.best_of.unwrap_or(1) == 1
                && ![&b"image"[..], b"audio", b"file", b"previous_response_id"].iter().any(|n| rich(n)),
        },
        Err(_) => RequestedTokens::default(),
    }
}

/// What one JSON document (an answer, or one streamed event) reports: its `usage` and
/// `model` when present. OpenAI's shape: `{"model": …, "usage": {"prompt_tokens": …,
/// "completion_tokens": …}}`; `input_tokens`/`output_tokens` (the Responses API and
/// Anthropic's) are read too.
pub fn reported(json: &[u8]) -> (Option<TokenUsage>, Option<String>) {
    #[derive(Deserialize)]
    struct Counts {
        prompt_tokens: Option<i64>,
        completion_tokens: Option<i64>,
        input_tokens: Option<i64>,
        output_tokens: Option<i64>,
    }
    #[derive(Deserialize)]
    struct Answer {
        model: Option<String>,
        usage: Option<Counts>,
    }
    match serde_json::from_slice::<Answer>(json) {
        Ok(a) => {
            let usage = a.usage.map(|u| TokenUsage {
                prompt_tokens: u.prompt_tokens.or(u.input_tokens).unwrap_or(0),
                completion_tokens: u.completion_tokens.or(u.output_tokens).unwrap_or(0),
            });
            (usage, a.model)
        }
        Err(_) => (None, None),
    }
}

/// A charge header's value: whole credits, non-negative.
pub fn header_charge(value: &[u8]) -> Option<i64> {
    std::str::from_utf8(value).ok()?.trim().parse::<i64>().ok().filter(|n| *n >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(prompt: i64, completion: i64) -> ModelPrice {
        ModelPrice { model: "m".into(), prompt_per_million: prompt, completion_per_million: completion }
    }

    #[test]
    fn usage_is_priced_per_million_rounded_up_with_markup() {
        let p = price(1_000_000, 2_000_000); // 1 credit per prompt token, 2 per completion token
        let u = TokenUsage { prompt_tokens: 10, completion_tokens: 5 };
        assert_eq!(charge(u, &p, 0), 20);
        assert_eq!(charge(u, &p, 50), 30, "50 % markup");
        let cheap = price(150, 600); // gpt-4o-mini-like: 0.15 / 0.6 credits per 1,000 tokens
        assert_eq!(charge(TokenUsage { prompt_tokens: 1, completion_tokens: 0 }, &cheap, 0), 1, "rounded up");
        assert_eq!(charge(TokenUsage { prompt_tokens: 1_000_000, completion_tokens: 1_000_000 }, &cheap, 0), 750);
        assert_eq!(charge(TokenUsage::default(), &cheap, 0), 0, "nothing used, nothing charged");
        assert_eq!(
            charge(TokenUsage { prompt_tokens: -5, completion_tokens: 0 }, &p, 0),
            0,
            "negative counts are nothing"
        );
        let huge = TokenUsage { prompt_tokens: i64::MAX, completion_tokens: i64::MAX };
        assert_eq!(charge(huge, &price(MAX_PRICE, MAX_PRICE), 1000), i64::MAX, "saturates, never wraps");
    }

    #[test]
    fn a_reservation_covers_every_byte_as_a_prompt_token_and_every_asked_completion_token() {
        let p = price(1_000_000, 3_000_000);
        assert_eq!(reservation(&p, 0, 100, 40), 40 + 300);
        assert_eq!(reservation(&p, 10, 100, 40), 374, "markup applies");
    }

    #[test]
    fn request_and_answer_facts_are_read_from_json_only() {
        let asked = requested(br#"{"model":"gpt-4o-mini","max_tokens":64,"messages":[]}"#);
        assert_eq!(asked, RequestedTokens { model: Some("gpt-4o-mini".into()), max_tokens: Some(64), plain: true });
        assert!(!requested(br#"{"model":"m","max_tokens":64,"n":8}"#).plain, "eight answers");
        let image =
            br#"{"model":"m","max_tokens":9,"messages":[{"content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#;
        assert!(!requested(image).plain, "an image's tokens are not its URL's bytes");
        assert_eq!(requested(br#"{"model":"m","max_completion_tokens":9,"max_tokens":64}"#).max_tokens, Some(9));
        assert_eq!(requested(b"not json"), RequestedTokens::default());
        let (usage, model) = reported(
            br#"{"id":"x","model":"m-2024","usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}"#,
        );
        assert_eq!(usage, Some(TokenUsage { prompt_tokens: 7, completion_tokens: 3 }));
        assert_eq!(model.as_deref(), Some("m-2024"));
        assert_eq!(
            reported(br#"{"usage":{"input_tokens":2,"output_tokens":1}}"#).0,
            Some(TokenUsage { prompt_tokens: 2, completion_tokens: 1 })
        );
        assert_eq!(reported(br#"{"choices":[],"usage":null}"#).0, None, "a streamed chunk before the last");
        assert_eq!(header_charge(b" 37 "), Some(37));
        assert_eq!(header_charge(b"-1"), None);
        assert_eq!(header_charge(b"3.5"), None);
    }

    #[test]
    fn price_tables_are_checked() {
        assert!(check_prices("model_prices", &[price(1, 2)]).is_ok());
        let twice = [price(1, 2), price(3, 4)];
        assert!(check_prices("model_prices", &twice).unwrap_err().to_string().contains("priced twice"));
        assert!(check_prices("model_prices", &[price(-1, 2)]).unwrap_err().to_string().contains("prompt_per_million"));
        let unnamed = ModelPrice { model: "a b".into(), ..price(1, 1) };
        assert!(check_prices("model_prices", &[unnamed]).is_err());
        assert!(check_markup("price_markup_percent", 1001).is_err());
    }
}
