//! `--config` files: TOML and the USD maker's JSON merged under the command line, unknown and
//! unsupported keys, subcommand parsing.

use clap::CommandFactory;
use mm_tools::cli::{Args, VenueArg};
use mm_tools::config::{
    deribit_symbol, parse_args, parse_command_line, CliError, Command, Loaded, Origin, MAKER_KEYS,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh file in the temp dir with `text`.
fn file(ext: &str, text: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let p = std::env::temp_dir().join(format!(
        "mm-fast-config-test-{}-{}.{ext}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&p, text).unwrap();
    p
}

fn load(path: &std::path::Path, extra: &[&str]) -> Result<Loaded, CliError> {
    let mut v = vec![
        "mm-fast".to_string(),
        "--config".into(),
        path.display().to_string(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    parse_args(v)
}

fn config_err(r: Result<Loaded, CliError>) -> String {
    match r {
        Err(CliError::Config(e)) => e,
        Err(CliError::Clap(e)) => panic!("expected a config error, got clap: {e}"),
        Ok(l) => panic!("expected an error, got {:?}", l.args),
    }
}

fn origin(l: &Loaded, flag: &str) -> Origin {
    l.settings
        .iter()
        .find(|s| s.flag == flag)
        .unwrap_or_else(|| panic!("no setting {flag}"))
        .origin
}

fn has_flag(long: &str) -> bool {
    Args::command()
        .get_arguments()
        .any(|a| a.get_long() == Some(long))
}

#[test]
fn toml_file_under_command_line() {
    let p = file(
        "toml",
        r#"
# flags by long name, `-` or `_`
venue = "sim"
spread_bps = 30
min-spread-bps = 5.5
instruments = ["BTC-PERPETUAL", "ETH-PERPETUAL"]
dry_run = true
test = false

[risk]           # tables only group keys
max_position = 2
stale-ms = 250
"#,
    );
    let l = load(&p, &["--spread-bps", "10", "--instruments", "BTC-25JUN21"]).unwrap();
    let a = &l.args;
    assert_eq!(a.venue, VenueArg::Sim);
    assert_eq!(a.spread_bps, Some(10.0), "command line wins");
    assert_eq!(
        a.instruments,
        vec!["BTC-25JUN21".to_string()],
        "a list flag on the command line replaces the file's list"
    );
    assert_eq!(a.min_spread_bps, 5.5);
    assert!(a.dry_run);
    assert!(!a.test);
    assert_eq!(a.max_position, Some(2.0));
    assert_eq!(a.stale_ms, 250);
    assert_eq!(a.config.as_ref(), Some(&p));
    assert_eq!(origin(&l, "spread-bps"), Origin::CommandLine);
    assert_eq!(origin(&l, "instruments"), Origin::CommandLine);
    assert_eq!(origin(&l, "min-spread-bps"), Origin::Config);
    assert_eq!(origin(&l, "max-position"), Origin::Config);
    assert_eq!(origin(&l, "idle"), Origin::Default);
    assert_eq!(origin(&l, "cpu"), Origin::Unset);
    let s = l.settings.iter().find(|s| s.flag == "instruments").unwrap();
    assert_eq!(s.value.as_deref(), Some("BTC-25JUN21"));

    // Without overrides the file's values stand.
    let l = load(&p, &[]).unwrap();
    assert_eq!(l.args.spread_bps, Some(30.0));
    assert_eq!(l.args.instruments, vec!["BTC-PERPETUAL", "ETH-PERPETUAL"]);
    assert_eq!(origin(&l, "spread-bps"), Origin::Config);
    // Same as typing the flags.
    let typed = parse_args([
        "mm-fast",
        "--venue",
        "sim",
        "--spread-bps",
        "30",
        "--min-spread-bps",
        "5.5",
        "--instruments",
        "BTC-PERPETUAL,ETH-PERPETUAL",
        "--dry-run",
        "--max-position",
        "2",
        "--stale-ms",
        "250",
        "--config",
        p.to_str().unwrap(),
    ])
    .unwrap();
    assert_eq!(format!("{:?}", typed.args), format!("{:?}", l.args));
    let _ = std::fs::remove_file(p);
}

#[test]
fn unknown_keys_are_errors_naming_key_and_file() {
    let p = file("toml", "spread_bps = 10\nspred_bps = 3\n");
    let e = config_err(load(&p, &[]));
    assert!(e.contains("spred_bps"), "{e}");
    assert!(e.contains(&p.display().to_string()), "{e}");
    assert!(e.contains("unknown key"), "{e}");

    let p2 = file("toml", "[risk]\nmax_position = 1\nmax_pos = 2\n");
    let e = config_err(load(&p2, &[]));
    assert!(e.contains("risk.max_pos"), "{e}");

    // Wrong types and values name the flag and the file.
    let p3 = file("toml", "dry_run = \"yes\"\n");
    let e = config_err(load(&p3, &[]));
    assert!(
        e.contains("--dry-run") && e.contains("true or false"),
        "{e}"
    );
    let p4 = file("toml", "spread_bps = \"wide\"\n");
    let e = config_err(load(&p4, &[]));
    assert!(
        e.contains("--spread-bps") && e.contains(&p4.display().to_string()),
        "{e}"
    );
    // Twice, and `config` inside a config.
    let p5 = file("toml", "spread_bps = 1\n[q]\nspread-bps = 2\n");
    let e = config_err(load(&p5, &[]));
    assert!(e.contains("set twice"), "{e}");
    let p6 = file("toml", "config = \"other.toml\"\n");
    let e = config_err(load(&p6, &[]));
    assert!(e.contains("not allowed"), "{e}");
    let p7 = file("toml", "spread_bps = \n");
    let e = config_err(load(&p7, &[]));
    assert!(e.contains("not valid TOML"), "{e}");
    // A missing file.
    let e = config_err(load(&PathBuf::from("/nonexistent/mm.toml"), &[]));
    assert!(e.contains("/nonexistent/mm.toml"), "{e}");
    for p in [p, p2, p3, p4, p5, p6, p7] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn symbols_map_to_deribit_names() {
    for (s, want) in [
        ("BTC-PERPETUAL", "BTC-PERPETUAL"),
        ("BTC-PERP", "BTC-PERPETUAL"),
        ("eth-perp", "ETH-PERPETUAL"),
        ("BTCUSD", "BTC-PERPETUAL"),
        ("BTC-USD", "BTC-PERPETUAL"),
        ("BTC/USD", "BTC-PERPETUAL"),
        ("BTCUSD_PERP", "BTC-PERPETUAL"),
        ("BTCUSDT", "BTC_USDT-PERPETUAL"),
        ("BTC/USDT:USDT", "BTC_USDT-PERPETUAL"),
        ("ETH-USDT", "ETH_USDT-PERPETUAL"),
        ("SOLUSDC", "SOL_USDC-PERPETUAL"),
        ("BTC_USDC-PERPETUAL", "BTC_USDC-PERPETUAL"),
        ("BTC-25JUN21", "BTC-25JUN21"),
        ("BTC-25JUN21-50000-C", "BTC-25JUN21-50000-C"),
    ] {
        assert_eq!(deribit_symbol(s), want, "{s}");
    }
}

/// The USD maker's JSON: every key maps to its flag when this build has the flag, and is an
/// "unsupported key" error (naming the key) when it does not; never silently dropped.
#[test]
fn usd_maker_json_maps_to_flags() {
    let sample = |v: &str| match v {
        "levels" => "3",
        "dry-run" | "log-quotes" => "true",
        "refresh-interval" => "5",
        _ => "12.5",
    };
    let mut present = Vec::new();
    let mut missing = Vec::new();
    for (key, flag) in MAKER_KEYS {
        if has_flag(flag) {
            present.push((key, flag));
        } else {
            missing.push((key, flag));
        }
    }
    // A document with only the supported keys (+ name, symbol, post_only) maps completely.
    let mut sections: std::collections::BTreeMap<&str, serde_json::Map<String, serde_json::Value>> =
        Default::default();
    for (key, flag) in &present {
        let (sec, k) = key.split_once('.').unwrap();
        let v: serde_json::Value = serde_json::from_str(sample(flag)).unwrap();
        sections.entry(sec).or_default().insert(k.into(), v);
    }
    sections
        .entry("execution")
        .or_default()
        .insert("post_only".into(), true.into());
    let mut doc = serde_json::Map::new();
    doc.insert("name".into(), "btc-usd-maker".into());
    doc.insert("symbol".into(), "BTC-PERP".into());
    for (s, m) in sections {
        doc.insert(s.into(), m.into());
    }
    let p = file("json", &serde_json::Value::Object(doc.clone()).to_string());
    let l = load(&p, &["--venue", "sim"]).unwrap();
    assert_eq!(l.args.instruments, vec!["BTC-PERPETUAL"]);
    assert_eq!(l.args.name.as_deref(), Some("btc-usd-maker"));
    assert_eq!(origin(&l, "instruments"), Origin::Config);
    for (_, flag) in &present {
        let s = l.settings.iter().find(|s| s.flag == *flag).unwrap();
        assert_eq!(s.origin, Origin::Config, "{flag}");
        let want = sample(flag);
        let got = s.value.clone().unwrap_or_default();
        assert!(
            got == want || got.parse::<f64>().ok() == want.parse::<f64>().ok(),
            "{flag}: {got} vs {want}"
        );
    }
    if has_flag("spread-bps") {
        assert_eq!(l.args.spread_bps, Some(12.5));
    }
    // The command line still wins over the JSON.
    let l = load(
        &p,
        &["--spread-bps", "40", "--instruments", "ETH-PERPETUAL"],
    )
    .unwrap();
    assert_eq!(l.args.spread_bps, Some(40.0));
    assert_eq!(l.args.instruments, vec!["ETH-PERPETUAL"]);

    // Each key whose flag is missing: a clear "unsupported key" error.
    for (key, flag) in &missing {
        let (sec, k) = key.split_once('.').unwrap();
        let doc = format!(
            r#"{{"symbol": "BTCUSDT", "{sec}": {{"{k}": {}}}}}"#,
            sample(flag)
        );
        let q = file("json", &doc);
        let e = config_err(load(&q, &[]));
        assert!(
            e.contains("unsupported key") && e.contains(key) && e.contains(flag),
            "{e}"
        );
        let _ = std::fs::remove_file(q);
    }
    // Keys outside the format are errors too; JSON is also detected by content.
    let q = file(
        "cfg",
        r#"{"symbol": "BTCUSDT", "risk": {"max_drawdown": 3}}"#,
    );
    let e = config_err(load(&q, &[]));
    assert!(e.contains("risk.max_drawdown"), "{e}");
    let q2 = file("json", r#"{"symbol": "BTCUSDT", "strategy": "x"}"#);
    let e = config_err(load(&q2, &[]));
    assert!(e.contains("`strategy`"), "{e}");
    // post_only = false: refused, naming the key (mm-fast quotes post-only always).
    let q3 = file(
        "json",
        r#"{"symbol": "BTC-PERPETUAL", "execution": {"post_only": false}}"#,
    );
    let e = config_err(load(&q3, &[]));
    assert!(
        e.contains("execution.post_only") && e.contains("refused") && e.contains("post-only"),
        "{e}"
    );
    for p in [p, q, q2, q3] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn subcommands_and_plain_flags() {
    let p = file("toml", "venue = \"sim\"\nspread_bps = 30\n");
    match parse_command_line([
        "mm-fast",
        "check-config",
        p.to_str().unwrap(),
        "--spread-bps",
        "7",
    ])
    .unwrap()
    {
        Command::CheckConfig(l) => {
            assert_eq!(l.args.spread_bps, Some(7.0));
            assert_eq!(l.file.as_ref(), Some(&p));
        }
        other => panic!("{other:?}"),
    }
    match parse_command_line(["mm-fast", "kill", "--status-addr", "127.0.0.1:9100"]).unwrap() {
        Command::Kill(k) => assert_eq!(k.status_addr.as_deref(), Some("127.0.0.1:9100")),
        other => panic!("{other:?}"),
    }
    match parse_command_line(["mm-fast", "--venue", "sim", "--spread-bps", "3"]).unwrap() {
        Command::Run(l) => {
            assert_eq!(l.args.spread_bps, Some(3.0));
            assert!(l.file.is_none());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse_command_line(["mm-fast", "check-config"]),
        Err(CliError::Config(_))
    ));
    assert!(matches!(
        parse_command_line(["mm-fast", "--no-such-flag"]),
        Err(CliError::Clap(_))
    ));
    // `kill` without a way to reach the engine.
    let Command::Kill(k) = parse_command_line(["mm-fast", "kill"]).unwrap() else {
        panic!()
    };
    assert!(mm_tools::kill::kill_command(&k).is_err());
    let _ = std::fs::remove_file(p);
}

/// Quotes are always post-only: `--post-only false` (flag or TOML key) is refused by the
/// engine settings with a clear message; `true` (also the USD maker's
/// `execution.post_only: true`) is accepted.
#[test]
fn post_only_false_is_refused() {
    use mm_core::instrument::InstrumentTable;
    use mm_tools::run::{engine_config, POST_ONLY_REFUSED};
    let table = InstrumentTable::new();
    let l = parse_args(["mm-fast"]).unwrap();
    assert!(l.args.post_only, "on by default");
    assert_eq!(origin(&l, "post-only"), Origin::Default);
    assert!(engine_config(&l.args, &table).is_ok());
    let p = file("toml", "[execution]\npost-only = false\n");
    let l = load(&p, &[]).unwrap();
    assert!(!l.args.post_only);
    assert_eq!(origin(&l, "post-only"), Origin::Config);
    assert_eq!(
        engine_config(&l.args, &table).unwrap_err(),
        POST_ONLY_REFUSED
    );
    assert!(POST_ONLY_REFUSED.contains("--post-only false is not supported"));
    let l = parse_args(["mm-fast", "--post-only", "false"]).unwrap();
    assert!(engine_config(&l.args, &table).is_err());
    let l = parse_args(["mm-fast", "--post-only", "true"]).unwrap();
    assert!(engine_config(&l.args, &table).is_ok());
    let q = file(
        "json",
        r#"{"symbol": "BTCUSDT", "execution": {"post_only": true}}"#,
    );
    let l = load(&q, &[]).unwrap();
    assert!(l.args.post_only);
    assert_eq!(origin(&l, "post-only"), Origin::Config);
    for f in [p, q] {
        let _ = std::fs::remove_file(f);
    }
}

/// `--log-quotes`: a switch, from the command line, a TOML key or the USD maker's
/// `flags.log_quotes`, and it reaches the engine settings.
#[test]
fn log_quotes_from_every_source() {
    use mm_core::instrument::InstrumentTable;
    use mm_tools::run::engine_config;
    let table = InstrumentTable::new();
    let l = parse_args(["mm-fast"]).unwrap();
    assert!(!l.args.log_quotes);
    assert!(!engine_config(&l.args, &table).unwrap().log_quotes);
    let l = parse_args(["mm-fast", "--log-quotes"]).unwrap();
    assert!(engine_config(&l.args, &table).unwrap().log_quotes);
    let p = file("toml", "[operations]\nlog_quotes = true\n");
    let l = load(&p, &[]).unwrap();
    assert!(l.args.log_quotes);
    assert_eq!(origin(&l, "log-quotes"), Origin::Config);
    let q = file(
        "json",
        r#"{"symbol": "BTCUSDT", "flags": {"log_quotes": true, "dry_run": true}}"#,
    );
    let l = load(&q, &[]).unwrap();
    assert!(l.args.log_quotes && l.args.dry_run);
    let q2 = file(
        "json",
        r#"{"symbol": "BTCUSDT", "flags": {"log_quotes": false}}"#,
    );
    assert!(!load(&q2, &[]).unwrap().args.log_quotes);
    for f in [p, q, q2] {
        let _ = std::fs::remove_file(f);
    }
}
