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
use tokio::sync::broadcast::error::RecvError;
use tollgate_core::live::event_filter::EventFilter;

use super::{AdminState, console_error, error};

/// The SSE response.
pub async fn stream_events(
    State(state): State<AdminState>,
    filter: Result<Query<EventFilter>, QueryRejection>,
) -> Response {
    let filter = match filter {
        Ok(Query(f)) => f,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_INPUT", &e.body_text()),
    };
    let matcher = match filter.matcher() {
        Ok(m) => Arc::new(m),
        Err(e) => return console_error(e),
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
                            .event(event.kind())
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
