//! `--quote-mode` and the `--mmp*` flags → the order session's [`QuotingOpts`]
//! (README "Mass quotes and MMP").

use crate::cli::{Args, QuoteModeArg};
use mm_core::decimal::Dec;
use mm_venues::deribit::gateway::QuotingOpts;
use mm_venues::deribit::mass_quote::MassQuoteOpts;
use mm_venues::deribit::mmp::MmpOpts;

/// The quoting options of the flags.
///
/// # Errors
/// A combination the venue or the mass-quote mode cannot honour, naming the flag:
/// `--quote-mode mass-quote` with `--levels` > 1 (one quote per side per instrument per MMP
/// group), MMP without `--mmp-qty-limit`, limits that are not positive, a delta limit not
/// below the quantity limit, `--mmp-interval-secs 0`, an MMP group name that is empty or
/// longer than 64 characters.
pub fn quoting_opts(args: &Args) -> Result<QuotingOpts, String> {
    let mass = args.quote_mode == QuoteModeArg::MassQuote;
    if mass && args.levels > 1 {
        return Err(format!(
            "--quote-mode mass-quote quotes one level (Deribit keeps one quote per side per \
             instrument per MMP group): use --levels 1, not {}",
            args.levels
        ));
    }
    if !mass && !args.mmp {
        return Ok(QuotingOpts::default());
    }
    let who = if mass {
        "--quote-mode mass-quote"
    } else {
        "--mmp"
    };
    let coin = |v: Option<f64>, flag: &str| -> Result<Option<Dec>, String> {
        match v {
            None => Ok(None),
            Some(x) if x > 0.0 && x.is_finite() => Dec::from_f64(x, 8)
                .filter(|d| d.mant > 0)
                .map(Some)
                .ok_or_else(|| format!("{flag} {x}: not a decimal with ≤ 8 places")),
            Some(x) => Err(format!("{flag} must be > 0, not {x}")),
        }
    };
    let qty = coin(args.mmp_qty_limit, "--mmp-qty-limit")?
        .ok_or_else(|| format!("{who} needs --mmp-qty-limit (MMP quantity per window, coin)"))?;
    let delta = coin(args.mmp_delta_limit, "--mmp-delta-limit")?;
    if let Some(d) = delta {
        if d.to_f64() >= qty.to_f64() {
            return Err("--mmp-delta-limit must be below --mmp-qty-limit".into());
        }
    }
    if args.mmp_interval_secs == 0 {
        return Err("--mmp-interval-secs must be ≥ 1 (0 removes MMP on the venue)".into());
    }
    let group = args.mmp_group.trim();
    if mass && (group.is_empty() || group.len() > 64) {
        return Err("--mmp-group must have 1 to 64 characters".into());
    }
    Ok(QuotingOpts {
        mass_quote: mass.then(|| MassQuoteOpts {
            mmp_group: group.to_string(),
            quote_set_id: group.to_string(),
            valid_ms: args.quote_valid_ms,
        }),
        mmp: Some(MmpOpts {
            group: mass.then(|| group.to_string()),
            interval_s: args.mmp_interval_secs,
            frozen_s: args.mmp_frozen_secs,
            qty_limit: Some(qty),
            delta_limit: delta,
            auto_reset_s: args.mmp_auto_reset_secs,
        }),
    })
}
