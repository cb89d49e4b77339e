//! The production session end to end (`mm-fast --venue sim` runs on the tardis BTC-PERPETUAL
//! tape): login with `client_signature` (and a wrong secret refused), token refresh before
//! expiry with a short simulator token lifetime, heartbeats answered on both connections, and
//! the whole run over `wss://` with a test CA (`--ca-file`), a wrong CA or host name refused.

use mm_tests::{data, DERIBIT_TAPES};
use mm_tools::cli::Args;
use mm_tools::run::{run, RunExtras};
use mm_venues::sim::tls::TlsFiles;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::path::PathBuf;

fn args(extra: &[&str]) -> Args {
    let mut v = vec!["--spread-ticks", "2"];
    v.extend_from_slice(extra);
    mm_tests::sim_args(&data(DERIBIT_TAPES[2]), &v)
}

#[test]
fn wrong_secret_is_refused_with_13004() {
    for auth in ["signature", "credentials"] {
        let a = args(&[
            "--speed",
            "max",
            "--auth",
            auth,
            "--client-id",
            "mm-fast-sim",
            "--client-secret",
            "not-the-secret",
        ]);
        let e = run(&a, RunExtras::default())
            .err()
            .expect("login must fail");
        assert!(
            e.contains("public/auth") && e.contains("13004") && e.contains("invalid_credentials"),
            "{auth}: {e}"
        );
        assert!(
            !e.contains("not-the-secret"),
            "the secret is not echoed: {e}"
        );
    }
}

#[test]
fn token_refreshed_before_expiry_and_heartbeats_answered() {
    // Tokens live 2 s (refresh at 1.5 s); heartbeats every 1 s; a 4.5 s run at recorded pace.
    let a = args(&["--speed", "1", "--duration", "4.5", "--heartbeat-secs", "1"]);
    let out = run(
        &a,
        RunExtras {
            sim_token_lifetime_s: Some(2.0),
            ..Default::default()
        },
    )
    .expect("run");
    let r = &out.report;
    let st = &out.sim_ledger.as_ref().expect("ledger").stats;
    assert_eq!(r.stop_reason, "duration");
    // Two connections, each refreshing at ~1.5 s and ~3 s.
    assert!(r.token_refreshes >= 4, "refreshes {}", r.token_refreshes);
    assert_eq!(
        st.refreshes, r.token_refreshes,
        "the venue saw each refresh"
    );
    assert_eq!(
        st.expired_token_requests, 0,
        "no request ever used an expired login"
    );
    assert!(
        !r.reject_codes.contains_key("13009"),
        "{:?}",
        r.reject_codes
    );
    // Heartbeats: ~4 test_requests per connection, all answered, nobody dropped.
    assert!(st.test_requests >= 6, "{st:?}");
    assert!(
        r.test_requests_answered >= 6,
        "{}",
        r.test_requests_answered
    );
    assert_eq!(st.heartbeat_drops, 0);
    assert_eq!(st.logins, 2, "one signature login per connection");
    assert_eq!(st.auth_failures, 0);
    assert!(r.orders_sent > 0, "it quoted");
}

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca { cert, key }
}

/// A leaf for `names` signed by `ca`, as the simulator's `--tls-cert/--tls-key`.
fn leaf(ca: &Ca, names: &[&str]) -> TlsFiles {
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, names[0]);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    TlsFiles {
        cert_pem: cert.pem().into_bytes(),
        key_pem: key.serialize_pem().into_bytes(),
    }
}

fn ca_file(ca: &Ca, tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("mm-session-{}-{tag}.pem", std::process::id()));
    std::fs::write(&p, ca.cert.pem()).unwrap();
    p
}

#[test]
fn full_run_over_wss_with_test_ca() {
    let test_ca = ca("mm-fast test CA");
    let pem = ca_file(&test_ca, "ok");
    let a = args(&["--speed", "max", "--ca-file", pem.to_str().unwrap()]);
    let out = run(
        &a,
        RunExtras {
            sim_tls: Some(leaf(&test_ca, &["127.0.0.1", "localhost"])),
            ..Default::default()
        },
    )
    .expect("run over wss");
    let r = &out.report;
    assert!(r.endpoint.starts_with("wss://"), "{}", r.endpoint);
    assert_eq!(r.stop_reason, "end of tape");
    assert!(
        r.md_frames > 1000 && r.orders_sent > 0,
        "{} {}",
        r.md_frames,
        r.orders_sent
    );
    assert_eq!(r.ledger_match, Some(true), "{:?}", r.ledger_mismatches);
    let _ = std::fs::remove_file(pem);
}

#[test]
fn wrong_ca_or_host_is_refused() {
    let test_ca = ca("mm-fast test CA");
    let other = ca("another CA");
    // Trusting another CA: unknown issuer.
    let pem = ca_file(&other, "other");
    let a = args(&["--speed", "max", "--ca-file", pem.to_str().unwrap()]);
    let e = run(
        &a,
        RunExtras {
            sim_tls: Some(leaf(&test_ca, &["127.0.0.1"])),
            ..Default::default()
        },
    )
    .err()
    .expect("must be refused");
    assert!(
        e.contains("connect wss://") && e.contains("UnknownIssuer"),
        "{e}"
    );
    // Without --ca-file: the public roots do not know the test CA either.
    let a = args(&["--speed", "max"]);
    let e = run(
        &a,
        RunExtras {
            sim_tls: Some(leaf(&test_ca, &["127.0.0.1"])),
            ..Default::default()
        },
    )
    .err()
    .expect("must be refused");
    assert!(e.contains("UnknownIssuer"), "{e}");
    // The right CA but a certificate for another host.
    let pem_ok = ca_file(&test_ca, "host");
    let a = args(&["--speed", "max", "--ca-file", pem_ok.to_str().unwrap()]);
    let e = run(
        &a,
        RunExtras {
            sim_tls: Some(leaf(&test_ca, &["venue.example.org"])),
            ..Default::default()
        },
    )
    .err()
    .expect("must be refused");
    assert!(e.contains("certificate not valid for name"), "{e}");
    // A --ca-file that does not exist: a clear error.
    let a = args(&["--speed", "max", "--ca-file", "/nonexistent/ca.pem"]);
    let e = run(&a, RunExtras::default()).err().expect("must fail");
    assert!(e.contains("--ca-file /nonexistent/ca.pem"), "{e}");
    let _ = std::fs::remove_file(pem);
    let _ = std::fs::remove_file(pem_ok);
}

#[test]
fn secret_is_redacted_in_effective_settings() {
    let cmd = mm_tools::config::parse_command_line([
        "mm-fast",
        "--client-id",
        "id1",
        "--client-secret",
        "TOPSECRET",
        "--auth",
        "credentials",
    ])
    .expect("parses");
    let mm_tools::config::Command::Run(l) = cmd else {
        panic!("a run")
    };
    let s = l
        .settings
        .iter()
        .find(|s| s.flag == "client-secret")
        .expect("setting");
    assert_eq!(s.value.as_deref(), Some("<redacted>"));
    assert!(!format!("{:?}", l.settings).contains("TOPSECRET"));
    assert_eq!(l.args.client_secret.as_deref(), Some("TOPSECRET"));
    // A bad --auth is a clear startup error.
    let a = args(&["--speed", "max", "--auth", "password"]);
    let e = run(&a, RunExtras::default()).err().expect("refused");
    assert!(e.contains("--auth") && e.contains("signature"), "{e}");
}
