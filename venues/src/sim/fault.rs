//! Faults the simulator injects on demand, and their command-line syntax
//! (`--sim-fault` on `mm-fast --venue sim` and `mm-sim`):
//!
//! ```text
//! KIND@SECONDS      KIND ∈ disconnect | gap | malformed | rate-limit | restart
//!                   SECONDS = tape time from the tape's first event (≥ 0, decimals allowed)
//! reject-rate=P     reject that fraction (0 ≤ P ≤ 1) of order requests (seeded, deterministic)
//! reject-code=CODE[:P]  reject that fraction (default 1) of order requests with error CODE
//! ack-delay-ms=N    delay every reply to an order request by N ms
//! ```
//!
//! What each does (Deribit behaviour per the protocol dossier where one exists):
//! - `disconnect`: every connection is dropped once (TCP closed without a close frame);
//!   cancel-on-disconnect runs for the connections that enabled it (§3.2);
//! - `gap`: the first book change at or after the time is not sent (the chain breaks);
//! - `malformed`: one truncated, unparseable frame is sent on every market-data connection;
//! - `rate-limit`: the next order request gets error `10028 too_many_requests` and its
//!   connection is then closed (§7.2, §8: "the server also terminates the session");
//! - `restart`: a venue restart: every connection is dropped and every resting order is
//!   cancelled (cancel-on-disconnect or not);
//! - `reject-rate=P`: each order request (`private/buy|sell|edit`) is rejected with
//!   `10047 matching_engine_queue_full` with probability P (a splitmix64 stream seeded by
//!   [`super::SimConfig::seed`]);
//! - `reject-code=CODE[:P]`: each order request (`private/buy|sell|edit`) is rejected with
//!   error CODE with probability P (default 1; same seeded stream as `reject-rate`). The
//!   message is Deribit's name of the code (`mm_venues::deribit::errors::ERRORS`;
//!   `unknown_error` for a code not there); for the price-band codes `10005`/`10006`/`10007`
//!   it carries the limit as Deribit does (`"price_too_high <limit>"`, the limit being the
//!   request's own price). `10028` also closes the connection, like `rate-limit`. Used to
//!   exercise the error reactions end to end (README "Error codes");
//! - `ack-delay-ms=N`: every reply to an order request (and the notifications it causes) is
//!   held N ms before it is sent.

use std::fmt;
use std::str::FromStr;

/// A fault to inject. Parse one with [`str::parse`] (syntax in the module docs).
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Drop (do not send) the first book **change** at or after this tape time (seconds from
    /// the tape's first event). The simulator's own book still applies it, so the chain breaks
    /// for that instrument: the client's next `prev_change_id` check fails, it resubscribes,
    /// and the snapshot it then gets (with `change_id` = the dropped change's id) lets the
    /// recorded chain continue.
    Gap {
        /// Tape time, seconds from tape start.
        at_secs: f64,
    },
    /// Drop every connection once at this tape time (seconds from tape start).
    Disconnect {
        /// Tape time, seconds from tape start.
        at_secs: f64,
    },
    /// Send one truncated frame on every market-data connection at this tape time.
    Malformed {
        /// Tape time, seconds from tape start.
        at_secs: f64,
    },
    /// From this tape time, answer the next order request with `10028 too_many_requests` and
    /// close its connection.
    RateLimit {
        /// Tape time, seconds from tape start.
        at_secs: f64,
    },
    /// Venue restart at this tape time: drop every connection, cancel every resting order.
    Restart {
        /// Tape time, seconds from tape start.
        at_secs: f64,
    },
    /// Reject this fraction (0–1) of order requests with `10047`.
    RejectRate(f64),
    /// Reject this fraction (0–1) of order requests with this error code.
    RejectCode {
        /// Deribit error code to answer (e.g. 10009, 10041, 13666).
        code: i32,
        /// Probability per order request.
        p: f64,
    },
    /// Delay every order reply by this many milliseconds.
    AckDelayMs(u64),
}

/// The accepted syntax, for error messages.
pub const FAULT_SYNTAX: &str = "expected KIND@SECONDS with KIND one of disconnect, gap, \
     malformed, rate-limit, restart and SECONDS the tape time from the start (a number >= 0), \
     or reject-rate=P (0 <= P <= 1), or reject-code=CODE[:P] (an integer error code, \
     optional probability 0 <= P <= 1, default 1), or ack-delay-ms=N (an integer)";

/// The kinds with a time, in the order of [`Fault::kind`] names.
pub const TIMED_KINDS: [&str; 5] = ["disconnect", "gap", "malformed", "rate-limit", "restart"];

impl Fault {
    /// The kind's name as written on the command line (and in `faults_injected`):
    /// `disconnect`, `gap`, `malformed`, `rate-limit`, `restart`, `reject-rate`,
    /// `reject-code`, `ack-delay-ms`.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Gap { .. } => "gap",
            Fault::Disconnect { .. } => "disconnect",
            Fault::Malformed { .. } => "malformed",
            Fault::RateLimit { .. } => "rate-limit",
            Fault::Restart { .. } => "restart",
            Fault::RejectRate(_) => "reject-rate",
            Fault::RejectCode { .. } => "reject-code",
            Fault::AckDelayMs(_) => "ack-delay-ms",
        }
    }

    /// The tape time (seconds from the start) of a timed fault.
    pub fn at_secs(&self) -> Option<f64> {
        match *self {
            Fault::Gap { at_secs }
            | Fault::Disconnect { at_secs }
            | Fault::Malformed { at_secs }
            | Fault::RateLimit { at_secs }
            | Fault::Restart { at_secs } => Some(at_secs),
            _ => None,
        }
    }
}

impl FromStr for Fault {
    type Err = String;

    /// Parses the syntax of the module docs.
    ///
    /// # Errors
    /// Anything else: a message quoting the input and the accepted syntax ([`FAULT_SYNTAX`]).
    fn from_str(s: &str) -> Result<Fault, String> {
        let t = s.trim();
        let bad = |why: &str| format!("bad fault {s:?}: {why}; {FAULT_SYNTAX}");
        if let Some((k, v)) = t.split_once('=') {
            return match k.trim() {
                "reject-rate" => match v.trim().parse::<f64>() {
                    Ok(p) if (0.0..=1.0).contains(&p) => Ok(Fault::RejectRate(p)),
                    _ => Err(bad("reject-rate needs a probability between 0 and 1")),
                },
                "reject-code" => {
                    let (c, p) = match v.split_once(':') {
                        Some((c, p)) => (c, Some(p)),
                        None => (v, None),
                    };
                    let code = c
                        .trim()
                        .parse::<i32>()
                        .map_err(|_| bad("reject-code needs an integer error code"))?;
                    let p = match p.map(|p| p.trim().parse::<f64>()) {
                        None => 1.0,
                        Some(Ok(p)) if (0.0..=1.0).contains(&p) => p,
                        Some(_) => {
                            return Err(bad(
                                "reject-code's P must be a probability between 0 and 1",
                            ))
                        }
                    };
                    Ok(Fault::RejectCode { code, p })
                }
                "ack-delay-ms" => match v.trim().parse::<u64>() {
                    Ok(n) if n <= 600_000 => Ok(Fault::AckDelayMs(n)),
                    _ => Err(bad(
                        "ack-delay-ms needs an integer number of ms (<= 600000)",
                    )),
                },
                other => Err(bad(&format!("unknown setting {other:?}"))),
            };
        }
        let Some((k, at)) = t.split_once('@') else {
            return Err(bad("no @SECONDS"));
        };
        if !TIMED_KINDS.contains(&k.trim()) {
            return Err(bad(&format!("unknown kind {:?}", k.trim())));
        }
        let at_secs = match at.trim().parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => x,
            _ => return Err(bad(&format!("{at:?} is not a number of seconds >= 0"))),
        };
        Ok(match k.trim() {
            "disconnect" => Fault::Disconnect { at_secs },
            "gap" => Fault::Gap { at_secs },
            "malformed" => Fault::Malformed { at_secs },
            "rate-limit" => Fault::RateLimit { at_secs },
            "restart" => Fault::Restart { at_secs },
            other => return Err(bad(&format!("unknown kind {other:?}"))),
        })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::RejectRate(p) => write!(f, "reject-rate={p}"),
            Fault::RejectCode { code, p } => write!(f, "reject-code={code}:{p}"),
            Fault::AckDelayMs(n) => write!(f, "ack-delay-ms={n}"),
            other => write!(f, "{}@{}", other.kind(), other.at_secs().unwrap_or(0.0)),
        }
    }
}

/// A deterministic splitmix64 stream (reject-rate draws).
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A stream from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// The next value, uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        assert_eq!(
            "disconnect@5".parse(),
            Ok(Fault::Disconnect { at_secs: 5.0 })
        );
        assert_eq!("gap@0.5".parse(), Ok(Fault::Gap { at_secs: 0.5 }));
        assert_eq!("malformed@1".parse(), Ok(Fault::Malformed { at_secs: 1.0 }));
        assert_eq!(
            "rate-limit@2".parse(),
            Ok(Fault::RateLimit { at_secs: 2.0 })
        );
        assert_eq!("restart@3".parse(), Ok(Fault::Restart { at_secs: 3.0 }));
        assert_eq!("reject-rate=0.25".parse(), Ok(Fault::RejectRate(0.25)));
        assert_eq!("ack-delay-ms=40".parse(), Ok(Fault::AckDelayMs(40)));
        assert_eq!(
            "reject-code=10009".parse(),
            Ok(Fault::RejectCode {
                code: 10009,
                p: 1.0
            })
        );
        assert_eq!(
            "reject-code=13666:0.1".parse(),
            Ok(Fault::RejectCode {
                code: 13666,
                p: 0.1
            })
        );
        for f in [
            "restart@3",
            "reject-rate=0.25",
            "ack-delay-ms=40",
            "reject-code=10041:0.5",
        ] {
            assert_eq!(f.parse::<Fault>().unwrap().to_string(), f);
        }
    }

    #[test]
    fn parse_errors_name_the_syntax() {
        assert!("foo@x"
            .parse::<Fault>()
            .unwrap_err()
            .contains("unknown kind \"foo\""));
        for bad in [
            "foo@x",
            "foo@1",
            "gap@x",
            "gap@-1",
            "gap",
            "reject-rate=2",
            "reject-rate=x",
            "reject-code=x",
            "reject-code=10009:2",
            "reject-code=",
            "ack-delay-ms=1.5",
            "speed=3",
            "",
        ] {
            let e = bad.parse::<Fault>().unwrap_err();
            assert!(e.contains(FAULT_SYNTAX), "{bad}: {e}");
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }

    #[test]
    fn splitmix_is_deterministic_and_uniform() {
        let mut a = SplitMix::new(7);
        let mut b = SplitMix::new(7);
        let xs: Vec<f64> = (0..10_000).map(|_| a.next_f64()).collect();
        assert!(xs
            .iter()
            .all(|&x| x == b.next_f64() && (0.0..1.0).contains(&x)));
        let below = xs.iter().filter(|&&x| x < 0.25).count();
        assert!((2_300..2_700).contains(&below), "{below}");
    }
}
