//! `GET /api/events`: everything on the event hub as Server-Sent Events, optionally
//! filtered. A viewer that falls too far behind is told how many events it missed and
//! dropped, so it can never slow the gateway down.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tollgate_core::events::Event;

use super::{AdminState, error};

/// Query parameters; comma-separated lists match any of their values.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// e.g. `402` or `401,402,403,429`.
    status: Option<String>,
    /// e.g. `INSUFFICIENT_CREDITS`.
    code: Option<String>,
    /// A tenant slug.
    tenant: Option<String>,
    /// `gateway`, `console` or both (the default).
    kind: Option<String>,
}

/// A checked [`Filter`].
#[derive(Debug, Default)]
struct Matcher {
    statuses: Vec<u16>,
    codes: Vec<String>,
    tenant: Option<String>,
    kinds: Vec<String>,
}

fn list(value: &Option<String>) -> Vec<String> {
    value.iter().flat_map(|v| v.split(',')).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

impl Matcher {
    fn new(filter: &Filter) -> Result<Self, String> {
        let statuses = list(&filter.status)
            .iter()
            .map(|s| s.parse::<u16>().map_err(|_| format!("status: '{s}' is not an HTTP status")))
            .collect::<Result<_, _>>()?;
        let kinds = list(&filter.kind);
        if let Some(bad) = kinds.iter().find(|k| *k != "gateway" && *k != "console") {
            return Err(format!("kind: '{bad}' is neither 'gateway' nor 'console'"));
        }
        Ok(Self { statuses, codes: list(&filter.code), tenant: filter.tenant.clone(), kinds })
    }

    fn matches(&self, event: &Event) -> bool {
        let kind = kind(event);
        if !self.kinds.is_empty() && !self.kinds.iter().any(|k| k == kind) {
            return false;
        }
        match event {
            Event::Gateway(g) => {
                (self.statuses.is_empty() || self.statuses.contains(&g.status))
                    && (self.codes.is_empty() || g.code.as_ref().is_some_and(|c| self.codes.contains(c)))
                    && (self.tenant.is_none() || g.tenant == self.tenant)
            }
            Event::Console(c) => {
                self.statuses.is_empty()
                    && self.codes.is_empty()
                    && self.tenant.as_ref().is_none_or(|t| c.target == format!("tenant:{t}"))
            }
        }
    }
}

fn kind(event: &Event) -> &'static str {
    match event {
        Event::Gateway(_) => "gateway",
        Event::Console(_) => "console",
    }
}

/// The SSE response.
pub async fn stream_events(State(state): State<AdminState>, filter: Result<Query<Filter>, QueryRejection>) -> Response {
    let filter = match filter {
        Ok(Query(f)) => f,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_INPUT", &e.body_text()),
    };
    let matcher = match Matcher::new(&filter) {
        Ok(m) => Arc::new(m),
        Err(message) => return error(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_INPUT", &message),
    };
    let events = state.console.hub().subscribe();
    let stopping = state.stopping.subscribe();
    let stream = stream::unfold(Some((events, stopping)), move |open| {
        let matcher = matcher.clone();
        async move {
            let (mut events, mut stopping) = open?;
            loop {
                let received = tokio::select! {
                    received = events.recv() => received,
                    // A dropped sender means nobody will stop us: that branch just never fires.
                    Ok(_) = stopping.wait_for(|s| *s) => return None,
                };
                match received {
                    Ok(event) if matcher.matches(&event) => {
                        let sse = SseEvent::default()
                            .event(kind(&event))
                            .json_data(&*event)
                            .unwrap_or_else(|_| SseEvent::default().comment("unserializable event"));
                        return Some((Ok::<_, Infallible>(sse), Some((events, stopping))));
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => {
                        let sse = SseEvent::default().event("dropped").data(format!("{{\"missed\":{missed}}}"));
                        return Some((Ok(sse), None));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}
