//! Finding the end of an object or array the private decoder does not parse yet (a list
//! it hands out as a lazy view, a `positions` array nobody reads) without walking it
//! structural byte by structural byte.
//!
//! [`container_end`] classifies 64 bytes at a time into bit masks (quotes, backslashes,
//! brackets; SSE2 on x86-64), turns the quote mask into an "inside a string" mask with a
//! prefix XOR (the simdjson technique: Langdale & Lemire, "Parsing Gigabytes of JSON per
//! Second", VLDB Journal 2019, §3.1.1), and then visits only the brackets outside strings,
//! one bit each. Commas, colons, keys and scalars cost nothing per byte beyond the block
//! classification, and the per-bracket branch pattern is regular, so the walk has far fewer
//! branch mispredictions than [`Cursor::skip_unused`]'s general path, which branches on every
//! `"`, `,` and bracket.
//!
//! It accepts exactly what [`Cursor::skip_unused`] accepts for a container (strings
//! terminated, brackets balanced and matched, nesting at most [`json::MAX_DEPTH`]) and
//! stops at the same byte; anything it does not handle itself (a backslash escape in a block
//! it reads, malformed or truncated input, too deep nesting) it leaves to that general path,
//! which then gives the result, or the error, it always gave ([`value_span`]).

use crate::deribit::json::{self, Cursor};
use crate::deribit::DecodeError;

/// Bytes classified per step.
const BLOCK: usize = 64;

/// Bit masks of one 64-byte block: bit `k` describes byte `base + k`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Masks {
    /// `"`.
    quote: u64,
    /// `\`.
    backslash: u64,
    /// `{` or `[`.
    open: u64,
    /// `}` or `]`.
    close: u64,
    /// `{` or `}` (the object brackets among `open | close`).
    curly: u64,
}

/// Classifies `b` (one block; zero bytes classify as nothing).
#[inline(always)]
fn masks(b: &[u8; BLOCK]) -> Masks {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        let mut m = Masks::default();
        for (k, chunk) in b.chunks_exact(16).enumerate() {
            // SAFETY: SSE2 is part of the x86-64 baseline, so the intrinsics are available;
            // the unaligned load reads exactly the 16 bytes of `chunk` (`chunks_exact(16)`).
            let (q, bs, op, cl, cu) = unsafe {
                let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
                let eq = |x: __m128i, c: u8| _mm_cmpeq_epi8(x, _mm_set1_epi8(c as i8));
                // `v | 0x20` maps `[`/`]` onto `{`/`}` and no other byte onto them.
                let f = _mm_or_si128(v, _mm_set1_epi8(0x20));
                let mm = |x: __m128i| u64::from(_mm_movemask_epi8(x) as u16);
                (
                    mm(eq(v, b'"')),
                    mm(eq(v, b'\\')),
                    mm(eq(f, b'{')),
                    mm(eq(f, b'}')),
                    mm(_mm_or_si128(eq(v, b'{'), eq(v, b'}'))),
                )
            };
            let s = 16 * k as u32;
            m.quote |= q << s;
            m.backslash |= bs << s;
            m.open |= op << s;
            m.close |= cl << s;
            m.curly |= cu << s;
        }
        m
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut m = Masks::default();
        for (k, &c) in b.iter().enumerate() {
            let bit = 1u64 << k;
            match c {
                b'"' => m.quote |= bit,
                b'\\' => m.backslash |= bit,
                b'{' => {
                    m.open |= bit;
                    m.curly |= bit;
                }
                b'[' => m.open |= bit,
                b'}' => {
                    m.close |= bit;
                    m.curly |= bit;
                }
                b']' => m.close |= bit,
                _ => {}
            }
        }
        m
    }
}

/// Bit `k` of the result is the XOR of bits `0..=k` of `x`.
#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// The index just past the object or array that opens at `buf[start]`, if it is
/// well-formed as [`Cursor::skip_unused`] defines it (strings terminated, brackets balanced
/// and matched, at most [`json::MAX_DEPTH`] levels) and no block read holds a backslash.
/// `None` in every other case (not a container at `start`, an escape, malformed, truncated,
/// too deep): the caller then takes the general path.
#[inline]
pub(crate) fn container_end(buf: &[u8], start: usize) -> Option<usize> {
    if !matches!(buf.get(start), Some(b'{' | b'[')) {
        return None;
    }
    // Bit d of `stack`: nesting level d is an object.
    let mut stack: u128 = 0;
    let mut depth: usize = 0;
    // All ones while the previous block ended inside a string.
    let mut in_str: u64 = 0;
    let mut base = start;
    let mut tail = [0u8; BLOCK];
    while base < buf.len() {
        let block: &[u8; BLOCK] = match buf.get(base..base + BLOCK) {
            Some(b) => b.try_into().ok()?,
            None => {
                let rest = buf.get(base..)?;
                tail.get_mut(..rest.len())?.copy_from_slice(rest);
                &tail
            }
        };
        let m = masks(block);
        if m.backslash != 0 {
            return None;
        }
        // Set from an opening quote up to (not including) its closing quote.
        let strings = prefix_xor(m.quote) ^ in_str;
        in_str = ((strings as i64) >> 63) as u64;
        let mut brackets = (m.open | m.close) & !strings;
        while brackets != 0 {
            let k = brackets.trailing_zeros();
            let bit = 1u64 << k;
            let curly = m.curly & bit != 0;
            if m.open & bit != 0 {
                if depth >= json::MAX_DEPTH {
                    return None;
                }
                let level = 1u128 << depth;
                stack = if curly { stack | level } else { stack & !level };
                depth += 1;
            } else {
                // depth ≥ 1 here: the first bracket seen is the one at `start`, and the walk
                // returns as soon as depth is back to 0.
                let d = depth.checked_sub(1)?;
                if (stack & (1u128 << d) != 0) != curly {
                    return None;
                }
                depth = d;
                if depth == 0 {
                    return Some(base + k as usize + 1);
                }
            }
            brackets &= brackets - 1;
        }
        base += BLOCK;
    }
    None
}

/// [`Cursor::value_unused`] with [`container_end`] for an object or array: skips whitespace,
/// then one value, and returns its raw text; the cursor is left after it. Same result and
/// same errors as [`Cursor::value_unused`] on every input.
///
/// # Errors
/// As [`Cursor::skip_unused`]: truncated or unbalanced value, unterminated string, empty
/// value, nesting deeper than [`json::MAX_DEPTH`].
#[inline]
pub(crate) fn value_span<'a>(c: &mut Cursor<'a>) -> Result<&'a [u8], DecodeError> {
    c.peek();
    let start = c.pos();
    let buf = c.buf();
    if super::fast_paths() {
        if let Some(end) = container_end(buf, start) {
            c.rewind(end);
            return Ok(buf.get(start..end).unwrap_or(&[]));
        }
    }
    Ok(c.value_unused()?)
}

/// [`Cursor::skip_unused`] with [`container_end`] for an object or array (scalars take
/// `skip_unused`'s inline paths). Same result and same errors on every input.
///
/// # Errors
/// As [`Cursor::skip_unused`].
#[inline(always)]
pub(crate) fn skip_value(c: &mut Cursor<'_>) -> Result<(), DecodeError> {
    let buf = c.buf();
    if super::fast_paths() && matches!(buf.get(c.pos()), Some(b'{' | b'[')) {
        if let Some(end) = container_end(buf, c.pos()) {
            c.rewind(end);
            return Ok(());
        }
    }
    Ok(c.skip_unused()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `skip_unused`'s answer for the value at `start`: `Ok(end)` or `Err(())`.
    fn general(buf: &[u8], start: usize) -> Result<usize, ()> {
        let mut c = Cursor::at(buf, start);
        c.skip_unused().map(|()| c.pos()).map_err(|_| ())
    }

    /// Checks `container_end` against `skip_unused` at every `{`/`[` of `buf`: where the fast
    /// walk answers, the general path gives the same end; where it declines on an input
    /// without backslashes (and not too deep), the general path fails too. Returns the number
    /// of containers the fast walk answered.
    fn pin(buf: &[u8]) -> usize {
        let mut answered = 0;
        for (i, &b) in buf.iter().enumerate() {
            if b != b'{' && b != b'[' {
                continue;
            }
            match container_end(buf, i) {
                Some(end) => {
                    assert_eq!(general(buf, i), Ok(end), "at {i} of {:?}", show(buf));
                    answered += 1;
                }
                None => {
                    if !buf.contains(&b'\\') {
                        assert!(
                            general(buf, i).is_err(),
                            "fast walk declined a valid container at {i} of {:?}",
                            show(buf)
                        );
                    }
                }
            }
            let mut c = Cursor::at(buf, i);
            let mut g = Cursor::at(buf, i);
            assert_eq!(
                value_span(&mut c).map(|s| (s, c.pos())),
                g.value_unused()
                    .map(|s| (s, g.pos()))
                    .map_err(DecodeError::from),
            );
        }
        answered
    }

    fn show(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    use crate::deribit::{
        for_each_damaged_copy, test_data_dir as data_dir, test_user_frames as user_frames,
    };

    /// Every recorded Deribit message file (JSON lines and pretty-printed JSON documents),
    /// each whole file as one buffer.
    fn message_files() -> Vec<Vec<u8>> {
        let dir = data_dir().join("deribit/messages");
        let mut out = Vec::new();
        for d in [dir.clone(), dir.join("nautilus")] {
            let rd = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
            for e in rd.flatten() {
                if e.path().is_file() {
                    out.push(std::fs::read(e.path()).expect("readable message file"));
                }
            }
        }
        out
    }

    #[test]
    fn agrees_with_skip_unused_on_real_frames() {
        let mut fs = user_frames();
        assert!(
            fs.len() >= 10,
            "user-channel capture has {} lines",
            fs.len()
        );
        let files = message_files();
        assert!(files.len() >= 8, "{} message files", files.len());
        fs.extend(files);
        let mut answered = 0;
        let mut longest = 0;
        for f in &fs {
            answered += pin(f);
            longest = longest.max(container_end(f, 0).unwrap_or(0));
        }
        // `pin` checked that on escape-free buffers the fast walk declines only what the
        // general path rejects; most containers are answered, some spanning several blocks.
        assert!(answered > 300, "fast walk answered {answered} containers");
        assert!(longest > 3 * BLOCK, "longest frame {longest} bytes");
    }

    #[test]
    fn agrees_with_skip_unused_on_truncated_and_damaged_frames() {
        for f in user_frames() {
            // Every prefix: the fast walk must never answer past the end or disagree.
            for n in (0..f.len()).step_by(7) {
                pin(&f[..n]);
            }
            // Every bracket, quote and comma changed into each of the others.
            for_each_damaged_copy(&f, |g| {
                pin(g);
            });
        }
    }

    #[test]
    fn escapes_depth_and_block_edges() {
        // A string across a block boundary holding brackets.
        let mut s = b"[{\"a\":\"".to_vec();
        s.extend(std::iter::repeat_n(b'}', 100));
        s.extend(b"\"},[]]");
        assert_eq!(container_end(&s, 0), Some(s.len()));
        pin(&s);
        // An escape: left to the general path, which still skips it.
        let e = br#"{"a":"x\"}","b":[1]} tail"#;
        assert_eq!(container_end(e, 0), None);
        let mut c = Cursor::new(e);
        assert_eq!(value_span(&mut c).unwrap(), &e[..20]);
        // Mismatched and unbalanced.
        for bad in [&b"{]"[..], b"[}", b"[[]", b"{\"a\":\"}", b"[1,2"] {
            assert_eq!(container_end(bad, 0), None, "{}", show(bad));
            assert!(general(bad, 0).is_err());
        }
        // Exactly MAX_DEPTH levels is fine, one more is not (both paths).
        let d = json::MAX_DEPTH;
        let ok: Vec<u8> = [vec![b'['; d], vec![b']'; d]].concat();
        assert_eq!(container_end(&ok, 0), Some(2 * d));
        assert_eq!(general(&ok, 0), Ok(2 * d));
        let deep: Vec<u8> = [vec![b'['; d + 1], vec![b']'; d + 1]].concat();
        assert_eq!(container_end(&deep, 0), None);
        assert!(general(&deep, 0).is_err());
        // Not a container.
        assert_eq!(container_end(b"\"x\"", 0), None);
        assert_eq!(container_end(b"", 0), None);
        assert_eq!(container_end(b"[]", 2), None);
    }
}
