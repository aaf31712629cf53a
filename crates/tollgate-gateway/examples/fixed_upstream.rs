//! A fixed-response HTTP/1.1 upstream for benchmarks: answers every request with the same
//! small body, doing as little as possible so the gateway's cost stands out.
//!
//! `cargo run --release -p tollgate-gateway --example fixed_upstream -- 127.0.0.1:9000 [THREADS]`
//!
//! Under `/m/header` it also reports a charge of 1 in `Tollgate-Charge`, and under `/m/usage`
//! it answers OpenAI-style usage (one prompt and one completion token): the benchmark's
//! metered routes (`tg_header`, `tg_usage`), beside the fixed one, in the same run.
//!
//! One thread by default (the pinned benchmark runs everything on one CPU); bench/gateway.sh
//! asks for two in its free mode, so the upstream is not what limits every target there.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Response, body::Incoming};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9000".into());
    let threads: usize = std::env::args().nth(2).map_or(1, |n| n.parse().expect("THREADS is a number"));
    let mut builder = if threads > 1 {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = builder.enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let listener = TcpListener::bind(&addr).await.expect("bind");
        println!("fixed upstream listening on http://{}", listener.local_addr().expect("addr"));
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|request: hyper::Request<Incoming>| async move {
                    let path = request.uri().path();
                    let response = if path.starts_with("/m/usage") {
                        Response::builder().header("content-type", "application/json").body(Full::new(
                            Bytes::from_static(
                                b"{\"model\":\"bench\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n",
                            ),
                        ))
                    } else if path.starts_with("/m/header") {
                        Response::builder()
                            .header("tollgate-charge", "1")
                            .body(Full::new(Bytes::from_static(b"{\"ok\":true}\n")))
                    } else {
                        Ok(Response::new(Full::new(Bytes::from_static(b"{\"ok\":true}\n"))))
                    };
                    Ok::<_, Infallible>(response.expect("a valid response"))
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
}
