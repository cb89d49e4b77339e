//! Robustness: every real frame truncated at every byte offset, byte-mutated copies, and
//! hostile shapes through all decoders. Nothing may panic; a strict prefix of a frame is
//! always an error; a failed frame emits nothing but (at most) one `Gap`.

mod deribit_common;

/// Named `deribit` so that `cargo test -p mm-venues deribit` selects these tests.
mod deribit {

    use crate::deribit_common::*;
    use mm_core::event::MdKind;
    use mm_core::instrument::InstrumentTable;
    use mm_venues::deribit::instruments::parse_instruments;
    use mm_venues::deribit::md::MdDecoder;
    use mm_venues::deribit::private::{decode_private, PrivateMsg, RpcResult};
    use std::sync::Arc;

    /// All real frames: message files, nautilus singles, the two ws captures.
    fn corpus() -> Vec<String> {
        let mut v = Vec::new();
        for f in [
            "tardis-node.jsonl",
            "crypto-msg-parser.jsonl",
            "roq-deribit-user-channels.jsonl",
        ] {
            v.extend(
                deribit_file(&format!("messages/{f}"))
                    .lines()
                    .map(str::to_string),
            );
        }
        let mut names: Vec<_> = std::fs::read_dir(data_dir().join("deribit/messages/nautilus"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for p in names {
            v.push(std::fs::read_to_string(p).unwrap().trim().to_string());
        }
        for c in [
            "cryptofeed-2021-04-05/ws.capture",
            "cryptofeed-2021-04-17/ws.capture",
        ] {
            for l in deribit_file(c).lines() {
                if l.as_bytes().first().is_some_and(|b| b.is_ascii_digit()) {
                    if let Some((_, p)) = l.split_once(": ") {
                        v.push(p.to_string());
                    }
                }
            }
        }
        v
    }

    fn table() -> Arc<InstrumentTable> {
        let mut names: Vec<String> = MESSAGE_INSTRUMENTS.iter().map(|s| s.to_string()).collect();
        for c in [
            "cryptofeed-2021-04-05/ws.capture",
            "cryptofeed-2021-04-17/ws.capture",
        ] {
            for l in deribit_file(c).lines().filter(|l| l.contains(" <- ")) {
                let v: serde_json::Value =
                    serde_json::from_str(l.split_once(": ").unwrap().1).unwrap();
                for ch in v["params"]["channels"].as_array().unwrap() {
                    let n = ch.as_str().unwrap().split('.').nth(1).unwrap().to_string();
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
            }
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        table_of(&refs)
    }

    /// Walks everything a private message exposes (lazy lists included).
    fn touch(m: &PrivateMsg<'_>) {
        match m {
            PrivateMsg::RpcOk {
                result: RpcResult::Order { trades, .. },
                ..
            }
            | PrivateMsg::Trades(trades) => {
                for t in trades.iter() {
                    let _ = t;
                }
            }
            PrivateMsg::RpcOk {
                result: RpcResult::Channels(c),
                ..
            } => c.iter().for_each(drop),
            PrivateMsg::OrderList(o) => o.iter().for_each(drop),
            PrivateMsg::Changes { orders, trades } => {
                orders.iter().for_each(drop);
                trades.iter().for_each(drop);
            }
            _ => {}
        }
    }

    fn check_md(dec: &mut MdDecoder, bytes: &[u8], must_fail: bool) {
        let mut evs = Vec::new();
        let r = dec.decode(bytes, 1, &mut |e| evs.push(e));
        if r.is_err() {
            assert!(
                evs.len() <= 1 && evs.iter().all(|e| e.kind == MdKind::Gap),
                "{evs:?}"
            );
        }
        if must_fail {
            assert!(
                r.is_err(),
                "prefix decoded: {}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn every_real_frame_truncated_at_every_offset() {
        let t = table();
        let mut dec = MdDecoder::new(t);
        let mut n = 0u64;
        for f in corpus() {
            let b = f.trim().as_bytes();
            // Decode the whole frame first so books are in sequence and truncated changes hit
            // the Live path (Gap on error).
            let _ = dec.decode(b, 0, &mut |_| {});
            for cut in 0..b.len() {
                let p = &b[..cut];
                check_md(&mut dec, p, true);
                if let Ok(m) = decode_private(p) {
                    panic!("private decoded a prefix: {m:?}");
                }
                let _ = parse_instruments(p);
                n += 1;
            }
            let _ = decode_private(b).map(|m| touch(&m));
        }
        assert!(n > 300_000, "{n} prefixes");
    }

    #[test]
    fn rest_capture_truncated_at_sampled_offsets() {
        let rest = deribit_file("cryptofeed-2021-04-17/rest.capture");
        for l in rest.lines().filter(|l| l.contains(" -> ")) {
            let payload = l.split_once(": ").unwrap().1.as_bytes();
            assert!(parse_instruments(payload).is_ok());
            let mut cut = 0;
            while cut < payload.len() {
                assert!(parse_instruments(&payload[..cut]).is_err());
                cut += 997;
            }
        }
    }

    #[test]
    fn mutated_frames_never_panic() {
        let t = table();
        let mut dec = MdDecoder::new(t);
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        const BYTES: &[u8] = b"{}[]\",:0123456789.-+eE \\untrsf\x00\xff";
        for f in corpus() {
            let b = f.trim().as_bytes();
            for _ in 0..40 {
                let mut m = b.to_vec();
                for _ in 0..1 + rnd() % 3 {
                    let i = (rnd() as usize) % m.len().max(1);
                    match rnd() % 3 {
                        0 if !m.is_empty() => m[i] = BYTES[(rnd() as usize) % BYTES.len()],
                        1 if !m.is_empty() => {
                            m.remove(i);
                        }
                        _ => m.insert(i.min(m.len()), BYTES[(rnd() as usize) % BYTES.len()]),
                    }
                }
                check_md(&mut dec, &m, false);
                if let Ok(msg) = decode_private(&m) {
                    touch(&msg);
                }
                let _ = parse_instruments(&m);
            }
        }
    }

    #[test]
    fn hostile_shapes() {
        let t = table();
        let mut dec = MdDecoder::new(t);
        let deep_arr = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
        let deep_obj = format!(
            r#"{{"jsonrpc":"2.0","id":1,"result":{}1{}}}"#,
            r#"{"a":"#.repeat(50_000),
            "}".repeat(50_000)
        );
        let deep_params = format!(
            r#"{{"method":"subscription","params":{{"channel":"ticker.BTC-PERPETUAL.raw","data":{{"x":{}0{}, "mark_price":1}}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let huge_exp = r#"{"method":"subscription","params":{"channel":"book.BTC-PERPETUAL.raw","data":{"type":"snapshot","change_id":1,"bids":[["new",1e999999999,1.5e-2147483648]],"asks":[]}}}"#;
        let zero_exp = r#"{"method":"subscription","params":{"channel":"book.BTC-PERPETUAL.raw","data":{"type":"snapshot","change_id":1,"bids":[["new",0e999,10]],"asks":[]}}}"#;
        let long_num = format!(
            r#"{{"method":"subscription","params":{{"channel":"book.BTC-PERPETUAL.raw","data":{{"type":"snapshot","change_id":1,"bids":[["new",1{},10]],"asks":[]}}}}}}"#,
            "0".repeat(100_000)
        );
        let huge_id = r#"{"jsonrpc":"2.0","id":99999999999999999999999,"result":1}"#;
        let neg = r#"{"method":"subscription","params":{"channel":"trades.BTC-PERPETUAL.raw","data":[{"price":-1e3,"amount":-10,"direction":"buy"}]}}"#;
        let dup = r#"{"method":"subscription","method":"heartbeat","params":{"type":"test_request"},"params":{"channel":"x","data":1}}"#;
        let many_levels = {
            let rows = (1..=20_000)
                .map(|i| format!(r#"["new",{i}.5,10]"#))
                .collect::<Vec<_>>()
                .join(",");
            format!(
                r#"{{"method":"subscription","params":{{"channel":"book.BTC-PERPETUAL.raw","data":{{"type":"snapshot","change_id":1,"bids":[{rows}],"asks":[]}}}}}}"#
            )
        };
        for f in [
            deep_arr.as_str(),
            deep_obj.as_str(),
            deep_params.as_str(),
            huge_exp,
            zero_exp,
            long_num.as_str(),
            huge_id,
            neg,
            dup,
            many_levels.as_str(),
            "",
            " ",
            "null",
            "{}",
            "[]",
            "\"",
            "{\"method\":\"subscription\"}",
            "{\"method\":\"subscription\",\"params\":{\"channel\":\"book.BTC-PERPETUAL.raw\"}}",
            "{\"method\":\"heartbeat\",\"params\":7}",
            "{\"result\":\"ok\",\"id\":-1}",
            "{\"error\":{\"code\":99999999999},\"id\":1}",
        ] {
            check_md(&mut dec, f.as_bytes(), false);
            if let Ok(m) = decode_private(f.as_bytes()) {
                touch(&m);
            }
            let _ = parse_instruments(f.as_bytes());
        }
        // A frame above the decoder's capacity is refused, counted, and allocates nothing.
        assert!(dec.decode(many_levels.as_bytes(), 0, &mut |_| {}).is_err());
        assert!(dec.decode(deep_params.as_bytes(), 0, &mut |_| {}).is_err());
        assert!(dec.decode(huge_exp.as_bytes(), 0, &mut |_| {}).is_err());
        assert!(dec.decode(long_num.as_bytes(), 0, &mut |_| {}).is_err());
        assert!(dec.decode(neg.as_bytes(), 0, &mut |_| {}).is_err());
    }
}
