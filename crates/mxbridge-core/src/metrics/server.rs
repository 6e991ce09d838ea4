//! `GET /metrics` on its own listener (`metrics.listen`).
//!
//! A listener of its own, not the appservice port: that port may face the internet (media
//! links, `bridge.public_url`), while metrics belong on a private address that only the
//! Prometheus server reaches. Nothing here needs a token, and nothing here shows one.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use super::exposition::CONTENT_TYPE;
use super::{Metrics, Sampler};

#[derive(Clone)]
struct MetricsState {
    metrics: Metrics,
    sampler: Arc<dyn Sampler>,
}

/// The router: `/metrics`, and 404 for anything else.
pub(crate) fn router(metrics: Metrics, sampler: Arc<dyn Sampler>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { (StatusCode::NOT_FOUND, "only /metrics is served here\n") })
        .with_state(MetricsState { metrics, sampler })
}

async fn scrape(State(state): State<MetricsState>) -> impl IntoResponse {
    let sample = state.sampler.sample().await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], state.metrics.render(&sample))
}

/// Serves `/metrics` on `listener` until `stop` completes.
pub(crate) async fn serve(
    listener: TcpListener,
    metrics: Metrics,
    sampler: Arc<dyn Sampler>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(metrics, sampler)).with_graceful_shutdown(stop).await
}
