//! Bodies stream through the gateway both ways: the upstream sends one chunk of a 50 MB
//! answer and holds the rest until the client has that chunk, and reports the first chunk
//! of an upload while the client still holds the rest. A gateway that buffered whole bodies
//! would deliver nothing until the end, and both waits would run out.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use http_body_util::BodyExt;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tollgate_core::store::routes::RouteCreate;

use crate::harness::world;

const SIZE: usize = 50 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;
/// How long a part that streams may take to arrive; a buffering gateway never delivers it.
const DEADLINE: Duration = Duration::from_secs(10);

/// What the held upstream shares with the test.
#[derive(Clone)]
struct Held {
    /// Set by the test when the download may go on past its first chunk.
    release: watch::Receiver<bool>,
    /// Told the size of an upload's first chunk as soon as it arrives.
    first_upload_chunk: mpsc::UnboundedSender<usize>,
}

#[derive(serde::Deserialize)]
struct Size {
    bytes: usize,
}

/// One chunk, then nothing until released, then the rest: `bytes` in all.
async fn held_download(State(held): State<Held>, Query(size): Query<Size>) -> impl IntoResponse {
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    let first = futures_util::stream::once({
        let chunk = chunk.clone();
        async move { Ok::<_, std::io::Error>(chunk) }
    });
    let rest = futures_util::stream::once(async move {
        let mut release = held.release;
        let _ = release.wait_for(|r| *r).await;
        futures_util::stream::iter((1..size.bytes / CHUNK).map(move |_| Ok::<_, std::io::Error>(chunk.clone())))
    });
    use futures_util::StreamExt;
    Body::from_stream(first.chain(rest.flatten()))
}

/// Counts an upload as it streams in, reporting its first chunk at once.
async fn counting_upload(State(held): State<Held>, request: Request) -> impl IntoResponse {
    let mut body = request.into_body();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("upload frame").into_data() {
            if total == 0 {
                let _ = held.first_upload_chunk.send(data.len());
            }
            total += data.len();
        }
    }
    total.to_string()
}

async fn held_upstream(held: Held) -> SocketAddr {
    let app = Router::new()
        .route("/held/download", get(held_download))
        .route("/held/upload", post(counting_upload))
        .with_state(held);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn fifty_megabytes_stream_both_ways() {
    let w = world(100, 1).await;
    let (release, released) = watch::channel(false);
    let (first_tx, mut first_upload_chunk) = mpsc::unbounded_channel();
    let upstream = held_upstream(Held { release: released, first_upload_chunk: first_tx }).await;
    w.run(RouteCreate {
        path_prefix: "/held".into(),
        upstream_url: format!("http://{upstream}"),
        cost: Some(1),
        ..Default::default()
    })
    .await;

    // Download: the first chunk reaches the client while the upstream holds the rest.
    let request = w.client.get(format!("{}/held/download?bytes={SIZE}", w.url)).bearer_auth(&w.secret).send();
    let mut r = tokio::time::timeout(DEADLINE, request).await.expect("the answer starts before it ends").unwrap();
    assert_eq!(r.status(), 200, "download served");
    let first = tokio::time::timeout(DEADLINE, r.chunk())
        .await
        .expect("the first chunk arrives while the upstream still holds the rest")
        .unwrap()
        .expect("a chunk, not the end");
    let mut total = first.len();
    assert!(total > 0 && total <= CHUNK, "only what the upstream has sent so far ({total} bytes)");
    release.send(true).unwrap();
    while let Some(chunk) = tokio::time::timeout(DEADLINE, r.chunk()).await.expect("the rest streams").unwrap() {
        assert!(chunk.iter().all(|b| *b == b'x'), "the bytes arrive intact");
        total += chunk.len();
    }
    assert_eq!(total, SIZE, "every byte of the download");

    // Upload: the upstream has the first chunk while the client still holds the rest.
    let (frames, rx) = mpsc::channel::<Result<hyper::body::Frame<Bytes>, std::io::Error>>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    let body = reqwest::Body::wrap(http_body_util::StreamBody::new(stream));
    let request = w.client.post(format!("{}/held/upload", w.url)).bearer_auth(&w.secret).body(body).send();
    let upload = tokio::spawn(request);
    let chunk = Bytes::from(vec![b'y'; 1 << 20]);
    frames.send(Ok(hyper::body::Frame::data(chunk.clone()))).await.unwrap();
    let seen = tokio::time::timeout(DEADLINE, first_upload_chunk.recv())
        .await
        .expect("the upstream gets the first chunk while the client holds the rest")
        .unwrap();
    assert!(seen > 0, "some of the first megabyte ({seen} bytes)");
    for _ in 1..50 {
        frames.send(Ok(hyper::body::Frame::data(chunk.clone()))).await.unwrap();
    }
    drop(frames);
    let r = tokio::time::timeout(DEADLINE, upload).await.expect("the upload completes").unwrap().unwrap();
    assert_eq!(r.status(), 200, "upload served");
    assert_eq!(r.text().await.unwrap(), SIZE.to_string(), "the upstream received every byte of the upload");
}
