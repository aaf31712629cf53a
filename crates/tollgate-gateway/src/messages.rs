//! What a denial says to a person, in English and German (`Accept-Language` picks).

use tollgate_core::domain::path::PathError;
use tollgate_core::domain::policy::{DenialCode, DenialFacts};

/// A language the gateway speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

impl Lang {
    /// The best supported language for an `Accept-Language` value: the highest weight
    /// above 0 (the first on a tie); English otherwise.
    pub fn negotiate(accept_language: Option<&str>) -> Self {
        let mut best = (Lang::En, 0.0f32);
        for item in accept_language.unwrap_or("").split(',') {
            let (tag, params) = item.split_once(';').unwrap_or((item, ""));
            let Some(q) = quality(params) else { continue };
            let tag = tag.trim();
            let primary = tag.split('-').next().unwrap_or("");
            let lang = if primary.eq_ignore_ascii_case("de") {
                Lang::De
            } else if primary.eq_ignore_ascii_case("en") {
                Lang::En
            } else {
                continue;
            };
            if q > best.1 {
                best = (lang, q);
            }
        }
        best.0
    }

    /// The `Content-Language` value.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }
}

/// The weight of one `Accept`/`Accept-Language` item from its parameters (`;q=0.8`),
/// RFC 9110 §12.4.2: 1 when absent, `None` when malformed (the item is then ignored).
pub fn quality(params: &str) -> Option<f32> {
    let mut q = 1.0;
    for param in params.split(';') {
        let Some((name, value)) = param.split_once('=') else { continue };
        if !name.trim().eq_ignore_ascii_case("q") {
            continue;
        }
        let value = value.trim();
        let (int, frac) = value.split_once('.').unwrap_or((value, ""));
        let valid = matches!(int, "0" | "1")
            && frac.len() <= 3
            && frac.bytes().all(|b| b.is_ascii_digit())
            && (int == "0" || frac.bytes().all(|b| b == b'0'));
        if !valid {
            return None;
        }
        q = value.parse().ok()?;
    }
    Some(q)
}

/// Why the gateway answered instead of the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The policy refused the request.
    Denied(DenialCode),
    /// No route matches the method and path.
    RouteNotFound,
    /// The upstream could not be reached.
    UpstreamUnavailable,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// A `strict` request's charge cannot be committed (storage failing, or the ledger
    /// refused it): it is refused rather than served uncharged.
    StorageUnavailable,
    /// HTTP/1.1 without a `Host`, or with several, or an invalid one (RFC 9112 §3.2).
    InvalidHost,
    /// A path whose meaning depends on the server behind (see [`tollgate_core::domain::path`]).
    InvalidPath(PathError),
    /// The client's request body could not be read (malformed chunked framing, cut off).
    BadRequestBody,
    /// Too many requests without a usable key from one address (see [`crate::keyless`]).
    KeylessRateLimited,
    /// A usage-metered route was asked for a model its price table lacks: it could not be
    /// charged, so it is not served.
    ModelNotPriced,
    /// The payment the request carried (x402 or a Payment credential) was not taken:
    /// nothing was charged or credited.
    PaymentFailed,
    /// A call without a key on a pay-per-call route: it may pay for itself.
    PayPerCall,
}

impl Reason {
    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            Reason::Denied(code) => code.status(),
            Reason::PaymentFailed | Reason::PayPerCall => 402,
            Reason::RouteNotFound => 404,
            Reason::UpstreamUnavailable => 502,
            Reason::UpstreamTimeout => 504,
            Reason::StorageUnavailable => 503,
            Reason::InvalidHost | Reason::InvalidPath(_) | Reason::BadRequestBody | Reason::ModelNotPriced => 400,
            Reason::KeylessRateLimited => 429,
        }
    }

    /// The stable machine code.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Denied(code) => code.as_str(),
            Reason::RouteNotFound => "ROUTE_NOT_FOUND",
            Reason::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Reason::UpstreamTimeout => "UPSTREAM_TIMEOUT",
            Reason::StorageUnavailable => "STORAGE_UNAVAILABLE",
            Reason::InvalidHost => "INVALID_HOST",
            Reason::InvalidPath(_) => "INVALID_PATH",
            Reason::BadRequestBody => "BAD_REQUEST_BODY",
            Reason::KeylessRateLimited => "RATE_LIMITED",
            Reason::ModelNotPriced => "MODEL_NOT_PRICED",
            Reason::PaymentFailed => "PAYMENT_FAILED",
            Reason::PayPerCall => "PAYMENT_REQUIRED",
        }
    }

    /// Whether the answer may tell the caller about the account behind its key (balance,
    /// tenant, plan, billing link). Not for a key that is refused as such (revoked,
    /// expired), a blocked tenant, nor a refused address (which may be a stolen key's):
    /// they learn nothing they could not learn without a key. The operator's event still
    /// names the tenant.
    pub fn shows_account(self) -> bool {
        !matches!(
            self,
            Reason::Denied(
                DenialCode::ApiKeyRevoked
                    | DenialCode::ApiKeyExpired
                    | DenialCode::TenantBlocked
                    | DenialCode::IpNotAllowed
            )
        )
    }
}

fn or_dash<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".to_string(), T::to_string)
}

/// Title and detail for `reason` in `lang`, filled with the facts.
pub fn text(lang: Lang, reason: Reason, f: &DenialFacts) -> (&'static str, String) {
    use DenialCode as D;
    let (plan, cost, balance) = (or_dash(&f.plan), or_dash(&f.cost), or_dash(&f.balance));
    match (lang, reason) {
        (Lang::En, Reason::Denied(code)) => match code {
            D::MissingApiKey => ("API key required", "Send your API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.".into()),
            D::InvalidApiKey => ("Invalid API key", "The API key is not recognised. Check that you copied it completely.".into()),
            D::ApiKeyRevoked => ("API key revoked", "This API key has been revoked. Use a current key.".into()),
            D::ApiKeyExpired => ("API key expired", format!("This API key expired at {}. Use a current key.", or_dash(&f.expires_at))),
            D::TenantBlocked => ("Account blocked", "This account is blocked. Contact the API provider.".into()),
            D::IpNotAllowed => ("Address not allowed", "Requests from your network address are not allowed for this account or endpoint. Contact the API provider.".into()),
            D::ScopeNotGranted => ("Scope not granted", format!("This key lacks the scope '{}' that this endpoint requires.", or_dash(&f.required_scope))),
            D::AccountSuspendedNonpayment => ("Account suspended for non-payment", "Your account is suspended because a payment is outstanding. Pay to restore access.".into()),
            D::SubscriptionCanceled => ("Subscription canceled", format!("Your subscription to the {plan} plan is canceled. Subscribe again to continue.")),
            D::SubscriptionExpired => ("Subscription expired", format!("Your subscription to the {plan} plan ended at {}. Renew to continue.", or_dash(&f.period_end))),
            D::SubscriptionPastDue => ("Subscription past due", format!("Payment for the {plan} plan is overdue and the grace period ended at {}. Pay to continue.", or_dash(&f.grace_until))),
            D::FeatureNotInPlan => ("Feature not in your plan", format!("This endpoint needs the '{}' feature, which the {plan} plan does not include. Upgrade to use it.", or_dash(&f.required_feature))),
            D::RateLimited => ("Too many requests", format!("The {plan} plan's rate limit is reached. Retry in {} s.", or_dash(&f.retry_after))),
            D::QuotaExhausted => ("Quota exhausted", format!("The {plan} plan's {} requests for this period are used. Upgrade or wait for the next period.", or_dash(&f.quota))),
            D::KeyBudgetExhausted => ("Key budget used up", {
                let (budget, used, resets) = budget_words(f);
                format!("This API key may spend {budget} credits per period and has spent {used}; this call needs {cost}. The budget renews at {resets}; the account's other keys are not affected.")
            }),
            D::InsufficientCredits => ("Insufficient credits", format!("This call costs {cost} credits and your balance is {balance}. Top up to continue.")),
        },
        (Lang::De, Reason::Denied(code)) => match code {
            D::MissingApiKey => ("API-Schlüssel erforderlich", "Senden Sie Ihren API-Schlüssel als 'Authorization: Bearer <Schlüssel>' oder 'X-API-Key: <Schlüssel>'.".into()),
            D::InvalidApiKey => ("Ungültiger API-Schlüssel", "Der API-Schlüssel ist unbekannt. Prüfen Sie, ob Sie ihn vollständig kopiert haben.".into()),
            D::ApiKeyRevoked => ("API-Schlüssel widerrufen", "Dieser API-Schlüssel wurde widerrufen. Verwenden Sie einen aktuellen Schlüssel.".into()),
            D::ApiKeyExpired => ("API-Schlüssel abgelaufen", format!("Dieser API-Schlüssel ist am {} abgelaufen. Verwenden Sie einen aktuellen Schlüssel.", or_dash(&f.expires_at))),
            D::TenantBlocked => ("Konto gesperrt", "Dieses Konto ist gesperrt. Wenden Sie sich an den API-Anbieter.".into()),
            D::IpNotAllowed => ("Adresse nicht zugelassen", "Anfragen von Ihrer Netzwerkadresse sind für dieses Konto oder diesen Endpunkt nicht zugelassen. Wenden Sie sich an den API-Anbieter.".into()),
            D::ScopeNotGranted => ("Berechtigung fehlt", format!("Diesem Schlüssel fehlt die Berechtigung '{}', die dieser Endpunkt verlangt.", or_dash(&f.required_scope))),
            D::AccountSuspendedNonpayment => ("Konto wegen Zahlungsrückstand gesperrt", "Ihr Konto ist gesperrt, weil eine Zahlung aussteht. Bezahlen Sie, um den Zugang wiederherzustellen.".into()),
            D::SubscriptionCanceled => ("Abonnement gekündigt", format!("Ihr Abonnement des Tarifs {plan} ist gekündigt. Schließen Sie es erneut ab, um fortzufahren.")),
            D::SubscriptionExpired => ("Abonnement abgelaufen", format!("Ihr Abonnement des Tarifs {plan} endete am {}. Verlängern Sie es, um fortzufahren.", or_dash(&f.period_end))),
            D::SubscriptionPastDue => ("Zahlung überfällig", format!("Die Zahlung für den Tarif {plan} ist überfällig, die Kulanzfrist endete am {}. Bezahlen Sie, um fortzufahren.", or_dash(&f.grace_until))),
            D::FeatureNotInPlan => ("Funktion nicht im Tarif", format!("Dieser Endpunkt benötigt die Funktion '{}', die der Tarif {plan} nicht enthält. Wechseln Sie den Tarif, um sie zu nutzen.", or_dash(&f.required_feature))),
            D::RateLimited => ("Zu viele Anfragen", format!("Das Anfragelimit des Tarifs {plan} ist erreicht. Versuchen Sie es in {} s erneut.", or_dash(&f.retry_after))),
            D::QuotaExhausted => ("Kontingent aufgebraucht", format!("Die {} Anfragen des Tarifs {plan} für diesen Zeitraum sind verbraucht. Wechseln Sie den Tarif oder warten Sie auf den nächsten Zeitraum.", or_dash(&f.quota))),
            D::KeyBudgetExhausted => ("Budget des Schlüssels aufgebraucht", {
                let (budget, used, resets) = budget_words(f);
                format!("Dieser API-Schlüssel darf {budget} Credits pro Zeitraum ausgeben und hat {used} ausgegeben; dieser Aufruf braucht {cost}. Das Budget erneuert sich am {resets}; die anderen Schlüssel des Kontos sind nicht betroffen.")
            }),
            D::InsufficientCredits => ("Guthaben reicht nicht aus", format!("Dieser Aufruf kostet {cost} Credits, Ihr Guthaben beträgt {balance}. Laden Sie Guthaben auf, um fortzufahren.")),
        },
        (Lang::En, Reason::RouteNotFound) => ("Not found", "No API route matches this method and path.".into()),
        (Lang::De, Reason::RouteNotFound) => ("Nicht gefunden", "Keine API-Route passt zu dieser Methode und diesem Pfad.".into()),
        (Lang::En, Reason::UpstreamUnavailable) => ("Upstream unavailable", "The API behind the gateway could not be reached. You were not charged; retry later.".into()),
        (Lang::De, Reason::UpstreamUnavailable) => ("Dienst nicht erreichbar", "Die API hinter dem Gateway ist nicht erreichbar. Es wurde nichts berechnet; versuchen Sie es später erneut.".into()),
        (Lang::En, Reason::UpstreamTimeout) => ("Upstream timeout", "The API behind the gateway did not answer in time. You were not charged; retry later.".into()),
        (Lang::En, Reason::StorageUnavailable) => ("Temporarily unavailable", "The gateway cannot record charges right now. You were not charged; retry later.".into()),
        (Lang::De, Reason::StorageUnavailable) => ("Vorübergehend nicht verfügbar", "Das Gateway kann Abrechnungen gerade nicht speichern. Es wurde nichts berechnet; versuchen Sie es später erneut.".into()),
        (Lang::De, Reason::UpstreamTimeout) => ("Zeitüberschreitung", "Die API hinter dem Gateway hat nicht rechtzeitig geantwortet. Es wurde nichts berechnet; versuchen Sie es später erneut.".into()),
        (Lang::En, Reason::InvalidHost) => ("Bad request", "An HTTP/1.1 request needs exactly one valid Host header.".into()),
        (Lang::De, Reason::InvalidHost) => ("Ungültige Anfrage", "Eine HTTP/1.1-Anfrage braucht genau einen gültigen Host-Header.".into()),
        (Lang::En, Reason::InvalidPath(e)) => ("Invalid path", format!("The request path is ambiguous: {e}. Send the path without it.")),
        (Lang::De, Reason::InvalidPath(e)) => ("Ungültiger Pfad", format!("Der Anfragepfad ist mehrdeutig: {}. Senden Sie den Pfad ohne dies.", path_error_de(e))),
        (Lang::En, Reason::BadRequestBody) => ("Bad request body", "The request body could not be read (malformed chunked encoding, or cut off). You were not charged.".into()),
        (Lang::De, Reason::BadRequestBody) => ("Ungültiger Anfrageinhalt", "Der Anfrageinhalt war nicht lesbar (fehlerhafte Chunked-Kodierung oder abgebrochen). Es wurde nichts berechnet.".into()),
        (Lang::En, Reason::ModelNotPriced) => ("Model not available", format!("The model '{}' has no price on this API, so it cannot be used here. You were not charged.", or_dash(&f.model))),
        (Lang::De, Reason::ModelNotPriced) => ("Modell nicht verfügbar", format!("Für das Modell '{}' gibt es bei dieser API keinen Preis, daher ist es hier nicht nutzbar. Es wurde nichts berechnet.", or_dash(&f.model))),
        (Lang::En, Reason::PaymentFailed) => ("Payment not accepted", format!("The payment sent with this request was not taken: {}. Nothing was charged or credited; pay again or top up.", f.payment_error.as_deref().map_or("-", String::as_str))),
        (Lang::De, Reason::PaymentFailed) => ("Zahlung nicht angenommen", format!("Die mit dieser Anfrage gesendete Zahlung wurde nicht angenommen: {}. Es wurde nichts berechnet oder gutgeschrieben; zahlen Sie erneut oder laden Sie Guthaben auf.", f.payment_error.as_deref().map_or("-", String::as_str))),
        (Lang::En, Reason::PayPerCall) => ("Payment required", format!("This endpoint can be paid per call without an account: {cost} credits, payable with x402 (PAYMENT-REQUIRED) or the Payment authentication scheme. Or send an API key.")),
        (Lang::De, Reason::PayPerCall) => ("Zahlung erforderlich", format!("Dieser Endpunkt kann ohne Konto pro Aufruf bezahlt werden: {cost} Credits, zahlbar mit x402 (PAYMENT-REQUIRED) oder dem Payment-Authentifizierungsschema. Oder senden Sie einen API-Schlüssel.")),
        (Lang::En, Reason::KeylessRateLimited) => ("Too many requests", format!("Too many requests without a valid API key from your address. Retry in {} s.", or_dash(&f.retry_after))),
        (Lang::De, Reason::KeylessRateLimited) => ("Zu viele Anfragen", format!("Zu viele Anfragen ohne gültigen API-Schlüssel von Ihrer Adresse. Versuchen Sie es in {} s erneut.", or_dash(&f.retry_after))),
    }
}

/// A key budget's limit, what was spent and when it renews, for the texts.
fn budget_words(f: &DenialFacts) -> (String, String, String) {
    match &f.budget {
        Some(b) => (
            b.budget.to_string(),
            b.budget_used.to_string(),
            b.budget_resets_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
        None => ("-".into(), "-".into(), "-".into()),
    }
}

fn path_error_de(e: PathError) -> &'static str {
    match e {
        PathError::NotAbsolute => "der Pfad muss mit '/' beginnen",
        PathError::EncodedSlash => "er enthält einen kodierten Schrägstrich (%2F)",
        PathError::Backslash => "er enthält einen umgekehrten Schrägstrich",
        PathError::BadEscape => "er enthält ein '%' ohne zwei Hexadezimalziffern",
        PathError::ControlByte => "er enthält ein Steuerzeichen",
        PathError::AboveRoot => "er steigt mit '..' über die Wurzel hinaus",
        PathError::DotParameter => "er enthält ein Punktsegment mit ';'-Parameter",
    }
}

/// The label a person reads beside a member of the problem body on the HTML page; the
/// member's own name for one this list does not know.
pub fn fact_label(lang: Lang, member: &str) -> &str {
    let (en, de) = match member {
        "status" => ("Status", "Status"),
        "code" => ("Code", "Code"),
        "request_id" => ("Request ID", "Anfrage-ID"),
        "tenant" => ("Account", "Konto"),
        "balance" => ("Balance", "Guthaben"),
        "cost" => ("Cost of this call", "Kosten dieses Aufrufs"),
        "plan" => ("Plan", "Tarif"),
        "required_feature" => ("Required feature", "Benötigte Funktion"),
        "required_scope" => ("Required scope", "Benötigte Berechtigung"),
        "period_end" => ("Period ended", "Zeitraum endete"),
        "grace_until" => ("Grace period until", "Kulanzfrist bis"),
        "retry_after" => ("Retry after (seconds)", "Erneut versuchen nach (Sekunden)"),
        "quota" => ("Requests per period", "Anfragen pro Zeitraum"),
        "used" => ("Requests used", "Verbrauchte Anfragen"),
        "expires_at" => ("Key expired", "Schlüssel abgelaufen"),
        "model" => ("Model", "Modell"),
        "budget" => ("Key budget per period", "Budget des Schlüssels pro Zeitraum"),
        "payment_error" => ("Why the payment failed", "Warum die Zahlung scheiterte"),
        "budget_used" => ("Spent this period", "In diesem Zeitraum ausgegeben"),
        "budget_resets_at" => ("Budget renews", "Budget erneuert sich"),
        _ => return member,
    };
    match lang {
        Lang::En => en,
        Lang::De => de,
    }
}

/// The label of the pay/top-up button on the HTML page.
pub fn pay_label(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "Pay or top up",
        Lang::De => "Bezahlen oder aufladen",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(Lang::negotiate(Some("de-DE,de;q=0.9,en;q=0.8")), Lang::De, "German first");
        assert_eq!(Lang::negotiate(Some("fr-FR,fr;q=0.9,de;q=0.5,en;q=0.7")), Lang::En, "English outranks German here");
        assert_eq!(Lang::negotiate(Some("fr")), Lang::En, "unsupported falls back to English");
        assert_eq!(Lang::negotiate(None), Lang::En, "no header means English");
        assert_eq!(Lang::negotiate(Some("de;q=0")), Lang::En, "q=0 means not acceptable");
        assert_eq!(Lang::negotiate(Some("en;q=0.5, DE;Q=0.9")), Lang::De, "names and tags in any case");
        assert_eq!(Lang::negotiate(Some("de;q=NaN, en;q=0.1")), Lang::En, "a malformed weight is ignored");
        assert_eq!(Lang::negotiate(Some("de;q=7")), Lang::En, "a weight above 1 is malformed");
    }

    fn weight() -> impl proptest::strategy::Strategy<Value = (String, f32)> {
        use proptest::prelude::*;
        (0u16..=1000).prop_map(|m| {
            let text = match m {
                1000 => "1".to_string(),
                m => format!("0.{m:03}"),
            };
            (text, f32::from(m) / 1000.0)
        })
    }

    proptest::proptest! {
        #[test]
        fn any_accept_language_is_answered(value in "[ -~]{0,60}") {
            let _ = Lang::negotiate(Some(&value));
        }

        /// The supported language with the highest weight above 0 wins, the first on a tie.
        #[test]
        fn the_highest_weight_wins(items in proptest::collection::vec(("(de|en|fr|de-AT|en-GB|\\*)", weight(), proptest::prelude::any::<bool>()), 0..6)) {
            let header = items
                .iter()
                .map(|(tag, (q, _), explicit)| if *explicit || q != "1" { format!("{tag};q={q}") } else { tag.clone() })
                .collect::<Vec<_>>()
                .join(", ");
            let mut expected = (Lang::En, 0.0f32);
            for (tag, (_, q), _) in &items {
                let lang = match tag.get(..2) { Some("de") => Lang::De, Some("en") => Lang::En, _ => continue };
                if *q > expected.1 {
                    expected = (lang, *q);
                }
            }
            proptest::prop_assert_eq!(Lang::negotiate(Some(&header)), expected.0, "{}", header);
        }
    }
}
