//! The simulator's rate limiter (protocol.md §8, §10 item 5): Deribit's credit model enforced
//! per account, with the same buckets as the client's budget
//! ([`crate::deribit::credits::CreditBudget::venue`], no headroom).
//!
//! - Matching-engine methods ([`is_matching_engine`]): 1 request of the account's trading
//!   bucket; `private/cancel_all` (and `cancel_all_by_kind_or_type`): its `cancel_all`
//!   bucket; `private/mass_quote`: its mass-quote bucket.
//! - Every other private method: 500 credits of the non-matching-engine pool (the special
//!   costs of `get_instruments`/`subscribe` are not modelled: they are public or sent once).
//! - Public methods of unauthenticated connections are limited per IP at Deribit: not
//!   modelled.
//!
//! On exhaustion the exchange answers `10028 too_many_requests` and closes the connection
//! (cancel-on-disconnect runs), as Deribit "terminates the session". Time is the server's
//! monotonic clock (ns since the limiter was made): the client pays from its own clock, and
//! both refill at the same rate in real time whatever the replay speed.

use crate::deribit::credits::{Class, CreditBudget, RateLimits};
use std::collections::HashMap;
use std::time::Instant;

/// Whether `method` is a matching-engine request (dossier §8 list).
pub fn is_matching_engine(method: &str) -> bool {
    matches!(
        method,
        "private/buy"
            | "private/sell"
            | "private/edit"
            | "private/edit_by_label"
            | "private/cancel"
            | "private/cancel_by_label"
            | "private/cancel_all"
            | "private/cancel_all_by_instrument"
            | "private/cancel_all_by_currency"
            | "private/cancel_all_by_kind_or_type"
            | "private/close_position"
            | "private/mass_quote"
            | "private/cancel_quotes"
            | "private/move_positions"
    )
}

/// The bucket a private `method` is paid from.
pub fn class_of(method: &str) -> Class {
    match method {
        "private/cancel_all" | "private/cancel_all_by_kind_or_type" => Class::CancelAll,
        "private/mass_quote" => Class::MassQuote,
        m if is_matching_engine(m) => Class::Trading,
        _ => Class::NonMatching,
    }
}

/// Per-account buckets (see the module docs); `None` limits = no limiting.
pub struct SimCredits {
    limits: Option<RateLimits>,
    accounts: HashMap<String, CreditBudget>,
    t0: Instant,
}

impl SimCredits {
    /// A limiter for `limits` (`None` = off: the in-process lockstep harness, whose requests
    /// all arrive at the same wall instant).
    pub fn new(limits: Option<RateLimits>) -> SimCredits {
        SimCredits {
            limits,
            accounts: HashMap::new(),
            t0: Instant::now(),
        }
    }

    /// The limits enforced (`None` = off).
    pub fn limits(&self) -> Option<RateLimits> {
        self.limits
    }

    /// Pays private request `method` of `account` now; false = the account's bucket is empty
    /// (answer `10028` and close the connection).
    pub fn pay(&mut self, account: &str, method: &str) -> bool {
        let now = self.t0.elapsed().as_nanos() as u64;
        self.pay_at(account, method, now)
    }

    /// [`Self::pay`] at `now_ns` (ns since the limiter was made).
    pub fn pay_at(&mut self, account: &str, method: &str, now_ns: u64) -> bool {
        let Some(limits) = self.limits else {
            return true;
        };
        let b = match self.accounts.get_mut(account) {
            Some(b) => b,
            None => self
                .accounts
                .entry(account.to_string())
                .or_insert_with(|| CreditBudget::venue(limits)),
        };
        b.try_take(class_of(method), now_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_account_tier_buckets() {
        let mut c = SimCredits::new(Some(RateLimits::for_tier(4).unwrap()));
        let ok = (0..25).filter(|_| c.pay_at("a", "private/buy", 0)).count();
        assert_eq!(ok, 20, "tier 4 burst");
        // Another account has its own bucket; cancel_all its own too.
        assert!(c.pay_at("b", "private/edit", 0));
        assert!(c.pay_at("a", "private/cancel_all", 0));
        // Non-ME private requests are paid from the credit pool.
        assert!(c.pay_at("a", "private/get_positions", 0));
        // 5/s: 200 ms later one more.
        assert!(c.pay_at("a", "private/cancel", 200_000_000));
        assert!(!c.pay_at("a", "private/cancel", 200_000_000));
        let mut off = SimCredits::new(None);
        assert!((0..1000).all(|_| off.pay_at("a", "private/buy", 0)));
    }

    #[test]
    fn classes() {
        assert_eq!(class_of("private/buy"), Class::Trading);
        assert_eq!(class_of("private/cancel_all"), Class::CancelAll);
        assert_eq!(
            class_of("private/get_open_orders_by_currency"),
            Class::NonMatching
        );
    }
}
