//! What a denial says to a person, in English and German (`Accept-Language` picks).

use tollgate_core::policy::{DenialCode, DenialFacts};

/// A language the gateway speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

impl Lang {
    /// The best supported language for an `Accept-Language` value; English otherwise.
    pub fn negotiate(accept_language: Option<&str>) -> Self {
        let mut best = (Lang::En, -1.0f32);
        for item in accept_language.unwrap_or("").split(',') {
            let mut parts = item.trim().split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
            let lang = match tag.split('-').next() {
                Some("de") => Lang::De,
                Some("en") => Lang::En,
                _ => continue,
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
}

impl Reason {
    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            Reason::Denied(code) => code.status(),
            Reason::RouteNotFound => 404,
            Reason::UpstreamUnavailable => 502,
            Reason::UpstreamTimeout => 504,
            Reason::StorageUnavailable => 503,
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
        }
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
            D::ScopeNotGranted => ("Scope not granted", format!("This key lacks the scope '{}' that this endpoint requires.", or_dash(&f.required_scope))),
            D::AccountSuspendedNonpayment => ("Account suspended for non-payment", "Your account is suspended because a payment is outstanding. Pay to restore access.".into()),
            D::SubscriptionCanceled => ("Subscription canceled", format!("Your subscription to the {plan} plan is canceled. Subscribe again to continue.")),
            D::SubscriptionExpired => ("Subscription expired", format!("Your subscription to the {plan} plan ended at {}. Renew to continue.", or_dash(&f.period_end))),
            D::SubscriptionPastDue => ("Subscription past due", format!("Payment for the {plan} plan is overdue and the grace period ended at {}. Pay to continue.", or_dash(&f.grace_until))),
            D::FeatureNotInPlan => ("Feature not in your plan", format!("This endpoint needs the '{}' feature, which the {plan} plan does not include. Upgrade to use it.", or_dash(&f.required_feature))),
            D::RateLimited => ("Too many requests", format!("The {plan} plan's rate limit is reached. Retry in {} s.", or_dash(&f.retry_after))),
            D::QuotaExhausted => ("Quota exhausted", format!("The {plan} plan's {} requests for this period are used. Upgrade or wait for the next period.", or_dash(&f.quota))),
            D::InsufficientCredits => ("Insufficient credits", format!("This call costs {cost} credits and your balance is {balance}. Top up to continue.")),
        },
        (Lang::De, Reason::Denied(code)) => match code {
            D::MissingApiKey => ("API-Schlüssel erforderlich", "Senden Sie Ihren API-Schlüssel als 'Authorization: Bearer <Schlüssel>' oder 'X-API-Key: <Schlüssel>'.".into()),
            D::InvalidApiKey => ("Ungültiger API-Schlüssel", "Der API-Schlüssel ist unbekannt. Prüfen Sie, ob Sie ihn vollständig kopiert haben.".into()),
            D::ApiKeyRevoked => ("API-Schlüssel widerrufen", "Dieser API-Schlüssel wurde widerrufen. Verwenden Sie einen aktuellen Schlüssel.".into()),
            D::ApiKeyExpired => ("API-Schlüssel abgelaufen", format!("Dieser API-Schlüssel ist am {} abgelaufen. Verwenden Sie einen aktuellen Schlüssel.", or_dash(&f.expires_at))),
            D::TenantBlocked => ("Konto gesperrt", "Dieses Konto ist gesperrt. Wenden Sie sich an den API-Anbieter.".into()),
            D::ScopeNotGranted => ("Berechtigung fehlt", format!("Diesem Schlüssel fehlt die Berechtigung '{}', die dieser Endpunkt verlangt.", or_dash(&f.required_scope))),
            D::AccountSuspendedNonpayment => ("Konto wegen Zahlungsrückstand gesperrt", "Ihr Konto ist gesperrt, weil eine Zahlung aussteht. Bezahlen Sie, um den Zugang wiederherzustellen.".into()),
            D::SubscriptionCanceled => ("Abonnement gekündigt", format!("Ihr Abonnement des Tarifs {plan} ist gekündigt. Schließen Sie es erneut ab, um fortzufahren.")),
            D::SubscriptionExpired => ("Abonnement abgelaufen", format!("Ihr Abonnement des Tarifs {plan} endete am {}. Verlängern Sie es, um fortzufahren.", or_dash(&f.period_end))),
            D::SubscriptionPastDue => ("Zahlung überfällig", format!("Die Zahlung für den Tarif {plan} ist überfällig, die Kulanzfrist endete am {}. Bezahlen Sie, um fortzufahren.", or_dash(&f.grace_until))),
            D::FeatureNotInPlan => ("Funktion nicht im Tarif", format!("Dieser Endpunkt benötigt die Funktion '{}', die der Tarif {plan} nicht enthält. Wechseln Sie den Tarif, um sie zu nutzen.", or_dash(&f.required_feature))),
            D::RateLimited => ("Zu viele Anfragen", format!("Das Anfragelimit des Tarifs {plan} ist erreicht. Versuchen Sie es in {} s erneut.", or_dash(&f.retry_after))),
            D::QuotaExhausted => ("Kontingent aufgebraucht", format!("Die {} Anfragen des Tarifs {plan} für diesen Zeitraum sind verbraucht. Wechseln Sie den Tarif oder warten Sie auf den nächsten Zeitraum.", or_dash(&f.quota))),
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
    }
}
