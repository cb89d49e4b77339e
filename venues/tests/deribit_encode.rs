//! Every request the encoder writes parses as JSON-RPC 2.0 with the expected fields; prices and
//! amounts are exact; nothing allocates after construction.

mod deribit_common;

/// Named `deribit` so that `cargo test -p mm-venues deribit` selects these tests.
mod deribit {

    use crate::deribit_common::d;
    use mm_core::event::intent_flags::{IOC, POST_ONLY, REDUCE_ONLY};
    use mm_core::instrument::{Instrument, Kind};
    use mm_core::types::Side;
    use mm_venues::deribit::encode::Encoder;
    use serde_json::{json, Value};

    fn parse(frame: &str, id: u64, method: &str) -> Value {
        let v: Value = serde_json::from_str(frame).unwrap_or_else(|e| panic!("{e}: {frame}"));
        assert_eq!(v["jsonrpc"], "2.0");
        assert_eq!(v["id"], id);
        assert_eq!(v["method"], method);
        assert!(v["params"].is_object());
        v["params"].clone()
    }

    fn option() -> Instrument {
        Instrument::new("BTC-24SEP21-8000-P", Kind::Option, d("0.0005"), d("0.1"))
    }

    fn perp() -> Instrument {
        Instrument::new("BTC-PERPETUAL", Kind::Perpetual, d("0.5"), d("10"))
    }

    #[test]
    fn limit_order_with_exact_price_and_amount_text() {
        let mut e = Encoder::new();
        let f = e
            .order(7, &option(), Side::Bid, 159, 3, POST_ONLY, 42)
            .to_string();
        // Exact text on the wire, not float formatting.
        assert!(f.contains(r#""price":0.0795"#), "{f}");
        assert!(f.contains(r#""amount":0.3"#), "{f}");
        let p = parse(&f, 7, "private/buy");
        assert_eq!(
            p,
            json!({"instrument_name":"BTC-24SEP21-8000-P","amount":0.3,"type":"limit","price":0.0795,
               "label":"mmf-42","post_only":true,"reject_post_only":true})
        );
        let f = e
            .order(
                u64::MAX,
                &perp(),
                Side::Ask,
                184589,
                75,
                REDUCE_ONLY | IOC,
                u64::MAX,
            )
            .to_string();
        assert!(
            f.contains(r#""price":92294.5"#) && f.contains(r#""amount":750"#),
            "{f}"
        );
        let p = parse(&f, u64::MAX, "private/sell");
        assert_eq!(
            p,
            json!({"instrument_name":"BTC-PERPETUAL","amount":750,"type":"limit","price":92294.5,
               "label":"mmf-18446744073709551615","reduce_only":true,"time_in_force":"immediate_or_cancel"})
        );
        let p = parse(e.order(0, &perp(), Side::Bid, 2, 1, 0, 0), 0, "private/buy");
        assert_eq!(
            p,
            json!({"instrument_name":"BTC-PERPETUAL","amount":10,"type":"limit","price":1,"label":"mmf-0"})
        );
    }

    #[test]
    fn edit_cancel_and_mass_cancel() {
        let mut e = Encoder::new();
        let p = parse(
            e.edit(9, &option(), "ETH-349249", 160, 12, true),
            9,
            "private/edit",
        );
        assert_eq!(
            p,
            json!({"order_id":"ETH-349249","amount":1.2,"price":0.08,"post_only":true,"reject_post_only":true})
        );
        let p = parse(
            e.edit(10, &perp(), "6800409604", 123457, 1, false),
            10,
            "private/edit",
        );
        assert_eq!(
            p,
            json!({"order_id":"6800409604","amount":10,"price":61728.5,"post_only":false})
        );
        let p = parse(e.cancel(11, "USDC-104819327443"), 11, "private/cancel");
        assert_eq!(p, json!({"order_id":"USDC-104819327443"}));
        assert_eq!(parse(e.cancel_all(12), 12, "private/cancel_all"), json!({}));
        let p = parse(
            e.cancel_all_by_instrument(13, "BTC-PERPETUAL"),
            13,
            "private/cancel_all_by_instrument",
        );
        assert_eq!(p, json!({"instrument_name":"BTC-PERPETUAL"}));
    }

    #[test]
    fn session_and_query_requests() {
        let mut e = Encoder::new();
        let p = parse(
            e.auth_client_credentials(1, "fo7WAPRm4P", "se\"cr\\et\n"),
            1,
            "public/auth",
        );
        assert_eq!(
            p,
            json!({"grant_type":"client_credentials","client_id":"fo7WAPRm4P","client_secret":"se\"cr\\et\n"})
        );
        let chans = ["book.BTC-PERPETUAL.raw", "ticker.BTC-PERPETUAL.raw"];
        let p = parse(e.subscribe(2, &chans, false), 2, "public/subscribe");
        assert_eq!(p, json!({"channels": chans}));
        let p = parse(
            e.subscribe(3, &["user.orders.any.any.raw"], true),
            3,
            "private/subscribe",
        );
        assert_eq!(p, json!({"channels": ["user.orders.any.any.raw"]}));
        let p = parse(
            e.unsubscribe(4, &chans[..1], false),
            4,
            "public/unsubscribe",
        );
        assert_eq!(p, json!({"channels": ["book.BTC-PERPETUAL.raw"]}));
        let p = parse(e.unsubscribe(5, &[], true), 5, "private/unsubscribe");
        assert_eq!(p, json!({"channels": []}));
        let p = parse(
            e.get_instruments(6, "BTC", Some("option"), false),
            6,
            "public/get_instruments",
        );
        assert_eq!(p, json!({"currency":"BTC","kind":"option","expired":false}));
        let p = parse(
            e.get_instruments(7, "ETH", None, true),
            7,
            "public/get_instruments",
        );
        assert_eq!(p, json!({"currency":"ETH","expired":true}));
        let p = parse(
            e.enable_cancel_on_disconnect(8),
            8,
            "private/enable_cancel_on_disconnect",
        );
        assert_eq!(p, json!({"scope":"connection"}));
        assert_eq!(
            parse(e.set_heartbeat(9, 10), 9, "public/set_heartbeat"),
            json!({"interval":10})
        );
        assert_eq!(parse(e.test(10), 10, "public/test"), json!({}));
        let p = parse(
            e.get_open_orders_by_currency(11, "BTC"),
            11,
            "private/get_open_orders_by_currency",
        );
        assert_eq!(p, json!({"currency":"BTC"}));
        assert_eq!(
            parse(e.get_positions(12, "ETH"), 12, "private/get_positions"),
            json!({"currency":"ETH"})
        );
    }

    #[test]
    fn negative_prices_and_labels_round_trip_through_the_private_decoder() {
        // Combos can trade at negative prices (dossier §9.4: BTC-FS-30SEP22_PERP best bid -7.0).
        let fs = Instrument::new("BTC-FS-30SEP22_PERP", Kind::Future, d("0.5"), d("10"));
        let mut e = Encoder::new();
        let p = parse(e.order(1, &fs, Side::Bid, -14, 30, 0, 77), 1, "private/buy");
        assert_eq!(p["price"], json!(-7));
        let label = p["label"].as_str().unwrap().to_string();
        assert_eq!(mm_venues::deribit::private::parse_label(&label), Some(77));
    }

    #[test]
    fn no_allocation_after_construction() {
        let mut e = Encoder::new();
        let cap = e.capacity();
        let (o, p) = (option(), perp());
        for i in 0..10_000u64 {
            let _ = e.order(i, &o, Side::Bid, i as i64, 1 + i as i64, POST_ONLY, i);
            let _ = e.edit(i, &p, "74365704227", i as i64, 1, true);
            let _ = e.cancel(i, "74365704227");
            let _ = e.test(i);
        }
        assert_eq!(e.capacity(), cap);
    }
}
