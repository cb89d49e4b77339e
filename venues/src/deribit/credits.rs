//! Deribit's rate limits as integer token buckets (protocol.md §8): the client-side budget
//! the gateway pays every request from, and the model the simulator enforces
//! (`crate::sim::credits`).
//!
//! Deribit (dossier §8, docs.deribit.com/articles/rate-limits): per sub-account buckets that
//! refill continuously up to a maximum; a request arriving when its bucket is empty gets
//! `10028 too_many_requests` **and the session is terminated**.
//! - Matching-engine requests (`private/buy|sell|edit|cancel|cancel_all*|mass_quote|…`):
//!   per tier (7-day volume), `rate` requests/s sustained and `burst` requests:
//!   tier 1 30/100, tier 2 20/50, tier 3 10/30, tier 4 5/20 ([`MeLimits::tier`]).
//! - `private/cancel_all`: its own bucket (`limits.matching_engine.cancel_all`; a real tier-4
//!   testnet account shows 5/s burst 20, the docs' default 200/s burst 250): here the tier's
//!   trading values unless configured.
//! - `private/mass_quote`: its own bucket (`limits.matching_engine.maximum_mass_quotes`;
//!   docs' default and a real testnet account: 10/s burst 10) ([`MASS_QUOTE_LIMITS`]).
//! - Non-matching-engine requests: 500 credits each, pool 50 000, refill 10 000 credits/s
//!   (20 req/s, burst 100) ([`NON_ME_COST`], [`NON_ME_POOL`], [`NON_ME_REFILL_PER_S`]).
//!
//! Units: a bucket holds nano-units (1e-9 of a request or of a credit) so that refill is exact
//! integer arithmetic: `rate` per s × elapsed ns = nano-units. Time is monotonic ns from the
//! caller's clock (the gateway's, or the simulator's). No allocation, no floats.

use std::fmt;
use std::str::FromStr;

/// Non-matching-engine cost per request, credits (dossier §8).
pub const NON_ME_COST: u64 = 500;
/// Non-matching-engine pool, credits.
pub const NON_ME_POOL: u64 = 50_000;
/// Non-matching-engine refill, credits per second.
pub const NON_ME_REFILL_PER_S: u64 = 10_000;
/// Mass-quote bucket unless the account says otherwise: 10 messages/s, burst 10 (dossier §8.1,
/// `maximum_mass_quotes`).
pub const MASS_QUOTE_LIMITS: MeLimits = MeLimits {
    rate: 10,
    burst: 10,
};
/// The default tier of mm-fast and of the simulator: 4, the smallest limits (safe anywhere).
pub const DEFAULT_TIER: u8 = 4;

const NANO: u64 = 1_000_000_000;

/// One leaky (token) bucket: `cap` units, refilled at `rate` units per second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Capacity, nano-units.
    cap: u64,
    /// Refill, units per second.
    rate: u64,
    /// Current level, nano-units.
    level: u64,
    /// Time of the last refill (ns; `u64::MAX` = never: starts full).
    last_ns: u64,
}

impl Bucket {
    /// A full bucket of `burst` units refilled at `rate` units per second.
    pub const fn new(rate: u64, burst: u64) -> Bucket {
        Bucket {
            cap: burst.saturating_mul(NANO),
            rate,
            level: burst.saturating_mul(NANO),
            last_ns: u64::MAX,
        }
    }

    #[inline]
    fn refill(&mut self, now_ns: u64) {
        if self.last_ns != u64::MAX && now_ns > self.last_ns {
            let add = (now_ns - self.last_ns).saturating_mul(self.rate);
            self.level = self.level.saturating_add(add).min(self.cap);
        }
        if self.last_ns == u64::MAX || now_ns > self.last_ns {
            self.last_ns = now_ns;
        }
    }

    /// Whether `cost` units are available at `now_ns` (refills first; takes nothing).
    #[inline]
    pub fn can_take(&mut self, cost: u64, now_ns: u64) -> bool {
        self.refill(now_ns);
        self.level >= cost.saturating_mul(NANO)
    }

    /// Takes `cost` units at `now_ns` if available; returns whether it did.
    #[inline]
    pub fn try_take(&mut self, cost: u64, now_ns: u64) -> bool {
        if self.can_take(cost, now_ns) {
            self.level -= cost.saturating_mul(NANO);
            true
        } else {
            false
        }
    }

    /// Takes `cost` units even if that empties the bucket below zero-equivalent (clamped at
    /// 0): for requests that must go (heartbeat answers), so later ones wait.
    #[inline]
    pub fn take_anyway(&mut self, cost: u64, now_ns: u64) {
        self.refill(now_ns);
        self.level = self.level.saturating_sub(cost.saturating_mul(NANO));
    }

    /// Nanoseconds until `cost` units are available (0 = now; `u64::MAX` = never: the cost
    /// exceeds the capacity or the rate is 0).
    pub fn wait_ns(&mut self, cost: u64, now_ns: u64) -> u64 {
        self.refill(now_ns);
        let need = cost.saturating_mul(NANO);
        if self.level >= need {
            0
        } else if need > self.cap || self.rate == 0 {
            u64::MAX
        } else {
            (need - self.level).div_ceil(self.rate)
        }
    }

    /// Units available at the last refill (whole units, rounded down).
    pub fn available(&self) -> u64 {
        self.level / NANO
    }

    /// `(rate per s, burst)`.
    pub fn limits(&self) -> (u64, u64) {
        (self.rate, self.cap / NANO)
    }
}

/// Matching-engine limits: sustained requests/s and burst (requests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeLimits {
    /// Sustained rate, requests per second.
    pub rate: u64,
    /// Burst, requests.
    pub burst: u64,
}

impl MeLimits {
    /// The limits of Deribit tier `tier` (1–4, dossier §8 table); `None` for another number.
    pub const fn tier(tier: u8) -> Option<MeLimits> {
        Some(match tier {
            1 => MeLimits {
                rate: 30,
                burst: 100,
            },
            2 => MeLimits {
                rate: 20,
                burst: 50,
            },
            3 => MeLimits {
                rate: 10,
                burst: 30,
            },
            4 => MeLimits { rate: 5, burst: 20 },
            _ => return None,
        })
    }
}

/// What a request is paid from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A matching-engine request (`private/buy|sell|edit|cancel|mass_quote|…`): 1 request of
    /// the trading bucket.
    Trading,
    /// `private/cancel_all` (and `cancel_all_by_kind_or_type` without currency): 1 request of
    /// the `cancel_all` bucket.
    CancelAll,
    /// `private/mass_quote`: 1 message of the mass-quote bucket (outside the trading bucket,
    /// dossier §8).
    MassQuote,
    /// Any other request: [`NON_ME_COST`] credits of the non-matching-engine pool.
    NonMatching,
}

/// The limits a budget is built from (rates per s, bursts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Matching-engine trading bucket.
    pub trading: MeLimits,
    /// `cancel_all` bucket.
    pub cancel_all: MeLimits,
    /// Mass-quote bucket (messages/s, burst).
    pub mass_quote: MeLimits,
    /// Non-matching-engine pool: `rate` credits/s, `burst` credits.
    pub non_matching: MeLimits,
}

impl RateLimits {
    /// Tier `tier` (1–4) with the default non-ME pool; `cancel_all` = the tier's trading
    /// limits.
    ///
    /// # Errors
    /// A tier outside 1–4.
    pub fn for_tier(tier: u8) -> Result<RateLimits, String> {
        let me = MeLimits::tier(tier)
            .ok_or_else(|| format!("rate tier {tier}: expected 1, 2, 3 or 4 (Deribit §8)"))?;
        Ok(RateLimits {
            trading: me,
            cancel_all: me,
            mass_quote: MASS_QUOTE_LIMITS,
            non_matching: MeLimits {
                rate: NON_ME_REFILL_PER_S,
                burst: NON_ME_POOL,
            },
        })
    }

    /// These limits with the trading bucket's rate and/or burst overridden (`--me-rate`,
    /// `--me-burst`).
    ///
    /// # Errors
    /// A zero rate or burst.
    pub fn with_me(mut self, rate: Option<u64>, burst: Option<u64>) -> Result<Self, String> {
        if rate == Some(0) || burst == Some(0) {
            return Err("--me-rate and --me-burst must be at least 1".into());
        }
        if let Some(r) = rate {
            self.trading.rate = r;
        }
        if let Some(b) = burst {
            self.trading.burst = b;
        }
        Ok(self)
    }

    /// The limits in a `private/get_account_summary` `result.limits` object (dossier §8.1):
    /// `matching_engine.trading.total` and `matching_engine.cancel_all` (requests/s and
    /// requests), `non_matching_engine` (requests/s and requests, converted to credits at
    /// [`NON_ME_COST`] each). Keys missing keep the values of `self`. With
    /// `limits_per_currency: true` the global `trading` is absent: the lowest
    /// per-currency `trading.total` is taken.
    ///
    /// # Errors
    /// Not a JSON object.
    pub fn from_account_limits(mut self, limits: &str) -> Result<Self, String> {
        let v: serde_json::Value =
            serde_json::from_str(limits).map_err(|e| format!("limits: {e}"))?;
        if !v.is_object() {
            return Err("limits: not a JSON object".into());
        }
        let pair = |x: &serde_json::Value| -> Option<MeLimits> {
            let rate = x.get("rate")?.as_u64()?;
            let burst = x.get("burst")?.as_u64()?;
            (rate > 0 && burst > 0).then_some(MeLimits { rate, burst })
        };
        let me = &v["matching_engine"];
        if let Some(t) = pair(&me["trading"]["total"]) {
            self.trading = t;
        } else if let Some(obj) = me.as_object() {
            let lowest = obj
                .values()
                .filter_map(|c| pair(&c["trading"]["total"]))
                .min_by_key(|l| (l.rate, l.burst));
            if let Some(l) = lowest {
                self.trading = l;
            }
        }
        if let Some(c) = pair(&me["cancel_all"]) {
            self.cancel_all = c;
        }
        if let Some(m) = pair(&me["maximum_mass_quotes"]) {
            self.mass_quote = m;
        }
        if let Some(n) = pair(&v["non_matching_engine"]) {
            self.non_matching = MeLimits {
                rate: n.rate * NON_ME_COST,
                burst: n.burst * NON_ME_COST,
            };
        }
        Ok(self)
    }
}

impl RateLimits {
    /// [`Self::from_account_limits`] of the `result.limits` of a `private/get_account_summary`
    /// reply frame.
    ///
    /// # Errors
    /// Not JSON, or no `result.limits` object.
    pub fn from_account_summary_reply(self, frame: &[u8]) -> Result<Self, String> {
        let v: serde_json::Value =
            serde_json::from_slice(frame).map_err(|e| format!("account summary: {e}"))?;
        let l = &v["result"]["limits"];
        if !l.is_object() {
            return Err("account summary: no result.limits".into());
        }
        self.from_account_limits(&l.to_string())
    }
}

impl fmt::Display for RateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "matching engine {}/s burst {}, cancel_all {}/s burst {}, mass_quote {}/s burst {}, \
             non-matching {} credits/s pool {}",
            self.trading.rate,
            self.trading.burst,
            self.cancel_all.rate,
            self.cancel_all.burst,
            self.mass_quote.rate,
            self.mass_quote.burst,
            self.non_matching.rate,
            self.non_matching.burst
        )
    }
}

/// `--rate-tier` values: `1`–`4`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tier(pub u8);

impl FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Tier, String> {
        match s.trim().parse::<u8>() {
            Ok(t @ 1..=4) => Ok(Tier(t)),
            _ => Err(format!(
                "rate tier {s:?}: expected 1, 2, 3 or 4 (Deribit §8: 30/20/10/5 req/s)"
            )),
        }
    }
}

/// The three buckets of one account (client side: one budget per order session).
///
/// The client keeps one request of headroom in the matching-engine buckets
/// ([`CreditBudget::HEADROOM`]): requests reach the venue with jitter, so a budget spent to
/// the last request could arrive early against the venue's own bucket.
#[derive(Clone, Copy, Debug)]
pub struct CreditBudget {
    trading: Bucket,
    cancel_all: Bucket,
    mass_quote: Bucket,
    non_matching: Bucket,
    limits: RateLimits,
    /// Requests refused by [`Self::try_take`] (the caller queued or dropped them).
    pub refused: u64,
}

impl CreditBudget {
    /// Requests of each matching-engine bucket the client never spends.
    pub const HEADROOM: u64 = 1;

    /// A full client budget for `limits` (burst minus [`Self::HEADROOM`], at least 1).
    pub fn client(limits: RateLimits) -> CreditBudget {
        let me = |l: MeLimits| Bucket::new(l.rate, l.burst.saturating_sub(Self::HEADROOM).max(1));
        CreditBudget {
            trading: me(limits.trading),
            cancel_all: me(limits.cancel_all),
            mass_quote: me(limits.mass_quote),
            non_matching: Bucket::new(limits.non_matching.rate, limits.non_matching.burst),
            limits,
            refused: 0,
        }
    }

    /// A full budget exactly at `limits` (the venue's side).
    pub fn venue(limits: RateLimits) -> CreditBudget {
        CreditBudget {
            trading: Bucket::new(limits.trading.rate, limits.trading.burst),
            cancel_all: Bucket::new(limits.cancel_all.rate, limits.cancel_all.burst),
            mass_quote: Bucket::new(limits.mass_quote.rate, limits.mass_quote.burst),
            non_matching: Bucket::new(limits.non_matching.rate, limits.non_matching.burst),
            limits,
            refused: 0,
        }
    }

    /// The limits this budget was built from.
    pub fn limits(&self) -> RateLimits {
        self.limits
    }

    fn bucket(&mut self, class: Class) -> (&mut Bucket, u64) {
        match class {
            Class::Trading => (&mut self.trading, 1),
            Class::CancelAll => (&mut self.cancel_all, 1),
            Class::MassQuote => (&mut self.mass_quote, 1),
            Class::NonMatching => (&mut self.non_matching, NON_ME_COST),
        }
    }

    /// Pays one request of `class` at `now_ns` (monotonic) if the bucket allows; returns
    /// whether it did (false: do not send it now). The call `massquote` and the gateway use.
    #[inline]
    pub fn try_take(&mut self, class: Class, now_ns: u64) -> bool {
        let (b, cost) = self.bucket(class);
        let ok = b.try_take(cost, now_ns);
        if !ok {
            self.refused += 1;
        }
        ok
    }

    /// Whether one request of `class` could be paid at `now_ns` (takes nothing).
    #[inline]
    pub fn can_take(&mut self, class: Class, now_ns: u64) -> bool {
        let (b, cost) = self.bucket(class);
        b.can_take(cost, now_ns)
    }

    /// Pays one request of `class` even when short (heartbeat answers, token refresh: they
    /// must go); later requests wait longer.
    #[inline]
    pub fn take_anyway(&mut self, class: Class, now_ns: u64) {
        let (b, cost) = self.bucket(class);
        b.take_anyway(cost, now_ns);
    }

    /// Nanoseconds until one request of `class` can be paid (0 = now).
    pub fn wait_ns(&mut self, class: Class, now_ns: u64) -> u64 {
        let (b, cost) = self.bucket(class);
        b.wait_ns(cost, now_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn bucket_bursts_then_refills_at_the_rate() {
        let mut b = Bucket::new(5, 20);
        let t0 = 1_000 * MS;
        for k in 0..20 {
            assert!(b.try_take(1, t0), "burst request {k}");
        }
        assert!(!b.try_take(1, t0), "21st in the same instant");
        // 5/s: one request every 200 ms.
        assert_eq!(b.wait_ns(1, t0), 200 * MS);
        assert!(!b.try_take(1, t0 + 199 * MS));
        assert!(b.try_take(1, t0 + 200 * MS));
        assert!(!b.try_take(1, t0 + 200 * MS));
        // A long pause refills to the burst, never above.
        let t1 = t0 + 3_600_000 * MS;
        assert_eq!(b.wait_ns(1, t1), 0);
        assert_eq!(b.available(), 20);
        let sent = (0..100).filter(|_| b.try_take(1, t1)).count();
        assert_eq!(sent, 20);
    }

    #[test]
    fn sustained_rate_over_ten_seconds() {
        // Requests offered every 10 ms for 10 s against tier 4 (5/s burst 20): 20 + 5·10
        // (±1 for the boundary) get through.
        let mut b = Bucket::new(5, 20);
        let ok = (0..1_000).filter(|k| b.try_take(1, k * 10 * MS)).count();
        assert!((69..=71).contains(&ok), "{ok}");
    }

    #[test]
    fn non_matching_pool_is_500_credits_a_request() {
        let mut c = CreditBudget::venue(RateLimits::for_tier(4).unwrap());
        let n = (0..1_000)
            .filter(|_| c.try_take(Class::NonMatching, 5))
            .count();
        assert_eq!(n, 100, "burst 50 000 / 500");
        // 10 000 credits/s: 50 ms restores 500 credits (the dossier's worked example).
        assert!(!c.try_take(Class::NonMatching, 5 + 49 * MS));
        assert!(c.try_take(Class::NonMatching, 5 + 50 * MS));
    }

    #[test]
    fn client_keeps_headroom_and_classes_are_separate() {
        let mut c = CreditBudget::client(RateLimits::for_tier(4).unwrap());
        let n = (0..100).filter(|_| c.try_take(Class::Trading, 0)).count();
        assert_eq!(n, 19);
        assert_eq!(c.refused, 81);
        // The cancel_all and mass-quote buckets are their own (mass quotes: 10 − 1 headroom).
        assert!(c.try_take(Class::CancelAll, 0));
        let mq = (0..20).filter(|_| c.try_take(Class::MassQuote, 0)).count();
        assert_eq!(mq, 9);
    }

    #[test]
    fn tiers_and_overrides() {
        assert_eq!(
            MeLimits::tier(1),
            Some(MeLimits {
                rate: 30,
                burst: 100
            })
        );
        assert_eq!(
            MeLimits::tier(3),
            Some(MeLimits {
                rate: 10,
                burst: 30
            })
        );
        assert!(RateLimits::for_tier(5).is_err());
        assert!("0".parse::<Tier>().is_err());
        assert_eq!("2".parse::<Tier>(), Ok(Tier(2)));
        let l = RateLimits::for_tier(4)
            .unwrap()
            .with_me(Some(50), None)
            .unwrap();
        assert_eq!(
            l.trading,
            MeLimits {
                rate: 50,
                burst: 20
            }
        );
        assert!(RateLimits::for_tier(4)
            .unwrap()
            .with_me(Some(0), None)
            .is_err());
    }

    #[test]
    fn reads_the_limits_of_a_summary_reply() {
        let f = br#"{"jsonrpc":"2.0","id":5,"result":{"currency":"BTC","limits":{"matching_engine":{"trading":{"total":{"rate":20,"burst":50}}},"non_matching_engine":{"rate":20,"burst":100}}}}"#;
        let l = RateLimits::for_tier(4)
            .unwrap()
            .from_account_summary_reply(f)
            .unwrap();
        assert_eq!(
            l.trading,
            MeLimits {
                rate: 20,
                burst: 50
            }
        );
        assert!(RateLimits::for_tier(4)
            .unwrap()
            .from_account_summary_reply(br#"{"result":{}}"#)
            .is_err());
    }

    #[test]
    fn reads_account_summary_limits() {
        // The real testnet account of dossier §8.1.
        let real = r#"{"matching_engine":{"block_rfq_maker":{"rate":10,"burst":20},"cancel_all":{"rate":5,"burst":20},"guaranteed_mass_quotes":{"rate":2,"burst":2},"maximum_mass_quotes":{"rate":10,"burst":10},"maximum_quotes":{"rate":500,"burst":500},"spot":{"rate":5,"burst":20},"trading":{"total":{"rate":5,"burst":20}}},"limits_per_currency":false,"non_matching_engine":{"rate":20,"burst":100}}"#;
        let l = RateLimits::for_tier(1)
            .unwrap()
            .from_account_limits(real)
            .unwrap();
        assert_eq!(l.trading, MeLimits { rate: 5, burst: 20 });
        assert_eq!(l.cancel_all, MeLimits { rate: 5, burst: 20 });
        assert_eq!(
            l.mass_quote,
            MeLimits {
                rate: 10,
                burst: 10
            }
        );
        assert_eq!(
            l.non_matching,
            MeLimits {
                rate: 10_000,
                burst: 50_000
            }
        );
        // The docs' default example: cancel_all 200/250.
        let doc = r#"{"non_matching_engine":{"burst":1500,"rate":1000},"limits_per_currency":false,"matching_engine":{"trading":{"total":{"burst":20,"rate":5}},"cancel_all":{"burst":250,"rate":200}}}"#;
        let l = RateLimits::for_tier(4)
            .unwrap()
            .from_account_limits(doc)
            .unwrap();
        assert_eq!(
            l.cancel_all,
            MeLimits {
                rate: 200,
                burst: 250
            }
        );
        // Per currency: the lowest trading limit.
        let per = r#"{"limits_per_currency":true,"matching_engine":{"btc":{"trading":{"total":{"rate":20,"burst":50}}},"eth":{"trading":{"total":{"rate":10,"burst":30}}}}}"#;
        let l = RateLimits::for_tier(1)
            .unwrap()
            .from_account_limits(per)
            .unwrap();
        assert_eq!(
            l.trading,
            MeLimits {
                rate: 10,
                burst: 30
            }
        );
        assert!(RateLimits::for_tier(4)
            .unwrap()
            .from_account_limits("[1]")
            .is_err());
    }
}
