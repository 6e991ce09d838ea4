//! The registry and its exposition.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use super::*;

/// The value of one series in an exposition, e.g. `name{a="b"}`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

struct FixedSample(BridgeSample);

#[async_trait]
impl Sampler for FixedSample {
    async fn sample(&self) -> BridgeSample {
        self.0.clone()
    }
}

#[test]
fn test_recorded_values_appear_in_the_exposition() {
    let m = Metrics::new("demo");
    m.transaction(TxnOutcome::Stored, 3, 1, Duration::from_millis(2));
    m.transaction(TxnOutcome::Replayed, 3, 1, Duration::from_millis(1));
    m.transaction(TxnOutcome::Failed, 0, 0, Duration::from_secs(20));
    m.event_processed(TxnContainer::Timeline, Some("m.room.message"));
    m.event_processed(TxnContainer::Timeline, Some("m.room.message"));
    m.event_processed(TxnContainer::Timeline, Some("com.example.made.up"));
    m.event_processed(TxnContainer::Ephemeral, Some("m.typing"));
    m.event_processed(TxnContainer::Ephemeral, None);
    m.event_skipped(SkipReason::Malformed);
    m.message_bridged(Direction::MatrixToRemote);
    m.message_bridged(Direction::RemoteToMatrix);
    m.message_bridged(Direction::RemoteToMatrix);
    m.send_failed(Direction::MatrixToRemote);
    m.remote_queue(1);
    m.remote_queue(1);
    m.remote_queue(-1);
    let sample = BridgeSample { loaded_logins: 2, inbox_backlog: Some(7), inbox_in_flight: 4, room_queues: 3, portal_queues: 5 };
    let t = m.render(&sample);

    let expect = [
        ("mxbridge_transactions_total{outcome=\"stored\"}", 1.0),
        ("mxbridge_transactions_total{outcome=\"replayed\"}", 1.0),
        ("mxbridge_transactions_total{outcome=\"failed\"}", 1.0),
        ("mxbridge_transaction_events_total{container=\"timeline\"}", 3.0),
        ("mxbridge_transaction_events_total{container=\"ephemeral\"}", 1.0),
        ("mxbridge_transaction_duration_seconds_count", 3.0),
        ("mxbridge_transaction_duration_seconds_bucket{le=\"0.001\"}", 1.0),
        ("mxbridge_transaction_duration_seconds_bucket{le=\"0.0025\"}", 2.0),
        ("mxbridge_transaction_duration_seconds_bucket{le=\"10\"}", 2.0),
        ("mxbridge_transaction_duration_seconds_bucket{le=\"+Inf\"}", 3.0),
        ("mxbridge_matrix_events_total{container=\"timeline\",type=\"m.room.message\"}", 2.0),
        ("mxbridge_matrix_events_total{container=\"timeline\",type=\"other\"}", 1.0),
        ("mxbridge_matrix_events_total{container=\"ephemeral\",type=\"m.typing\"}", 1.0),
        ("mxbridge_matrix_events_total{container=\"ephemeral\",type=\"other\"}", 1.0),
        ("mxbridge_matrix_events_skipped_total{reason=\"malformed\"}", 1.0),
        ("mxbridge_matrix_events_skipped_total{reason=\"unreadable\"}", 0.0),
        ("mxbridge_messages_bridged_total{network=\"demo\",direction=\"matrix_to_remote\"}", 1.0),
        ("mxbridge_messages_bridged_total{network=\"demo\",direction=\"remote_to_matrix\"}", 2.0),
        ("mxbridge_send_failures_total{network=\"demo\",direction=\"matrix_to_remote\"}", 1.0),
        ("mxbridge_send_failures_total{network=\"demo\",direction=\"remote_to_matrix\"}", 0.0),
        ("mxbridge_inbox_backlog", 7.0),
        ("mxbridge_inbox_in_flight", 4.0),
        ("mxbridge_remote_events_queued", 1.0),
        ("mxbridge_queues{side=\"matrix\"}", 3.0),
        ("mxbridge_queues{side=\"remote\"}", 5.0),
        ("mxbridge_logins{network=\"demo\",state=\"connecting\"}", 2.0),
    ];
    for (series, want) in expect {
        assert_eq!(value(&t, series), Some(want), "{series} in\n{t}");
    }
    let sum = value(&t, "mxbridge_transaction_duration_seconds_sum").unwrap();
    assert!((sum - 20.003).abs() < 1e-6, "{sum}");
}

#[test]
fn test_logins_by_state_follow_the_reports() {
    let m = Metrics::new("irc");
    let (a, b, c) = (LoginId::new("irc:a".to_owned()), LoginId::new("irc:b".to_owned()), LoginId::new("irc:c".to_owned()));
    m.login_state(&a, &LoginState::Connected);
    m.login_state(&b, &LoginState::Connected);
    m.login_state(&b, &LoginState::TransientDisconnect("netsplit".into()));
    m.login_state(&c, &LoginState::BadCredentials("wrong password".into()));
    let sample = BridgeSample { loaded_logins: 4, ..BridgeSample::default() };
    let t = m.render(&sample);
    let state = |s: &str| value(&t, &format!("mxbridge_logins{{network=\"irc\",state=\"{s}\"}}"));
    assert_eq!(
        (state("connected"), state("reconnecting"), state("bad_credentials"), state("connecting")),
        (Some(1.0), Some(1.0), Some(1.0), Some(1.0))
    );

    m.login_state(&c, &LoginState::LoggedOut("revoked".into()));
    m.login_gone(&a);
    let t = m.render(&BridgeSample { loaded_logins: 2, ..BridgeSample::default() });
    let state = |s: &str| value(&t, &format!("mxbridge_logins{{network=\"irc\",state=\"{s}\"}}"));
    assert_eq!(
        (state("connected"), state("reconnecting"), state("bad_credentials"), state("connecting")),
        (Some(0.0), Some(1.0), Some(0.0), Some(1.0))
    );
    assert!(!t.contains("irc:"), "login ids never appear: {t}");
}

#[test]
fn test_exposition_is_well_formed_and_names_every_family_once() {
    let m = Metrics::new("demo");
    let t = m.render(&BridgeSample { inbox_backlog: None, ..BridgeSample::default() });
    assert!(!t.lines().any(|l| l.starts_with("mxbridge_inbox_backlog ")), "no value when the database does not answer");
    let mut families = Vec::new();
    for line in t.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap().to_owned();
            assert!(!families.contains(&name), "{name} declared twice");
            families.push(name);
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, v) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        assert!(v.parse::<f64>().is_ok() || v == "+Inf", "bad value in {line}");
        let name = series.split('{').next().unwrap();
        let family = families.last().unwrap_or_else(|| panic!("{line} before any TYPE"));
        assert!(name.starts_with(family.as_str()), "{name} outside its family {family}");
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{name}");
    }
    assert!(families.len() >= 10, "{families:?}");
}

#[tokio::test]
async fn test_router_serves_metrics_and_nothing_else() {
    let m = Metrics::new("demo");
    m.message_bridged(Direction::RemoteToMatrix);
    let sampler = Arc::new(FixedSample(BridgeSample { loaded_logins: 1, ..BridgeSample::default() }));
    let app = server::router(m, sampler);
    let resp = app.clone().oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], exposition::CONTENT_TYPE);
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(value(&text, "mxbridge_messages_bridged_total{network=\"demo\",direction=\"remote_to_matrix\"}"), Some(1.0));
    assert_eq!(value(&text, "mxbridge_logins{network=\"demo\",state=\"connecting\"}"), Some(1.0));
    for path in ["/", "/_matrix/app/v1/ping", "/metrics/x"] {
        let resp = app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
}
