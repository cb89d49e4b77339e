//! Every real single message in `shared/data/deribit/messages/` decoded with the decoder that
//! reads it in production, with its decoded values checked.

mod deribit_common;

/// Named `deribit` so that `cargo test -p mm-venues deribit` selects these tests.
mod deribit {

    use crate::deribit_common::*;
    use mm_core::event::MdKind::{BookClear, BookDone, Gap, Level, Mark, Trade};
    use mm_core::types::Side::{Ask, Bid};
    use mm_venues::deribit::instruments::parse_instruments;
    use mm_venues::deribit::md::{Frame, MdDecoder, NO_ID};
    use mm_venues::deribit::private::{
        decode_private, OrderState, PrivateMsg, RpcResult, TradeView,
    };

    const MS: u64 = 1_000_000;

    fn dec() -> MdDecoder {
        MdDecoder::new(message_table())
    }

    fn id(name: &str) -> u32 {
        message_table().id(name).expect("in table")
    }

    // ---------------------------------------------------------------- tardis-node.jsonl

    #[test]
    fn tardis_1_trades_btc_perpetual_2019() {
        let mut d = dec();
        let (r, ev) = feed(&mut d, &message_line("tardis-node.jsonl", 1));
        assert_eq!(r.unwrap(), Frame::Trades);
        assert_eq!(
            brief(&ev),
            [
                (Trade, Ask, 19197, 200, 20944815),
                (Trade, Ask, 19197, 5, 20944816)
            ]
        );
        assert!(ev.iter().all(|e| e.instrument == id("BTC-PERPETUAL")
            && e.exch_ts == 1567296022565 * MS
            && e.t_recv == 42));
    }

    #[test]
    fn tardis_2_quote_is_ignored() {
        let mut d = dec();
        let (r, ev) = feed(&mut d, &message_line("tardis-node.jsonl", 2));
        assert_eq!(r.unwrap(), Frame::Ignored);
        assert!(ev.is_empty());
        assert_eq!(d.stats().ignored, 1);
    }

    #[test]
    fn tardis_3_4_book_2019_without_type_then_change() {
        let eth = id("ETH-PERPETUAL");
        let mut d = dec();
        // Line 3: a 2019 snapshot without `type` (recognised by the missing prev_change_id).
        let (r, ev) = feed(&mut d, &message_line("tardis-node.jsonl", 3));
        assert_eq!(r.unwrap(), Frame::Book { instrument: eth });
        let s = 1776289261;
        assert_eq!(
            brief(&ev),
            [
                (BookClear, Bid, 0, 0, s),
                (Level, Bid, 4356, 1895, s),
                (Level, Bid, 4355, 712, s),
                (Level, Ask, 4372, 179803, s),
                (Level, Ask, 4373, 7887, s),
                (BookDone, Bid, 0, 0, s),
            ]
        );
        assert!(ev
            .iter()
            .all(|e| e.exch_ts == 1564617600273 * MS && e.instrument == eth));
        // Line 4 does not follow line 3 in the original capture (prev 1776294621 ≠ 1776289261):
        // that is a gap, with the expected id in `seq`.
        let (r, ev) = feed(&mut d, &message_line("tardis-node.jsonl", 4));
        assert_eq!(r.unwrap(), Frame::Gap { instrument: eth });
        assert_eq!(brief(&ev), [(Gap, Bid, 0, 0, s)]);
        // Resubscribed: a snapshot with change_id = its prev_change_id puts it in sequence.
        d.reset_instrument(eth);
        let (r, _) = feed(
            &mut d,
            &empty_snapshot("book.ETH-PERPETUAL.raw", 1776294621),
        );
        assert_eq!(r.unwrap(), Frame::Book { instrument: eth });
        let (r, ev) = feed(&mut d, &message_line("tardis-node.jsonl", 4));
        assert_eq!(r.unwrap(), Frame::Book { instrument: eth });
        let c = 1776294623;
        assert_eq!(
            brief(&ev),
            [
                (Level, Bid, 4356, 0, c),
                (Level, Ask, 4384, 64903, c),
                (Level, Ask, 4382, 19343, c),
                (BookDone, Bid, 0, 0, c),
            ]
        );
        assert_eq!(d.last_change_id(eth), Some(c));
        assert_eq!(d.stats().gaps, 1);
    }

    fn mark_of(file: &str, line: usize) -> (Frame, Vec<mm_core::event::MdEvent>) {
        let mut d = dec();
        let (r, ev) = feed(&mut d, &message_line(file, line));
        (r.unwrap(), ev)
    }

    #[test]
    fn tardis_5_to_10_tickers_give_mark_prices() {
        // (line, instrument, mark ticks (rounded to the base tick), timestamp ms)
        let cases = [
            (5, "BTC-PERPETUAL", 20188, 1564617604229u64), // 10094.1 / 0.5 = 20188.2
            (6, "BTC-PERPETUAL", 16609, 1569888003897),    // 8304.39 / 0.5 = 16608.78
            (7, "BTC-8JUN20-8750-P", 0, 1591603200048), // closed, "estimated_delivery_price":"expired"
            (8, "BTC-5JUN20-9250-C", 77, 1590969652595), // 0.03847784 / 0.0005 = 76.96
            (9, "ETH-5JUN20-310-P", 677, 1590969597073), // 0.33859 / 0.0005 = 677.18
            (10, "ETH-10JUN20-270-C", 1, 1591608298178), // 0.000632 / 0.0005 = 1.26
        ];
        for (line, name, px, ts) in cases {
            let (f, ev) = mark_of("tardis-node.jsonl", line);
            assert_eq!(f, Frame::Ticker, "line {line}");
            // Options also give an `OptionTicker` (mark IV, underlying, greeks) after the Mark.
            let options = usize::from(name.ends_with("-C") || name.ends_with("-P"));
            assert_eq!(ev.len(), 1 + options, "line {line}");
            if options == 1 {
                assert_eq!(
                    ev[1].kind,
                    mm_core::event::MdKind::OptionTicker,
                    "line {line}"
                );
            }
            assert_eq!(
                (ev[0].kind, ev[0].instrument, ev[0].price, ev[0].exch_ts),
                (Mark, id(name), px, ts * MS),
                "line {line}"
            );
        }
    }

    #[test]
    fn tardis_11_12_liquidation_trades_integer_amounts() {
        let (f, ev) = mark_of("tardis-node.jsonl", 11);
        assert_eq!(f, Frame::Trades);
        assert_eq!(brief(&ev), [(Trade, Ask, 8939, 112, 40781986)]);
        assert_eq!(ev[0].exch_ts, 1584058044032 * MS);
        let (f, ev) = mark_of("tardis-node.jsonl", 12);
        assert_eq!(f, Frame::Trades);
        assert_eq!(brief(&ev), [(Trade, Bid, 8917, 250, 40782080)]);
    }

    #[test]
    fn tardis_13_change_with_prev_change_id_zero_is_a_snapshot() {
        let i = id("ETH-10SEP21-3350-P");
        let (f, ev) = mark_of("tardis-node.jsonl", 13);
        assert_eq!(f, Frame::Book { instrument: i });
        let s = 14617771529;
        assert_eq!(
            brief(&ev),
            [
                (BookClear, Bid, 0, 0, s),
                (Level, Bid, 38, 93, s),
                (Level, Ask, 74, 93, s),
                (BookDone, Bid, 0, 0, s)
            ]
        );
    }

    #[test]
    fn tardis_14_snapshot_with_prev_change_id_20_is_a_snapshot() {
        let i = id("LINK_USDC-PERPETUAL");
        let mut d = dec();
        let (r, ev) = feed(&mut d, &message_line("tardis-node.jsonl", 14));
        assert_eq!(r.unwrap(), Frame::Book { instrument: i });
        let s = 1232767964;
        assert_eq!(
            brief(&ev),
            [
                (BookClear, Bid, 0, 0, s),
                (Level, Bid, 7562, 340, s),
                (Level, Bid, 7561, 3290, s),
                (Level, Bid, 7560, 4010, s),
                (Level, Bid, 7559, 1330, s),
                (Level, Bid, 7558, 6600, s),
                (BookDone, Bid, 0, 0, s),
            ]
        );
        assert_eq!(d.last_change_id(i), Some(s));
        assert_eq!(ev[0].exch_ts, 1654041599955 * MS);
    }

    #[test]
    fn tardis_15_to_17_combo_tickers_are_ignored() {
        for line in 15..=17 {
            let mut d = dec();
            let (r, ev) = feed(&mut d, &message_line("tardis-node.jsonl", line));
            assert_eq!(r.unwrap(), Frame::Ignored, "line {line}");
            assert!(ev.is_empty());
            assert_eq!(d.stats().unknown_instrument, 1);
        }
    }

    #[test]
    fn tardis_18_linear_option_name_with_d() {
        let (f, ev) = mark_of("tardis-node.jsonl", 18);
        assert_eq!(f, Frame::Ticker);
        assert_eq!(
            (ev[0].kind, ev[0].instrument, ev[0].price),
            (Mark, id("MATIC_USDC-9MAR24-1d02-C"), 1390)
        );
        assert_eq!(ev[0].exch_ts, 1709809020064 * MS);
    }

    // ---------------------------------------------------------------- crypto-msg-parser.jsonl

    #[test]
    fn cmp_1_to_3_trades_including_a_multi_instrument_channel() {
        let (f, ev) = mark_of("crypto-msg-parser.jsonl", 1);
        assert_eq!(f, Frame::Trades);
        assert_eq!(brief(&ev), [(Trade, Bid, 112547, 600, 5326971)]);
        assert_eq!(
            (ev[0].instrument, ev[0].exch_ts),
            (id("BTC-26MAR21"), 1616321287195 * MS)
        );
        let (f, ev) = mark_of("crypto-msg-parser.jsonl", 2);
        assert_eq!(f, Frame::Trades);
        assert_eq!(
            brief(&ev),
            [
                (Trade, Bid, 112336, 558, 92836831),
                (Trade, Bid, 112336, 6, 92836832)
            ]
        );
        // trades.option.any.raw: the instrument comes from each element.
        let (f, ev) = mark_of("crypto-msg-parser.jsonl", 3);
        assert_eq!(f, Frame::Trades);
        assert_eq!(brief(&ev), [(Trade, Bid, 14, 1, 1706)]);
        assert_eq!(ev[0].instrument, id("BTC-26MAR21-62000-C"));
        // The same frame with that option not in the table: ignored, counted.
        let mut d = MdDecoder::new(table_of(&["BTC-PERPETUAL"]));
        let (r, ev) = feed(&mut d, &message_line("crypto-msg-parser.jsonl", 3));
        assert_eq!(r.unwrap(), Frame::Ignored);
        assert!(ev.is_empty());
        assert_eq!(d.stats().unknown_instrument, 1);
    }

    #[test]
    fn cmp_4_5_future_book_snapshot_and_change_100ms() {
        let i = id("BTC-25JUN21");
        let mut d = dec();
        let (r, ev) = feed(&mut d, &message_line("crypto-msg-parser.jsonl", 4));
        assert_eq!(r.unwrap(), Frame::Book { instrument: i });
        let s = 31479219781;
        assert_eq!(
            brief(&ev),
            [
                (BookClear, Bid, 0, 0, s),
                (Level, Bid, 74634, 296, s),
                (Level, Bid, 74623, 53, s),
                (Level, Bid, 74622, 4517, s),
                (Level, Ask, 74654, 1, s),
                (Level, Ask, 74655, 2000, s),
                (Level, Ask, 74656, 300, s),
                (BookDone, Bid, 0, 0, s),
            ]
        );
        assert_eq!(ev[6].exch_ts, 1622626472678 * MS);
        // Line 5 is a later change (trimmed capture): a gap after line 4 …
        let (r, _) = feed(&mut d, &message_line("crypto-msg-parser.jsonl", 5));
        assert_eq!(r.unwrap(), Frame::Gap { instrument: i });
        // … and, once the chain is right, all three actions.
        let mut d = dec();
        feed(
            &mut d,
            &empty_snapshot("book.BTC-25JUN21.100ms", 31479339296),
        )
        .0
        .unwrap();
        let (r, ev) = feed(&mut d, &message_line("crypto-msg-parser.jsonl", 5));
        assert_eq!(r.unwrap(), Frame::Book { instrument: i });
        let c = 31479339507;
        assert_eq!(
            brief(&ev),
            [
                (Level, Bid, 74785, 300, c),
                (Level, Bid, 74798, 653, c),
                (Level, Ask, 75700, 885, c),
                (Level, Ask, 75697, 0, c),
                (BookDone, Bid, 0, 0, c),
            ]
        );
        assert_eq!(ev[4].exch_ts, 1622626784890 * MS);
    }

    #[test]
    fn cmp_6_7_perpetual_book_snapshot_and_change() {
        let i = id("BTC-PERPETUAL");
        let (f, ev) = mark_of("crypto-msg-parser.jsonl", 6);
        assert_eq!(f, Frame::Book { instrument: i });
        let s = 31479596557;
        assert_eq!(
            brief(&ev),
            [
                (BookClear, Bid, 0, 0, s),
                (Level, Bid, 74480, 2, s),
                (Level, Bid, 74474, 1427, s),
                (Level, Bid, 74466, 5, s),
                (Level, Ask, 74481, 1424, s),
                (Level, Ask, 74497, 1569, s),
                (Level, Ask, 74502, 65, s),
                (BookDone, Bid, 0, 0, s),
            ]
        );
        let mut d = dec();
        feed(
            &mut d,
            &empty_snapshot("book.BTC-PERPETUAL.100ms", 31479598064),
        )
        .0
        .unwrap();
        let (r, ev) = feed(&mut d, &message_line("crypto-msg-parser.jsonl", 7));
        assert_eq!(r.unwrap(), Frame::Book { instrument: i });
        let c = 31479598217;
        assert_eq!(
            brief(&ev),
            [
                (Level, Bid, 73558, 0, c),
                (Level, Bid, 73619, 25487, c),
                (Level, Ask, 74925, 0, c),
                (Level, Ask, 74788, 4267, c),
                (BookDone, Bid, 0, 0, c),
            ]
        );
    }

    #[test]
    fn cmp_8_option_book_snapshot() {
        let (f, ev) = mark_of("crypto-msg-parser.jsonl", 8);
        assert_eq!(
            f,
            Frame::Book {
                instrument: id("BTC-11JUN21-25000-P")
            }
        );
        let s = 31479771122;
        assert_eq!(
            brief(&ev),
            [
                (BookClear, Bid, 0, 0, s),
                (Level, Bid, 10, 137, s),
                (Level, Bid, 9, 57, s),
                (Level, Bid, 8, 616, s),
                (Level, Ask, 12, 645, s),
                (Level, Ask, 13, 480, s),
                (Level, Ask, 17, 5, s),
                (BookDone, Bid, 0, 0, s),
            ]
        );
    }

    #[test]
    fn cmp_9_to_11_grouped_books_are_full_snapshots() {
        let (f, ev) = mark_of("crypto-msg-parser.jsonl", 9);
        assert_eq!(
            f,
            Frame::Book {
                instrument: id("BTC-30SEP22")
            }
        );
        let s = 45176371821;
        assert_eq!(
            brief(&ev),
            [
                (BookClear, Bid, 0, 0, s),
                (Level, Bid, 63950, 137, s),
                (Level, Bid, 63932, 220, s),
                (Level, Bid, 63922, 30, s),
                (Level, Ask, 63953, 250, s),
                (Level, Ask, 63958, 6, s),
                (Level, Ask, 63964, 220, s),
                (BookDone, Bid, 0, 0, s),
            ]
        );
        let (f, ev) = mark_of("crypto-msg-parser.jsonl", 10);
        assert_eq!(
            f,
            Frame::Book {
                instrument: id("BTC-PERPETUAL")
            }
        );
        let s = 45176552517;
        assert_eq!(
            brief(&ev)[1..7],
            [
                (Level, Bid, 63047, 12878, s),
                (Level, Bid, 63046, 19, s),
                (Level, Bid, 63043, 1450, s),
                (Level, Ask, 63048, 3, s),
                (Level, Ask, 63050, 3, s),
                (Level, Ask, 63051, 601, s),
            ]
        );
        let (f, ev) = mark_of("crypto-msg-parser.jsonl", 11);
        assert_eq!(
            f,
            Frame::Book {
                instrument: id("BTC-30SEP22-60000-C")
            }
        );
        let s = 45176637818;
        assert_eq!(
            brief(&ev)[1..7],
            [
                (Level, Bid, 22, 154, s),
                (Level, Bid, 21, 422, s),
                (Level, Bid, 20, 41, s),
                (Level, Ask, 24, 102, s),
                (Level, Ask, 25, 166, s),
                (Level, Ask, 26, 444, s),
            ]
        );
        assert_eq!(ev[0].exch_ts, 1653983742265 * MS);
    }

    #[test]
    fn cmp_12_to_16_quote_and_chart_channels_are_ignored() {
        for line in 12..=16 {
            let mut d = dec();
            let (r, ev) = feed(&mut d, &message_line("crypto-msg-parser.jsonl", line));
            assert_eq!(r.unwrap(), Frame::Ignored, "line {line}");
            assert!(ev.is_empty());
            assert_eq!(d.stats().ignored, 1);
        }
    }

    #[test]
    fn cmp_17_to_19_tickers() {
        let cases = [
            (17, "BTC-30SEP22", 60438, 1654161740658u64), // 30218.9 / 0.5 = 60437.8
            (18, "BTC-PERPETUAL", 59866, 1654161785818),  // 29932.79 / 0.5 = 59865.58
            (19, "BTC-30SEP22-60000-C", 17, 1654161839367), // 0.0084 / 0.0005 = 16.8
        ];
        for (line, name, px, ts) in cases {
            let (f, ev) = mark_of("crypto-msg-parser.jsonl", line);
            assert_eq!(f, Frame::Ticker);
            assert_eq!(
                (ev[0].kind, ev[0].instrument, ev[0].price, ev[0].exch_ts),
                (Mark, id(name), px, ts * MS)
            );
        }
    }

    #[test]
    fn cmp_20_to_26_rest_replies_without_id() {
        for line in 20..=26 {
            let frame = message_line("crypto-msg-parser.jsonl", line);
            let (f, ev) = mark_of("crypto-msg-parser.jsonl", line);
            assert_eq!(f, Frame::Rpc { id: NO_ID }, "line {line}");
            assert!(ev.is_empty());
            // The order connection sees the raw result.
            let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
            match decode_private(frame.as_bytes()).unwrap() {
                PrivateMsg::RpcOk {
                    id,
                    result: RpcResult::Raw(raw),
                } => {
                    assert_eq!(id, NO_ID);
                    let r: serde_json::Value = serde_json::from_slice(raw).unwrap();
                    assert_eq!(r, v["result"], "line {line}");
                }
                other => panic!("line {line}: {other:?}"),
            }
        }
        // Line 20 is get_order_book: spot-check that the raw span is the right one.
        let frame = message_line("crypto-msg-parser.jsonl", 20);
        if let PrivateMsg::RpcOk {
            result: RpcResult::Raw(raw),
            ..
        } = decode_private(frame.as_bytes()).unwrap()
        {
            let r: serde_json::Value = serde_json::from_slice(raw).unwrap();
            assert_eq!(r["change_id"], 45305026640u64);
            assert_eq!(r["instrument_name"], "BTC-30SEP22");
        }
    }

    // ---------------------------------------------------------------- roq-deribit-user-channels.jsonl

    fn check_roq_fill(t: &TradeView<'_>) {
        assert_eq!(t.trade_id, "208465104");
        assert_eq!(t.order_id, "74365704227");
        assert_eq!(t.label, "YwACqyGDa0UAAQAAAAAA");
        assert_eq!(t.instrument_name, "BTC-PERPETUAL");
        assert_eq!(t.side, Bid);
        assert_eq!(t.price, d("92037"));
        assert_eq!(t.amount, d("10"));
        assert_eq!(t.fee, d("0.00000005")); // "fee":5.0e-8
        assert_eq!(t.fee_currency, "BTC");
        assert!(!t.maker); // liquidity "T"
        assert_eq!(t.timestamp_ms, 1765505266849);
        assert_eq!(t.trade_seq, 123024306);
    }

    #[test]
    fn roq_1_user_orders_ioc_filled_with_exponent_price() {
        let f = message_line("roq-deribit-user-channels.jsonl", 1);
        let PrivateMsg::Orders(o) = decode_private(f.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(o.order_id, "74365704227");
        assert_eq!(o.label, "YwACqyGDa0UAAQAAAAAA");
        assert_eq!(o.instrument_name, "BTC-PERPETUAL");
        assert_eq!(o.side, Bid);
        assert_eq!(o.price, Some(d("92100"))); // 9.21e4
        assert_eq!(o.amount, d("10"));
        assert_eq!(o.filled_amount, d("10"));
        assert_eq!(o.average_price, d("92037"));
        assert_eq!(o.state, OrderState::Filled);
        assert_eq!(o.cancel_reason, "");
        assert!(!o.post_only && !o.reduce_only);
        assert_eq!(o.last_update_ms, 1765505266849);
        assert_eq!(mm_venues::deribit::private::parse_label(o.label), None);
    }

    #[test]
    fn roq_2_user_trades() {
        let f = message_line("roq-deribit-user-channels.jsonl", 2);
        let PrivateMsg::Trades(tv) = decode_private(f.as_bytes()).unwrap() else {
            panic!()
        };
        let v: Vec<_> = tv.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(v.len(), 1);
        check_roq_fill(&v[0]);
        assert!(!tv.is_empty());
    }

    #[test]
    fn roq_3_to_5_user_changes() {
        let get = |n| message_line("roq-deribit-user-channels.jsonl", n);
        let f = get(3);
        let PrivateMsg::Changes { orders, trades } = decode_private(f.as_bytes()).unwrap() else {
            panic!()
        };
        let os: Vec<_> = orders.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(os.len(), 1);
        assert_eq!(
            (os[0].order_id, os[0].state, os[0].price),
            ("74311538594", OrderState::Open, Some(d("32000")))
        );
        assert_eq!(
            (os[0].label, os[0].side, os[0].amount),
            ("9gACGAK_UkUAAQAAAAAA", Bid, d("10"))
        );
        assert!(trades.is_empty());
        assert_eq!(trades.iter().count(), 0);

        let f = get(4);
        let PrivateMsg::Changes { orders, trades } = decode_private(f.as_bytes()).unwrap() else {
            panic!()
        };
        let os: Vec<_> = orders.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(
            (os[0].state, os[0].cancel_reason),
            (OrderState::Cancelled, "user_request")
        );
        assert_eq!(os[0].last_update_ms, 1765464142326);
        assert!(trades.is_empty());

        let f = get(5);
        let PrivateMsg::Changes { orders, trades } = decode_private(f.as_bytes()).unwrap() else {
            panic!()
        };
        let os: Vec<_> = orders.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(
            (os[0].order_id, os[0].state, os[0].filled_amount),
            ("74365704227", OrderState::Filled, d("10"))
        );
        let ts: Vec<_> = trades.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(ts.len(), 1);
        check_roq_fill(&ts[0]);
    }

    #[test]
    fn roq_6_to_8_other_notifications() {
        for n in [6, 7, 8] {
            let f = message_line("roq-deribit-user-channels.jsonl", n);
            assert_eq!(
                decode_private(f.as_bytes()).unwrap(),
                PrivateMsg::Other,
                "line {n}"
            );
        }
        // 7 (quote) and 8 (platform_state) on the market-data connection: ignored.
        for n in [7, 8] {
            let (f, ev) = mark_of("roq-deribit-user-channels.jsonl", n);
            assert_eq!(f, Frame::Ignored);
            assert!(ev.is_empty());
        }
    }

    #[test]
    fn roq_9_to_11_string_ids_errors_and_subscribe_ack() {
        let get = |n| message_line("roq-deribit-user-channels.jsonl", n);
        let f = get(9);
        assert_eq!(
            decode_private(f.as_bytes()).unwrap(),
            PrivateMsg::RpcErr {
                id: NO_ID,
                code: -32601,
                message: "Method not found"
            }
        );
        assert_eq!(
            mark_of("roq-deribit-user-channels.jsonl", 9).0,
            Frame::RpcError {
                id: NO_ID,
                code: -32601
            }
        );
        let f = get(10);
        let PrivateMsg::RpcOk {
            id,
            result: RpcResult::Channels(ch),
        } = decode_private(f.as_bytes()).unwrap()
        else {
            panic!()
        };
        assert_eq!(id, NO_ID);
        assert_eq!(
            ch.iter().collect::<Result<Vec<_>, _>>().unwrap(),
            ["platform_state"]
        );
        assert_eq!(
            mark_of("roq-deribit-user-channels.jsonl", 10).0,
            Frame::Rpc { id: NO_ID }
        );
        let f = get(11);
        assert_eq!(
            decode_private(f.as_bytes()).unwrap(),
            PrivateMsg::RpcErr {
                id: NO_ID,
                code: -32602,
                message: "Invalid params"
            }
        );
    }

    #[test]
    fn roq_12_expired_option_ticker() {
        // "estimated_delivery_price":"expired" (a string where a number is usual) must not matter.
        let (f, ev) = mark_of("roq-deribit-user-channels.jsonl", 12);
        assert_eq!(f, Frame::Ticker);
        assert_eq!(
            (ev[0].kind, ev[0].instrument, ev[0].price),
            (Mark, id("BTC-2APR20-7125-P"), 139)
        ); // 0.06926904
        assert_eq!(ev[0].exch_ts, 1585814403026 * MS);
    }

    // ---------------------------------------------------------------- nautilus/*.json

    #[test]
    fn nautilus_instruments() {
        let v = parse_instruments(nautilus("http_get_instruments.json").as_bytes()).unwrap();
        // BTC-COMBO-1 (future_combo) is skipped.
        assert_eq!(
            v.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
            ["BTC-PERPETUAL", "BTC-27DEC24", "BTC-27DEC24-100000-C"]
        );
        let p = &v[0];
        assert_eq!(
            (p.kind, p.tick, p.lot, p.contract_size),
            (mm_core::Kind::Perpetual, d("0.5"), d("10"), d("10"))
        );
        assert_eq!(
            (p.inverse, p.expiry_ms, p.maker_fee, p.taker_fee),
            (true, None, 0.0, 0.0005)
        );
        assert_eq!(
            (
                p.base_currency.as_str(),
                p.quote_currency.as_str(),
                p.settlement_currency.as_str()
            ),
            ("BTC", "USD", "BTC")
        );
        let f = &v[1];
        assert_eq!(
            (f.kind, f.expiry_ms, f.tick),
            (mm_core::Kind::Future, Some(1735300800000), d("0.5"))
        );
        let o = &v[2];
        assert_eq!(
            (o.kind, o.tick, o.lot, o.contract_size),
            (mm_core::Kind::Option, d("0.0005"), d("0.1"), d("1"))
        );
        let t = o.option.unwrap();
        assert_eq!(
            (t.strike, t.option_type),
            (100000.0, mm_core::instrument::OptionType::Call)
        );
        assert_eq!(
            (o.quote_currency.as_str(), o.maker_fee, o.expiry_ms),
            ("BTC", 0.0003, Some(1735300800000))
        );
        assert_eq!(v.iter().map(|i| i.id).collect::<Vec<_>>(), [0, 1, 2]);

        let one = parse_instruments(nautilus("http_get_instrument.json").as_bytes()).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(
            (one[0].name.as_str(), one[0].kind, one[0].tick, one[0].lot),
            ("BTC-PERPETUAL", mm_core::Kind::Perpetual, d("0.5"), d("10"))
        );
        let one =
            parse_instruments(nautilus("http_get_instrument_option.json").as_bytes()).unwrap();
        assert_eq!(
            (
                one[0].name.as_str(),
                one[0].kind,
                one[0].option.unwrap().strike
            ),
            ("BTC-27DEC24-100000-C", mm_core::Kind::Option, 100000.0)
        );
    }

    #[test]
    fn nautilus_order_book_and_test_replies() {
        let ob = nautilus("http_get_order_book.json");
        let mut dd = dec();
        assert_eq!(feed(&mut dd, &ob).0.unwrap(), Frame::Rpc { id: 3 });
        let PrivateMsg::RpcOk {
            id: 3,
            result: RpcResult::Raw(raw),
        } = decode_private(ob.as_bytes()).unwrap()
        else {
            panic!()
        };
        let r: serde_json::Value = serde_json::from_slice(raw).unwrap();
        assert_eq!(r["change_id"], 133112427566u64);
        assert_eq!(r["bids"][0][0], 87002.5);
        let t = nautilus("http_test.json");
        let PrivateMsg::RpcOk {
            id: 1,
            result: RpcResult::Raw(raw),
        } = decode_private(t.as_bytes()).unwrap()
        else {
            panic!()
        };
        let r: serde_json::Value = serde_json::from_slice(raw).unwrap();
        assert_eq!(r["version"], "1.2.26");
    }

    #[test]
    fn nautilus_book_snapshot_null_prev_then_delta() {
        // Hand-written upstream (edge case: "prev_change_id": null on the snapshot).
        let i = id("BTC-PERPETUAL");
        let mut dd = dec();
        let (r, ev) = feed(&mut dd, &nautilus("ws_book_snapshot.json"));
        assert_eq!(r.unwrap(), Frame::Book { instrument: i });
        let s = 123456789;
        assert_eq!(
            brief(&ev),
            [
                (BookClear, Bid, 0, 0, s),
                (Level, Bid, 85000, 100, s),
                (Level, Bid, 84999, 50, s),
                (Level, Bid, 84998, 75, s),
                (Level, Bid, 84997, 120, s),
                (Level, Bid, 84996, 80, s),
                (Level, Ask, 85002, 80, s),
                (Level, Ask, 85003, 60, s),
                (Level, Ask, 85004, 40, s),
                (Level, Ask, 85005, 90, s),
                (Level, Ask, 85006, 55, s),
                (BookDone, Bid, 0, 0, s),
            ]
        );
        assert_eq!(ev[0].exch_ts, 1699999999000 * MS);
        let (r, ev) = feed(&mut dd, &nautilus("ws_book_delta.json"));
        assert_eq!(r.unwrap(), Frame::Book { instrument: i });
        let c = 123456790;
        assert_eq!(
            brief(&ev),
            [
                (Level, Bid, 85000, 95, c),
                (Level, Bid, 84997, 30, c),
                (Level, Ask, 85002, 0, c),
                (Level, Ask, 85003, 70, c),
                (BookDone, Bid, 0, 0, c),
            ]
        );
        assert_eq!(ev[0].exch_ts, 1699999999500 * MS);
    }

    #[test]
    fn nautilus_grouped_snapshot() {
        let (r, ev) = feed(&mut dec(), &nautilus("ws_book_grouped_snapshot.json"));
        assert_eq!(
            r.unwrap(),
            Frame::Book {
                instrument: id("BTC-PERPETUAL")
            }
        );
        assert_eq!(ev.len(), 22);
        let s = 136725664747;
        let b = brief(&ev);
        assert_eq!(b[1], (Level, Bid, 179065, 25490, s));
        assert_eq!(b[10], (Level, Bid, 179047, 1100, s));
        assert_eq!(b[11], (Level, Ask, 179066, 9157, s));
        assert_eq!(b[20], (Level, Ask, 179091, 2950, s));
        assert_eq!(ev[21].exch_ts, 1769246173071 * MS);
    }

    #[test]
    fn nautilus_ticker_trades_quote_volatility() {
        let (r, ev) = feed(&mut dec(), &nautilus("ws_ticker.json"));
        assert_eq!(r.unwrap(), Frame::Ticker);
        assert_eq!(
            (ev[0].kind, ev[0].price, ev[0].exch_ts),
            (Mark, 184564, 1765541474086 * MS)
        ); // 92281.78
        let (r, ev) = feed(&mut dec(), &nautilus("ws_trades.json"));
        assert_eq!(r.unwrap(), Frame::Trades);
        assert_eq!(
            brief(&ev),
            [
                (Trade, Ask, 184589, 1, 271252854),
                (Trade, Ask, 184577, 75, 271252855)
            ]
        );
        assert!(ev.iter().all(|e| e.exch_ts == 1765531356452 * MS));
        for f in ["ws_quote.json", "ws_volatility_index.json"] {
            let (r, ev) = feed(&mut dec(), &nautilus(f));
            assert_eq!(r.unwrap(), Frame::Ignored, "{f}");
            assert!(ev.is_empty());
        }
    }

    #[test]
    fn nautilus_option_combo_trades() {
        // Combo not in the table: ignored.
        let mut dd = dec();
        let (r, ev) = feed(&mut dd, &nautilus("ws_trades_option_combo.json"));
        assert_eq!(r.unwrap(), Frame::Ignored);
        assert!(ev.is_empty());
        assert_eq!(dd.stats().unknown_instrument, 1);
        // In the table (tick 0.0001 assumed): one trade for the combo, legs not emitted.
        let mut t = mm_core::InstrumentTable::new();
        t.push(mm_core::Instrument::new(
            "BTC-CS-19MAY26-70000_75000",
            mm_core::Kind::Option,
            d("0.0001"),
            d("0.1"),
        ))
        .unwrap();
        let mut dd = MdDecoder::new(std::sync::Arc::new(t));
        let (r, ev) = feed(&mut dd, &nautilus("ws_trades_option_combo.json"));
        assert_eq!(r.unwrap(), Frame::Trades);
        assert_eq!(brief(&ev), [(Trade, Ask, 639, 1, 1)]);
        assert_eq!(ev[0].exch_ts, 1779118041756 * MS);
    }

    #[test]
    fn nautilus_order_lifecycle_replies() {
        let buy = nautilus("ws_order_buy_response.json");
        let PrivateMsg::RpcOk {
            id: 3,
            result: RpcResult::Order { order, trades },
        } = decode_private(buy.as_bytes()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (order.order_id, order.label),
            ("USDC-104819327443", "O-19700101-000000-001-001-1")
        );
        assert_eq!(
            (order.instrument_name, order.side, order.state),
            ("ETH_USDC-PERPETUAL", Bid, OrderState::Open)
        );
        assert_eq!(
            (
                order.price,
                order.amount,
                order.filled_amount,
                order.average_price
            ),
            (Some(d("2973.55")), d("0.001"), d("0"), d("0"))
        );
        assert!(order.post_only && !order.reduce_only);
        assert_eq!(order.last_update_ms, 1767978363493);
        assert!(trades.is_empty());

        let sell = nautilus("ws_order_sell_response.json");
        let PrivateMsg::RpcOk {
            id: 4,
            result: RpcResult::Order { order, .. },
        } = decode_private(sell.as_bytes()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (order.order_id, order.side, order.price, order.label),
            (
                "USDC-104819327458",
                Ask,
                Some(d("3286.7")),
                "O-19700101-000000-001-001-2"
            )
        );

        let edit = nautilus("ws_order_edit_response.json");
        let PrivateMsg::RpcOk {
            id: 7,
            result: RpcResult::Order { order, .. },
        } = decode_private(edit.as_bytes()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (order.price, order.state, order.last_update_ms),
            (Some(d("3067.2")), OrderState::Open, 1767978368488)
        );

        let cancel = nautilus("ws_order_cancel_response.json");
        let PrivateMsg::RpcOk {
            id: 11,
            result: RpcResult::CancelledOrder(order),
        } = decode_private(cancel.as_bytes()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (order.order_id, order.state, order.cancel_reason),
            ("USDC-104819327443", OrderState::Cancelled, "user_request")
        );
        assert_eq!(
            (order.price, order.amount, order.last_update_ms),
            (Some(d("3067.2")), d("0.001"), 1767978373490)
        );
    }

    #[test]
    fn nautilus_session_frames() {
        let e = nautilus("ws_error.json");
        assert_eq!(
            decode_private(e.as_bytes()).unwrap(),
            PrivateMsg::RpcErr {
                id: 1,
                code: 10028,
                message: "too_many_requests"
            }
        );
        assert_eq!(
            feed(&mut dec(), &e).0.unwrap(),
            Frame::RpcError { id: 1, code: 10028 }
        );
        let s = nautilus("ws_subscribe_response.json");
        let PrivateMsg::RpcOk {
            id: 1,
            result: RpcResult::Channels(ch),
        } = decode_private(s.as_bytes()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            ch.iter().collect::<Result<Vec<_>, _>>().unwrap(),
            ["trades.BTC-PERPETUAL.100ms", "book.BTC-PERPETUAL.100ms"]
        );
        assert_eq!(feed(&mut dec(), &s).0.unwrap(), Frame::Rpc { id: 1 });
        let h = nautilus("ws_test_request.json");
        assert_eq!(
            decode_private(h.as_bytes()).unwrap(),
            PrivateMsg::Heartbeat { test_request: true }
        );
        assert_eq!(
            feed(&mut dec(), &h).0.unwrap(),
            Frame::Heartbeat { test_request: true }
        );
        let p = nautilus("ws_portfolio.json");
        assert_eq!(decode_private(p.as_bytes()).unwrap(), PrivateMsg::Other);
        assert_eq!(feed(&mut dec(), &p).0.unwrap(), Frame::Ignored);
    }

    // ---------------------------------------------------------------- real frames quoted in the dossier (§2.1, §3.1, §9.7, §9.8)

    #[test]
    fn dossier_buy_reply_with_immediate_fill_2021() {
        let f = r#"{"jsonrpc":"2.0","id":1,"result":{"trades":[{"trade_seq":57196858,"trade_id":"85012939","timestamp":1635427889618,"tick_direction":0,"state":"filled","self_trade":false,"reduce_only":false,"profit_loss":0.0,"price":61660.5,"post_only":false,"order_type":"limit","order_id":"6800409604","matching_id":null,"mark_price":61651.85,"liquidity":"T","label":"9upvib33","instrument_name":"BTC-PERPETUAL","index_price":61638.72,"fee_currency":"BTC","fee":0.00000551,"direction":"buy","amount":680.0}],"order":{"web":false,"time_in_force":"good_til_cancelled","replaced":false,"reduce_only":false,"profit_loss":0.0,"price":62579.5,"post_only":false,"order_type":"limit","order_state":"filled","order_id":"6800409604","max_show":680.0,"last_update_timestamp":1635427889618,"label":"9upvib33","is_liquidation":false,"instrument_name":"BTC-PERPETUAL","filled_amount":680.0,"direction":"buy","creation_timestamp":1635427889618,"commission":0.00000551,"average_price":61660.5,"api":true,"amount":680.0}},"usIn":1635427889617916,"usOut":1635427889619933,"usDiff":2017,"testnet":true}"#;
        let PrivateMsg::RpcOk {
            id: 1,
            result: RpcResult::Order { order, trades },
        } = decode_private(f.as_bytes()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (
                order.order_id,
                order.state,
                order.price,
                order.filled_amount
            ),
            (
                "6800409604",
                OrderState::Filled,
                Some(d("62579.5")),
                d("680")
            )
        );
        let t: Vec<_> = trades.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].trade_id, t[0].price, t[0].amount, t[0].fee, t[0].maker),
            ("85012939", d("61660.5"), d("680"), d("0.00000551"), false)
        );
        assert_eq!(
            (t[0].side, t[0].trade_seq, t[0].label),
            (Bid, 57196858, "9upvib33")
        );
    }

    #[test]
    fn dossier_user_trades_with_subscription_label_and_integer_numbers() {
        let f = r#"{ "jsonrpc": "2.0", "method": "subscription", "params": {
    "channel": "user.trades.any.any.raw",
    "data": [
      { "trade_seq": 57303018, "trade_id": "85180917", "timestamp": 1635662122251, "tick_direction": 0, "state": "filled", "self_trade": false, "reduce_only": false,
        "profit_loss": -0.00001785, "price": 61280, "post_only": false, "order_type": "limit", "order_id": "6815237676", "matching_id": null, "mark_price": 61269.22,
        "liquidity": "M", "label": "sell1234", "instrument_name": "BTC-PERPETUAL", "index_price": 61234.87, "fee_currency": "BTC", "fee": 0, "direction": "sell", "amount": 200
      }
    ],
    "label": "test_sub_trades"
  }
}"#;
        let PrivateMsg::Trades(tv) = decode_private(f.as_bytes()).unwrap() else {
            panic!()
        };
        let t: Vec<_> = tv.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(
            (t[0].price, t[0].amount, t[0].fee, t[0].maker, t[0].side),
            (d("61280"), d("200"), d("0"), true, Ask)
        );
        assert_eq!(
            (t[0].order_id, t[0].label, t[0].timestamp_ms),
            ("6815237676", "sell1234", 1635662122251)
        );
    }

    #[test]
    fn dossier_user_orders_post_only_web_order_2022() {
        let f = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"user.orders.BTC-PERPETUAL.raw","data":{"web":true,"time_in_force":"good_til_cancelled","risk_reducing":false,"replaced":false,"reject_post_only":false,"reduce_only":false,"profit_loss":0.0,"price":19094.0,"post_only":true,"order_type":"limit","order_state":"open","order_id":"14490265484","mmp":false,"max_show":10.0,"last_update_timestamp":1665867451646,"label":"","is_liquidation":false,"instrument_name":"BTC-PERPETUAL","filled_amount":0.0,"direction":"buy","creation_timestamp":1665867451646,"commission":0.0,"average_price":0.0,"api":false,"amount":10.0}}}"#;
        let PrivateMsg::Orders(o) = decode_private(f.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(
            (o.order_id, o.label, o.price, o.state, o.post_only),
            ("14490265484", "", Some(d("19094")), OrderState::Open, true)
        );
    }

    #[test]
    fn dossier_auth_reply_with_string_id() {
        let f = r#"{"jsonrpc":"2.0","id":"auth","result":{"enabled_features":[],"access_token":"1796961742820.1X8iNX52.zryvAz8d_…","expires_in":31536000,"refresh_token":"1796961742820.1TsgfAFL.dnDPkBoP…","scope":"block_trade:read connection trade:read_write account:read wallet:read mainaccount","token_type":"bearer"},"usIn":1765425742820267,"usOut":1765425742820804,"usDiff":537,"testnet":false}"#;
        assert_eq!(
            decode_private(f.as_bytes()).unwrap(),
            PrivateMsg::RpcOk {
                id: NO_ID,
                result: RpcResult::Auth {
                    access_token: "1796961742820.1X8iNX52.zryvAz8d_…",
                    expires_in: 31536000,
                    refresh_token: "1796961742820.1TsgfAFL.dnDPkBoP…"
                }
            }
        );
    }

    #[test]
    fn dossier_heartbeat_with_params_before_method() {
        let f = r#"{"params":{"type":"heartbeat"},"method":"heartbeat","jsonrpc":"2.0"}"#;
        assert_eq!(
            decode_private(f.as_bytes()).unwrap(),
            PrivateMsg::Heartbeat {
                test_request: false
            }
        );
        assert_eq!(
            feed(&mut dec(), f).0.unwrap(),
            Frame::Heartbeat {
                test_request: false
            }
        );
    }

    #[test]
    fn every_message_line_is_covered_above() {
        // The tests above address lines by number; make sure the files have exactly those lines.
        let count = |f: &str| deribit_file(&format!("messages/{f}")).lines().count();
        assert_eq!(count("tardis-node.jsonl"), 18);
        assert_eq!(count("crypto-msg-parser.jsonl"), 26);
        assert_eq!(count("roq-deribit-user-channels.jsonl"), 12);
        let mut names: Vec<String> =
            std::fs::read_dir(data_dir().join("deribit/messages/nautilus"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "http_get_instrument.json",
                "http_get_instrument_option.json",
                "http_get_instruments.json",
                "http_get_order_book.json",
                "http_test.json",
                "ws_book_delta.json",
                "ws_book_grouped_snapshot.json",
                "ws_book_snapshot.json",
                "ws_error.json",
                "ws_order_buy_response.json",
                "ws_order_cancel_response.json",
                "ws_order_edit_response.json",
                "ws_order_sell_response.json",
                "ws_portfolio.json",
                "ws_quote.json",
                "ws_subscribe_response.json",
                "ws_test_request.json",
                "ws_ticker.json",
                "ws_trades.json",
                "ws_trades_option_combo.json",
                "ws_volatility_index.json",
            ]
        );
    }
}
