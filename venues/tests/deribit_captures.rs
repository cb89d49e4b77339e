//! Whole recorded sessions (cryptofeed 2021-04-05 and 2021-04-17 `ws.capture`) through the
//! market-data decoder: no errors, no gaps, and every final book equal to one rebuilt
//! independently from serde_json parsing (f64 prices rounded to ticks, BTreeMaps).

mod deribit_common;

/// Named `deribit` so that `cargo test -p mm-venues deribit` selects these tests.
mod deribit {

    use crate::deribit_common::*;
    use mm_core::event::{MdEvent, MdKind};
    use mm_core::instrument::{Instrument, InstrumentTable};
    use mm_core::types::Side;
    use mm_venues::deribit::instruments::instruments_from_rest_capture;
    use mm_venues::deribit::md::{Frame, MdDecoder};
    use std::collections::{BTreeMap, HashMap};
    use std::sync::Arc;

    type Book = [BTreeMap<i64, i64>; 2];
    /// `(price, qty)` of the best level, if any.
    type Top = Option<(i64, i64)>;

    /// The frames Deribit sent: `<ts>: <payload>` lines (the configuration line, connection
    /// markers `<url> <-> <ts>` and our own requests `<url> <- <ts>: …` are skipped).
    fn received_frames(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|l| l.as_bytes().first().is_some_and(|b| b.is_ascii_digit()))
            .filter_map(|l| l.split_once(": ").map(|(_, p)| p))
            .collect()
    }

    /// Instrument names of the book channels in the capture's subscribe request.
    fn subscribed_names(text: &str) -> Vec<String> {
        let req = text
            .lines()
            .find(|l| l.contains(" <- "))
            .expect("subscribe line");
        let (_, payload) = req.split_once(": ").unwrap();
        let v: serde_json::Value = serde_json::from_str(payload).unwrap();
        let mut names: Vec<String> = v["params"]["channels"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| {
                c.as_str()?
                    .strip_prefix("book.")?
                    .strip_suffix(".raw")
                    .map(str::to_string)
            })
            .collect();
        names.sort();
        names
    }

    /// Independent reference: serde_json + f64, prices and amounts rounded to ticks and lots.
    fn reference_books(frames: &[&str], table: &InstrumentTable) -> (HashMap<String, Book>, u64) {
        let mut books: HashMap<String, Book> = HashMap::new();
        let mut last: HashMap<String, u64> = HashMap::new();
        let mut gaps = 0;
        for f in frames {
            let v: serde_json::Value = serde_json::from_str(f).unwrap();
            let Some(ch) = v["params"]["channel"].as_str() else {
                continue;
            };
            let Some(rest) = ch.strip_prefix("book.") else {
                continue;
            };
            let name = rest.split('.').next().unwrap().to_string();
            let inst = table.by_name(&name).unwrap();
            let (tick, lot) = (inst.tick.to_f64(), inst.lot.to_f64());
            let data = &v["params"]["data"];
            let book = books.entry(name.clone()).or_default();
            if data["type"] == "snapshot" {
                *book = Default::default();
            } else if data["prev_change_id"].as_u64() != last.get(&name).copied() {
                gaps += 1;
            }
            last.insert(name, data["change_id"].as_u64().unwrap());
            for (k, side) in [("bids", 0), ("asks", 1)] {
                for row in data[k].as_array().unwrap() {
                    let px = (row[1].as_f64().unwrap() / tick).round() as i64;
                    let qty = (row[2].as_f64().unwrap() / lot).round() as i64;
                    if row[0] == "delete" {
                        book[side].remove(&px);
                    } else {
                        book[side].insert(px, qty);
                    }
                }
            }
        }
        (books, gaps)
    }

    fn apply(books: &mut HashMap<u32, Book>, e: &MdEvent) {
        let b = books.entry(e.instrument).or_default();
        match e.kind {
            MdKind::BookClear => *b = Default::default(),
            MdKind::Level => {
                let side = &mut b[e.side.idx()];
                if e.qty == 0 {
                    side.remove(&e.price);
                } else {
                    side.insert(e.price, e.qty);
                }
            }
            _ => {}
        }
    }

    /// Runs a capture; returns the decoder's books by name.
    fn run(text: &str, table: Arc<InstrumentTable>) -> HashMap<String, Book> {
        let frames = received_frames(text);
        let mut dec = MdDecoder::new(table.clone());
        let mut books: HashMap<u32, Book> = HashMap::new();
        let mut n_book = 0;
        let mut n_ticker = 0;
        let mut marks = 0;
        for f in &frames {
            let r = dec.decode(f.as_bytes(), 7, &mut |e| {
                assert_eq!(e.t_recv, 7);
                if e.kind == MdKind::Mark {
                    marks += 1;
                }
                apply(&mut books, &e)
            });
            match r {
                Ok(Frame::Book { .. }) => n_book += 1,
                Ok(Frame::Ticker) => n_ticker += 1,
                Ok(Frame::Rpc { id: 0 }) => {}
                other => panic!("unexpected {other:?} for {}", &f[..f.len().min(120)]),
            }
        }
        let s = dec.stats();
        assert_eq!(
            (
                s.errors,
                s.gaps,
                s.dropped_while_gapped,
                s.unknown_instrument
            ),
            (0, 0, 0, 0)
        );
        assert_eq!(s.frames as usize, frames.len());
        assert_eq!(n_ticker, marks);
        let (reference, ref_gaps) = reference_books(&frames, &table);
        assert_eq!(ref_gaps, 0);
        assert!(n_book > 0 && reference.len() == 10);
        let ours: HashMap<String, Book> = books
            .into_iter()
            .map(|(i, b)| (table.get(i).name.clone(), b))
            .collect();
        for (name, b) in &reference {
            let mine = ours.get(name).cloned().unwrap_or_default();
            assert_eq!(&mine, b, "book of {name}");
            let id = table.id(name).unwrap();
            assert!(dec.last_change_id(id).is_some());
        }
        ours
    }

    fn bbo(b: &Book) -> (Top, Top) {
        let bid = b[Side::Bid.idx()].iter().next_back().map(|(p, q)| (*p, *q));
        let ask = b[Side::Ask.idx()].iter().next().map(|(p, q)| (*p, *q));
        (bid, ask)
    }

    #[test]
    fn capture_2021_04_05_options() {
        let text = deribit_file("cryptofeed-2021-04-05/ws.capture");
        let names = subscribed_names(&text);
        assert_eq!(names.len(), 10);
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let table = table_of(&refs);
        let books = run(&text, table);
        // Final touch, checked by hand against the capture (prices / 0.0005, amounts / lot).
        // ETH-30APR21-2240-P: bid 0.093 × 202, ask 0.098 × 137 (ETH lot 1).
        assert_eq!(
            bbo(&books["ETH-30APR21-2240-P"]),
            (Some((186, 202)), Some((196, 137)))
        );
        // BTC-25MAR22-400000-C: bid 0.027 × 27.0, ask 0.032 × 0.1 (BTC lot 0.1).
        assert_eq!(
            bbo(&books["BTC-25MAR22-400000-C"]),
            (Some((54, 270)), Some((64, 1)))
        );
        // BTC-31DEC21-300000-P: one-sided.
        assert_eq!(bbo(&books["BTC-31DEC21-300000-P"]), (Some((302, 50)), None));
        // ETH-6APR21-2400-P: empty book snapshot.
        assert_eq!(bbo(&books["ETH-6APR21-2400-P"]), (None, None));
    }

    #[test]
    fn capture_2021_04_17_options_with_instruments_from_rest_capture() {
        let rest = deribit_file("cryptofeed-2021-04-17/rest.capture");
        let insts: Vec<Instrument> = instruments_from_rest_capture(&rest).unwrap();
        let text = deribit_file("cryptofeed-2021-04-17/ws.capture");
        let names = subscribed_names(&text);
        let mut table = InstrumentTable::new();
        for i in insts.into_iter().filter(|i| names.contains(&i.name)) {
            table.push(i).unwrap();
        }
        assert_eq!(
            table.len(),
            10,
            "every subscribed instrument is in rest.capture"
        );
        let books = run(&text, Arc::new(table));
        // ETH-30APR21-2560-P: bid 0.083 × 5, ask 0.0885 × 240.
        assert_eq!(
            bbo(&books["ETH-30APR21-2560-P"]),
            (Some((166, 5)), Some((177, 240)))
        );
        // BTC-18APR21-62000-C: bid 0.001 × 52.6, ask 0.0025 × 26.0.
        assert_eq!(
            bbo(&books["BTC-18APR21-62000-C"]),
            (Some((2, 526)), Some((5, 260)))
        );
        assert_eq!(bbo(&books["BTC-19APR21-68000-C"]), (None, Some((2, 580))));
    }

    #[test]
    fn dropped_change_in_a_real_capture_is_a_gap_and_resyncs() {
        // Fault injection on real data: drop the first book change of one instrument, check the
        // gap, the dropped changes, and recovery on a (re-sent) snapshot.
        let text = deribit_file("cryptofeed-2021-04-05/ws.capture");
        let names = subscribed_names(&text);
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let table = table_of(&refs);
        let frames = received_frames(&text);
        let target = "book.ETH-30APR21-2240-P.raw";
        let snapshot = frames
            .iter()
            .find(|f| f.contains(target) && f.contains("\"snapshot\""))
            .unwrap();
        let first_change = frames
            .iter()
            .position(|f| f.contains(target) && f.contains("\"change\""))
            .unwrap();
        let inst = table.id("ETH-30APR21-2240-P").unwrap();
        let mut dec = MdDecoder::new(table);
        let mut gaps = 0;
        let mut after_gap = 0;
        for (k, f) in frames.iter().enumerate() {
            if k == first_change {
                continue;
            }
            let mut evs = Vec::new();
            match dec.decode(f.as_bytes(), 0, &mut |e| evs.push(e)).unwrap() {
                Frame::Gap { instrument } => {
                    assert_eq!(instrument, inst);
                    assert_eq!(evs.len(), 1);
                    assert_eq!(evs[0].kind, MdKind::Gap);
                    gaps += 1;
                }
                Frame::Dropped { instrument } => {
                    assert_eq!(instrument, inst);
                    assert!(evs.is_empty());
                    after_gap += 1;
                }
                _ => {}
            }
        }
        assert_eq!(gaps, 1);
        assert_eq!(dec.stats().dropped_while_gapped, after_gap);
        assert!(dec.last_change_id(inst).is_none());
        // The resubscription's snapshot brings it back.
        dec.reset_instrument(inst);
        assert_eq!(
            dec.decode(snapshot.as_bytes(), 0, &mut |_| {}).unwrap(),
            Frame::Book { instrument: inst }
        );
        assert!(dec.last_change_id(inst).is_some());
        // A disconnect makes every book need a snapshot again.
        dec.on_disconnect();
        assert!(dec.last_change_id(inst).is_none());
    }
}
