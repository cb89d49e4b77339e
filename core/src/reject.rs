//! What the engine does about a venue error (protocol.md §7.2 "Codes a market maker must
//! handle"): the code → [`Reaction`] classification and the per-instrument state the
//! reactions leave behind ([`RejectGuard`]), applied by the engine's `ExecKind::Rejected`
//! arm and by `requote` (which asks [`RejectGuard::hold`] and [`RejectGuard::shape`]).
//!
//! Every reaction is a named, documented behaviour (see [`Reaction`]). Times are local
//! monotonic ns (the engine's `t_pop`). Nothing here allocates after construction.

use crate::quote::Ladder;
use crate::types::{Nanos, Side, Ticks};

/// How long a side stays unquoted after `10009 not_enough_funds` / `10039
/// not_enough_funds_in_currency` (ns): 5 s.
pub const FUNDS_COOL_OFF_NS: Nanos = 5_000_000_000;
/// How long all quoting pauses after `10041 settlement_in_progress` (ns): 3 s (Deribit's
/// daily settlement takes "a few seconds", dossier §7.2).
pub const SETTLEMENT_PAUSE_NS: Nanos = 3_000_000_000;
/// How long an instrument sends nothing new after a transient error (`10047`, `10040`,
/// `13028`, `11094`, `10066`) or an authorization error (`13009`, `10000`; the gateway
/// re-authenticates meanwhile), ns: 200 ms — a retry later, never a storm.
pub const TRANSIENT_BACKOFF_NS: Nanos = 200_000_000;
/// How long a price band learnt from `10005/10006/10007` clamps the quotes (ns): 10 s (the
/// band moves with the index; after this the next reject teaches the new one).
pub const BAND_TTL_NS: Nanos = 10_000_000_000;
/// Local reject code (not a venue code): the gateway answered the intent itself because the
/// order connection was down (`mm_venues::deribit::gateway::reject_while_down`); the request
/// never left. Reaction [`Reaction::NotPlaced`] — it must not count toward the unknown-code
/// burst, since a reconnect can answer many intents at once.
pub const NOT_CONNECTED: i32 = 90_001;
/// A burst of unknown error codes halts quoting: this many unknown codes …
pub const UNKNOWN_BURST: u32 = 10;
/// … within this window (ns): 1 s.
pub const UNKNOWN_BURST_WINDOW_NS: Nanos = 1_000_000_000;

/// The engine's reaction to a venue error code (dossier §7.2; names in
/// `mm_venues::deribit::errors`).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reaction {
    /// The order is no longer open (`10004 order_not_found`, `10010 already_closed`, `11008
    /// already_filled`, `11044 not_open_order`): forget it (the gateway flags it `qty = -1`);
    /// a fill, if any, arrives on `user.trades`.
    Terminal = 1,
    /// `11054 post_only_reject`, `13888 timed_out`: the order was not placed / not changed;
    /// re-price on the next book frame (no immediate retry).
    Reprice = 2,
    /// `13666 request_cancelled_by_user`: a cancel(-all) raced the request; the order was not
    /// placed. Nothing else to do. Also the local [`NOT_CONNECTED`] (the request never left).
    NotPlaced = 3,
    /// `10009 not_enough_funds`, `10039 not_enough_funds_in_currency`: stop quoting that side
    /// of that instrument for [`FUNDS_COOL_OFF_NS`] (its resting orders are cancelled, which
    /// frees margin); risk event `FundsCoolOff`.
    FundsCoolOff = 4,
    /// `10041 settlement_in_progress`: send nothing on any instrument for
    /// [`SETTLEMENT_PAUSE_NS`] (resting orders stay), then resume; risk event `Settlement`.
    SettlementPause = 5,
    /// `10005 price_too_low <limit>`, `10006 price_too_low4idx <limit>`, `10007
    /// price_too_high <limit>`: the gateway parses the limit (event `price`, ticks); every
    /// quote of the instrument is clamped into the band for [`BAND_TTL_NS`]; risk event
    /// `PriceBand`.
    PriceBand = 6,
    /// `10043 price_wrong_tick`, `10026 price_precision_exceeded`, `10002 qty_too_low`,
    /// `10027 non_integer_contract_amount`, `10021 invalid_amount`, `11055
    /// post_only_not_allowed`: a configuration bug (tick/amount rules): stop quoting that
    /// instrument for the rest of the run (orders cancelled); one risk event `ConfigReject`.
    ConfigBug = 7,
    /// `13009 unauthorized`, `10000 authorization_required`: the gateway re-authenticates on
    /// the same connection; the request is not retried blindly: the instrument backs off for
    /// [`TRANSIENT_BACKOFF_NS`] and re-quotes from its state.
    Reauth = 8,
    /// `10047 matching_engine_queue_full`, `10040 retry`, `13028 temporarily_unavailable`,
    /// `11094 internal_server_error`, `10066 too_many_concurrent_requests`: retry later —
    /// the instrument sends nothing new for [`TRANSIENT_BACKOFF_NS`].
    Transient = 9,
    /// `10028 too_many_requests`: the venue ends the session; the order is not placed and
    /// the `Disconnected` that follows forgets every order (cancel-on-disconnect).
    RateLimited = 10,
    /// Any other code: a New is treated as not placed, the code is counted (per code, by the
    /// gateway); [`UNKNOWN_BURST`] unknowns within [`UNKNOWN_BURST_WINDOW_NS`] halt quoting
    /// (`HaltCause::RejectBurst`).
    Unknown = 11,
}

impl Reaction {
    /// The reaction to venue error `code` (dossier §7.2 table).
    pub const fn of(code: i32) -> Reaction {
        match code {
            10004 | 10010 | 11008 | 11044 => Reaction::Terminal,
            11054 | 13888 => Reaction::Reprice,
            13666 | NOT_CONNECTED => Reaction::NotPlaced,
            10009 | 10039 => Reaction::FundsCoolOff,
            10041 => Reaction::SettlementPause,
            10005..=10007 => Reaction::PriceBand,
            10043 | 10026 | 10002 | 10027 | 10021 | 11055 => Reaction::ConfigBug,
            13009 | 10000 => Reaction::Reauth,
            10047 | 10040 | 13028 | 11094 | 10066 => Reaction::Transient,
            10028 => Reaction::RateLimited,
            _ => Reaction::Unknown,
        }
    }

    /// Stable lower-case name for logs and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Reaction::Terminal => "terminal",
            Reaction::Reprice => "reprice",
            Reaction::NotPlaced => "not_placed",
            Reaction::FundsCoolOff => "funds_cool_off",
            Reaction::SettlementPause => "settlement_pause",
            Reaction::PriceBand => "price_band",
            Reaction::ConfigBug => "config_bug",
            Reaction::Reauth => "reauth",
            Reaction::Transient => "transient_backoff",
            Reaction::RateLimited => "rate_limited",
            Reaction::Unknown => "unknown",
        }
    }
}

/// What the rejects of one instrument left behind.
#[derive(Clone, Copy, Debug)]
struct InstGuard {
    /// Per side (bid, ask): no quotes until this time (ns; 0 = none).
    side_until: [Nanos; 2],
    /// Nothing new on the instrument until this time (transient back-off).
    hold_until: Nanos,
    /// Price band learnt from rejects (ticks) and when it expires.
    band_lo: Ticks,
    band_hi: Ticks,
    band_until: Nanos,
    /// Quoting stopped for good (configuration bug).
    disabled: bool,
}

impl Default for InstGuard {
    fn default() -> Self {
        InstGuard {
            side_until: [0, 0],
            hold_until: 0,
            band_lo: Ticks::MIN,
            band_hi: Ticks::MAX,
            band_until: 0,
            disabled: false,
        }
    }
}

/// What a reject changed, for the engine to report (risk events) or act on (halt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing beyond the order bookkeeping.
    None,
    /// A side was stopped for the funds cool-off (`side`).
    SideStopped(Side),
    /// All quoting paused (settlement) until the time (ns).
    Paused(Nanos),
    /// A band limit was learnt: (low, high) ticks now in force.
    Band(Ticks, Ticks),
    /// The instrument was disabled (first time only).
    Disabled,
    /// The unknown-code burst threshold was reached: halt.
    Halt,
}

/// The state the reactions leave: per-instrument side stops, back-offs, bands and disables,
/// the global settlement pause and the unknown-code burst counter. Allocated once.
#[derive(Clone, Debug)]
pub struct RejectGuard {
    insts: Vec<InstGuard>,
    pause_until: Nanos,
    unknown_window_start: Nanos,
    unknown_in_window: u32,
    /// Unknown codes seen over the run.
    pub unknown: u64,
}

impl RejectGuard {
    /// A guard for `n` instruments, nothing in force.
    pub fn new(n: usize) -> RejectGuard {
        RejectGuard {
            insts: vec![InstGuard::default(); n],
            pause_until: 0,
            unknown_window_start: 0,
            unknown_in_window: 0,
            unknown: 0,
        }
    }

    /// Applies reject `code` of instrument `i` (`usize::MAX` = account-wide, e.g. a rejected
    /// cancel-all) on `side` at `now` (ns). `limit` is the band limit in ticks the gateway
    /// parsed from a `10005/10006/10007` message (0 = none).
    pub fn on_reject(
        &mut self,
        code: i32,
        i: usize,
        side: Side,
        limit: Ticks,
        now: Nanos,
    ) -> Outcome {
        let g = self.insts.get_mut(i);
        match (Reaction::of(code), g) {
            (Reaction::SettlementPause, _) => {
                self.pause_until = self.pause_until.max(now + SETTLEMENT_PAUSE_NS);
                Outcome::Paused(self.pause_until)
            }
            (Reaction::Unknown, _) => {
                self.unknown += 1;
                if now.saturating_sub(self.unknown_window_start) > UNKNOWN_BURST_WINDOW_NS
                    || self.unknown_in_window == 0
                {
                    self.unknown_window_start = now;
                    self.unknown_in_window = 0;
                }
                self.unknown_in_window += 1;
                if self.unknown_in_window >= UNKNOWN_BURST {
                    Outcome::Halt
                } else {
                    Outcome::None
                }
            }
            (Reaction::FundsCoolOff, Some(g)) => {
                g.side_until[side.idx()] = now + FUNDS_COOL_OFF_NS;
                Outcome::SideStopped(side)
            }
            (Reaction::PriceBand, Some(g)) if limit > 0 => {
                if g.band_until <= now {
                    g.band_lo = Ticks::MIN;
                    g.band_hi = Ticks::MAX;
                }
                if code == 10007 {
                    g.band_hi = limit;
                } else {
                    g.band_lo = limit;
                }
                g.band_until = now + BAND_TTL_NS;
                Outcome::Band(g.band_lo, g.band_hi)
            }
            (Reaction::ConfigBug, Some(g)) => {
                if g.disabled {
                    Outcome::None
                } else {
                    g.disabled = true;
                    Outcome::Disabled
                }
            }
            (Reaction::Transient | Reaction::Reauth, Some(g)) => {
                g.hold_until = g.hold_until.max(now + TRANSIENT_BACKOFF_NS);
                Outcome::None
            }
            _ => Outcome::None,
        }
    }

    /// Whether instrument `i` must send nothing new at `now` (settlement pause or transient
    /// back-off): the engine keeps its orders as they are and re-quotes later.
    #[inline]
    pub fn hold(&self, i: usize, now: Nanos) -> bool {
        now < self.pause_until || self.insts.get(i).is_some_and(|g| now < g.hold_until)
    }

    /// Whether quoting of instrument `i` is stopped for good (configuration bug).
    #[inline]
    pub fn disabled(&self, i: usize) -> bool {
        self.insts.get(i).is_some_and(|g| g.disabled)
    }

    /// Whether `side` of instrument `i` is in its funds cool-off at `now`.
    #[inline]
    pub fn side_stopped(&self, i: usize, side: Side, now: Nanos) -> bool {
        self.insts
            .get(i)
            .is_some_and(|g| now < g.side_until[side.idx()])
    }

    /// Applies the reactions to the targets of instrument `i` at `now`: a disabled instrument
    /// or a side in cool-off quotes no level (its orders are cancelled by the diff); prices
    /// are clamped into a learnt band (bids and asks alike).
    #[inline]
    pub fn shape(&self, i: usize, lad: &mut Ladder, now: Nanos) {
        let Some(g) = self.insts.get(i) else { return };
        if g.disabled {
            lad.n_bid = 0;
            lad.n_ask = 0;
            return;
        }
        if now < g.side_until[0] {
            lad.n_bid = 0;
        }
        if now < g.side_until[1] {
            lad.n_ask = 0;
        }
        if now < g.band_until {
            for p in lad.bid[..lad.n_bid].iter_mut() {
                *p = (*p).clamp(g.band_lo, g.band_hi.max(g.band_lo));
            }
            for p in lad.ask[..lad.n_ask].iter_mut() {
                *p = (*p).clamp(g.band_lo, g.band_hi.max(g.band_lo));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_dossier_codes() {
        assert_eq!(Reaction::of(11044), Reaction::Terminal);
        assert_eq!(Reaction::of(10009), Reaction::FundsCoolOff);
        assert_eq!(Reaction::of(10041), Reaction::SettlementPause);
        assert_eq!(Reaction::of(10006), Reaction::PriceBand);
        assert_eq!(Reaction::of(10043), Reaction::ConfigBug);
        assert_eq!(Reaction::of(13009), Reaction::Reauth);
        assert_eq!(Reaction::of(10047), Reaction::Transient);
        assert_eq!(Reaction::of(10028), Reaction::RateLimited);
        assert_eq!(Reaction::of(13666), Reaction::NotPlaced);
        assert_eq!(Reaction::of(99_999), Reaction::Unknown);
    }

    #[test]
    fn unknown_burst_halts_only_within_the_window() {
        let mut g = RejectGuard::new(1);
        // Spread out: never a burst.
        for k in 0..3 * UNKNOWN_BURST as u64 {
            let o = g.on_reject(77_777, 0, Side::Bid, 0, 1 + k * UNKNOWN_BURST_WINDOW_NS / 4);
            assert_eq!(o, Outcome::None, "{k}");
        }
        let mut g = RejectGuard::new(1);
        let t0 = 5 * UNKNOWN_BURST_WINDOW_NS;
        for k in 0..UNKNOWN_BURST - 1 {
            assert_eq!(
                g.on_reject(77_777, 0, Side::Bid, 0, t0 + k as u64),
                Outcome::None
            );
        }
        assert_eq!(
            g.on_reject(77_777, 0, Side::Bid, 0, t0 + 100),
            Outcome::Halt
        );
    }
}
