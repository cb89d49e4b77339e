//! `public/get_instruments` parsing (real 2021 capture, 2024-25 shapes, tick steps) and the
//! render ⇄ parse round trip the simulator relies on.

mod deribit_common;

/// Named `deribit` so that `cargo test -p mm-venues deribit` selects these tests.
mod deribit {

    use crate::deribit_common::{d, deribit_file};
    use mm_core::instrument::{Instrument, InstrumentTable, Kind, OptionType, TickStep};
    use mm_venues::deribit::instruments::{
        instrument_json, instruments_from_rest_capture, parse_instruments,
    };

    fn same(a: &Instrument, b: &Instrument) {
        assert_eq!(a.name, b.name);
        assert_eq!(a.kind, b.kind, "{}", a.name);
        assert_eq!(
            (&a.base_currency, &a.quote_currency, &a.settlement_currency),
            (&b.base_currency, &b.quote_currency, &b.settlement_currency),
            "{}",
            a.name
        );
        assert_eq!(
            (a.tick, a.lot, a.contract_size, a.inverse),
            (b.tick, b.lot, b.contract_size, b.inverse),
            "{}",
            a.name
        );
        assert_eq!(a.tick_steps, b.tick_steps, "{}", a.name);
        assert_eq!(
            (a.maker_fee, a.taker_fee),
            (b.maker_fee, b.taker_fee),
            "{}",
            a.name
        );
        assert_eq!(
            (a.expiry_ms, a.option, &a.rehosted_from),
            (b.expiry_ms, b.option, &b.rehosted_from),
            "{}",
            a.name
        );
    }

    #[test]
    fn rest_capture_2021() {
        let v = instruments_from_rest_capture(&deribit_file("cryptofeed-2021-04-17/rest.capture"))
            .unwrap();
        assert_eq!(v.len(), 423 + 499);
        assert!(v.iter().enumerate().all(|(i, x)| x.id == i as u32));
        let by = |n: &str| v.iter().find(|i| i.name == n).unwrap();
        let p = by("BTC-PERPETUAL");
        assert_eq!(
            (
                p.kind,
                p.tick,
                p.lot,
                p.contract_size,
                p.inverse,
                p.expiry_ms
            ),
            (Kind::Perpetual, d("0.5"), d("10"), d("10"), true, None)
        );
        assert_eq!(
            (p.maker_fee, p.taker_fee, p.settlement_currency.as_str()),
            (0.0, 0.0005, "BTC")
        );
        let f = by("ETH-25JUN21");
        assert_eq!(
            (f.kind, f.tick, f.lot, f.expiry_ms),
            (Kind::Future, d("0.05"), d("1"), Some(1624608000000))
        );
        let o = by("BTC-24SEP21-40000-P");
        assert_eq!(
            (o.kind, o.tick, o.lot, o.contract_size, o.inverse),
            (Kind::Option, d("0.0005"), d("0.1"), d("1"), true)
        );
        assert_eq!(
            o.option.map(|t| (t.strike, t.option_type)),
            Some((40000.0, OptionType::Put))
        );
        // 2021 payloads say quote_currency "USD" for options; kept as given.
        assert_eq!(
            (
                o.quote_currency.as_str(),
                o.settlement_currency.as_str(),
                o.expiry_ms
            ),
            ("USD", "BTC", Some(1632470400000))
        );
        let e = by("ETH-25JUN21-600-P");
        assert_eq!((e.lot, e.tick), (d("1"), d("0.0005")));
        let kinds = |k| v.iter().filter(|i| i.kind == k).count();
        assert_eq!(
            (
                kinds(Kind::Perpetual),
                kinds(Kind::Future),
                kinds(Kind::Option)
            ),
            (2, 12, 416 + 492)
        );
        // All of them load into a table.
        let mut t = InstrumentTable::new();
        for i in v {
            t.push(i).unwrap();
        }
        assert_eq!(t.len(), 922);
    }

    #[test]
    fn render_parse_round_trip_on_real_instruments() {
        let mut v =
            instruments_from_rest_capture(&deribit_file("cryptofeed-2021-04-17/rest.capture"))
                .unwrap();
        v.extend(
            parse_instruments(
                deribit_file("messages/nautilus/http_get_instruments.json").as_bytes(),
            )
            .unwrap(),
        );
        for x in &v {
            let j = instrument_json(x);
            let _: serde_json::Value = serde_json::from_str(&j).unwrap();
            let back = parse_instruments(format!("[{j}]").as_bytes()).unwrap();
            assert_eq!(back.len(), 1);
            same(x, &back[0]);
        }
        // A whole rendered reply envelope parses too.
        let body = v.iter().map(instrument_json).collect::<Vec<_>>().join(",");
        let reply = format!(
            r#"{{"jsonrpc":"2.0","id":3,"result":[{body}],"usIn":1,"usOut":2,"usDiff":1,"testnet":false}}"#
        );
        let back = parse_instruments(reply.as_bytes()).unwrap();
        assert_eq!(back.len(), v.len());
    }

    #[test]
    fn tick_size_steps_doc_example_and_linear_and_rehosted() {
        // Dossier §6.2 doc example: base 0.0005, above 120 → 0.001, above 200 → 0.003.
        let j = br#"{"jsonrpc":"2.0","id":1,"result":{"kind":"option","instrument_name":"BTC-27JUN25-60000-C","option_type":"call","strike":60000.0,"tick_size":0.0005,"tick_size_steps":[{"above_price":200,"tick_size":0.003},{"above_price":120,"tick_size":0.001}],"min_trade_amount":0.1,"contract_size":1.0,"instrument_type":"reversed","base_currency":"BTC","quote_currency":"BTC","settlement_currency":"BTC","expiration_timestamp":1751011200000,"maker_commission":0.0003,"taker_commission":0.0003}}"#;
        let v = parse_instruments(j).unwrap();
        assert_eq!(
            v[0].tick_steps,
            [
                TickStep {
                    above: 240_000,
                    step: 2
                },
                TickStep {
                    above: 400_000,
                    step: 6
                }
            ]
        );
        let back = parse_instruments(format!("[{}]", instrument_json(&v[0])).as_bytes()).unwrap();
        same(&v[0], &back[0]);
        // Linear perpetual (2022+ shape), no expiry sentinel kept.
        let j = br#"[{"kind":"future","settlement_period":"perpetual","instrument_name":"ETH_USDC-PERPETUAL","tick_size":0.1,"min_trade_amount":0.01,"contract_size":0.01,"instrument_type":"linear","base_currency":"ETH","quote_currency":"USDC","settlement_currency":"USDC","expiration_timestamp":32503708800000,"maker_commission":-0.0001,"taker_commission":0.0005,"strike":null}]"#;
        let v = parse_instruments(j).unwrap();
        assert_eq!(
            (v[0].inverse, v[0].expiry_ms, v[0].lot, v[0].maker_fee),
            (false, None, d("0.01"), -0.0001)
        );
        let mut r = v[0].clone();
        r.rehosted_from = Some("binance-usdm BTCUSDT".into());
        let back = parse_instruments(format!("[{}]", instrument_json(&r)).as_bytes()).unwrap();
        same(&r, &back[0]);
    }

    #[test]
    fn refusals() {
        // Step not a whole multiple of the base tick.
        let j = br#"[{"kind":"option","instrument_name":"X-1","option_type":"put","strike":1,"tick_size":0.0005,"tick_size_steps":[{"above_price":1,"tick_size":0.0007}],"min_trade_amount":0.1}]"#;
        assert_eq!(
            parse_instruments(j).unwrap_err().what,
            "tick_size_steps tick_size is not a whole multiple of the base tick"
        );
        let j = br#"[{"kind":"future","instrument_name":"X","tick_size":0,"min_trade_amount":1}]"#;
        assert!(parse_instruments(j).is_err());
        let j =
            br#"[{"kind":"option","instrument_name":"X","tick_size":0.1,"min_trade_amount":1}]"#;
        assert_eq!(
            parse_instruments(j).unwrap_err().what,
            "option without strike"
        );
        let j = br#"{"jsonrpc":"2.0","id":1,"error":{"code":13009,"message":"unauthorized"}}"#;
        assert!(parse_instruments(j).is_err());
        assert!(parse_instruments(b"[{\"kind\":\"future\"").is_err());
        assert!(parse_instruments(b"42").is_err());
        // Combos are skipped, not refused.
        let j = br#"[{"kind":"option_combo","instrument_name":"BTC-CS-19MAY26-70000_75000","tick_size":0.0001,"min_trade_amount":0.1}]"#;
        assert!(parse_instruments(j).unwrap().is_empty());
    }
}
