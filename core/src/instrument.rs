//! Instrument metadata: tick grid, lot size, contract size, kind, option terms.
//!
//! Built once at startup (from Deribit `public/get_instruments`, a recorded `rest.capture`, or
//! derived from a tape) and then read-only. The hot path only reads the integer fields;
//! names and floats are for decoders, encoders and reports.
//!
//! Source of the rules: Deribit protocol dossier §6 (`tick_size_steps`: "the tick for a price p
//! is the `tick_size` of the last step with `above_price <= p`", `min_trade_amount`,
//! `contract_size`, units by kind).

use crate::decimal::Dec;
use crate::types::{InstrumentId, Lots, Ticks};
use std::collections::HashMap;

/// What is traded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Dated future (Deribit `kind: "future"` with a real expiry).
    Future,
    /// Perpetual swap (Deribit `kind: "future"`, `settlement_period: "perpetual"`).
    Perpetual,
    /// Option (Deribit `kind: "option"`), see [`OptionTerms`].
    Option,
    /// Spot pair.
    Spot,
}

/// Call or put.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionType {
    /// Right to buy.
    Call,
    /// Right to sell.
    Put,
}

/// Terms of an option.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OptionTerms {
    /// Strike in the index currency (USD for Deribit inverse options).
    pub strike: f64,
    /// Call or put.
    pub option_type: OptionType,
}

/// A coarser price grid above a price level (Deribit `tick_size_steps` element).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickStep {
    /// The step applies to prices `>=` this level, in base ticks.
    pub above: Ticks,
    /// Allowed price increment at and above `above`, in base ticks (≥ 1).
    pub step: Ticks,
}

/// One tradable instrument. Units: prices in ticks of `tick`, sizes in lots of `lot`.
#[derive(Clone, Debug)]
pub struct Instrument {
    /// Dense id (index into the [`InstrumentTable`]).
    pub id: InstrumentId,
    /// Venue name, e.g. `BTC-PERPETUAL`, `ETH-9APR21-1950-C`.
    pub name: String,
    /// Future, perpetual, option or spot.
    pub kind: Kind,
    /// Base currency (`BTC`, `ETH`).
    pub base_currency: String,
    /// Currency prices are quoted in (`USD` for inverse futures, `BTC`/`ETH` for inverse options).
    pub quote_currency: String,
    /// Currency PnL and fees settle in.
    pub settlement_currency: String,
    /// Base tick size (price of one tick).
    pub tick: Dec,
    /// Coarser grids above price levels, sorted by `above` ascending (empty for most).
    pub tick_steps: Vec<TickStep>,
    /// Amount of one lot (`min_trade_amount`): USD for inverse futures, coin for options.
    pub lot: Dec,
    /// Contract size (USD per contract for inverse futures, coin per contract for options).
    pub contract_size: Dec,
    /// Inverse (`reversed`) contract: amount in USD, PnL in coin.
    pub inverse: bool,
    /// Maker fee as a fraction of notional (negative = rebate).
    pub maker_fee: f64,
    /// Taker fee as a fraction of notional.
    pub taker_fee: f64,
    /// Expiry, ms since the Unix epoch (`None` for perpetuals and spot).
    pub expiry_ms: Option<u64>,
    /// Option terms for options.
    pub option: Option<OptionTerms>,
    /// Set when the instrument is a re-hosted recording of another venue (e.g. Binance
    /// BTCUSDT served as a Deribit-protocol perpetual); reports label it with this text.
    pub rehosted_from: Option<String>,
}

impl Instrument {
    /// A bare instrument with the given grid, for tests and derived-from-tape tables.
    /// Kind, currencies and fees get neutral defaults; refine the fields as needed.
    pub fn new(name: &str, kind: Kind, tick: Dec, lot: Dec) -> Instrument {
        let base = name.split(['-', '_']).next().unwrap_or("").to_string();
        Instrument {
            id: 0,
            name: name.to_string(),
            kind,
            base_currency: base.clone(),
            quote_currency: if kind == Kind::Option {
                base.clone()
            } else {
                "USD".into()
            },
            settlement_currency: base,
            tick,
            tick_steps: Vec::new(),
            lot,
            contract_size: lot,
            inverse: true,
            maker_fee: 0.0,
            taker_fee: 0.0,
            expiry_ms: None,
            option: None,
            rehosted_from: None,
        }
    }

    /// Price text or decimal → ticks, exactly. `None` if the price is not on the base grid.
    #[inline]
    pub fn ticks_exact(&self, price: Dec) -> Option<Ticks> {
        price.div_exact(self.tick)
    }

    /// Price → nearest tick (for prices computed off-grid, e.g. from floats).
    #[inline]
    pub fn ticks_round(&self, price: Dec) -> Option<Ticks> {
        price.div_round(self.tick)
    }

    /// Amount → lots, exactly. `None` if the amount is not a whole number of lots.
    #[inline]
    pub fn lots_exact(&self, amount: Dec) -> Option<Lots> {
        amount.div_exact(self.lot)
    }

    /// Amount → nearest lot.
    #[inline]
    pub fn lots_round(&self, amount: Dec) -> Option<Lots> {
        amount.div_round(self.lot)
    }

    /// The allowed price increment (in base ticks) at price `px` (`tick_size_steps` rule).
    #[inline]
    pub fn step_at(&self, px: Ticks) -> Ticks {
        let mut step = 1;
        for s in &self.tick_steps {
            if px >= s.above {
                step = s.step;
            } else {
                break;
            }
        }
        step
    }

    /// Rounds a bid price down (or an ask price up, with `up = true`) onto the allowed grid
    /// at that level.
    #[inline]
    pub fn round_to_grid(&self, px: Ticks, up: bool) -> Ticks {
        let step = self.step_at(px);
        if step <= 1 {
            return px;
        }
        let r = px.rem_euclid(step);
        if r == 0 {
            px
        } else if up {
            px + (step - r)
        } else {
            px - r
        }
    }

    /// Whether `px` lies on the allowed grid at its level.
    #[inline]
    pub fn on_grid(&self, px: Ticks) -> bool {
        px.rem_euclid(self.step_at(px)) == 0
    }

    /// Price in ticks → `f64` in quote currency (reports only).
    pub fn price_f64(&self, px: Ticks) -> f64 {
        // One rounding only: exact integer numerator over a power of ten.
        (px as i128 * self.tick.mant as i128) as f64
            / crate::decimal::POW10[self.tick.scale as usize] as f64
    }

    /// Size in lots → `f64` amount in the venue's amount unit (reports only).
    pub fn amount_f64(&self, lots: Lots) -> f64 {
        (lots as i128 * self.lot.mant as i128) as f64
            / crate::decimal::POW10[self.lot.scale as usize] as f64
    }

    /// Writes the exact price text of `px` ticks into `out`; returns the length.
    ///
    /// # Panics
    /// If `out` is shorter than 40 bytes.
    #[inline]
    pub fn write_price(&self, px: Ticks, out: &mut [u8]) -> usize {
        self.tick.write_times(px, out)
    }

    /// Writes the exact amount text of `lots` into `out`; returns the length.
    ///
    /// # Panics
    /// If `out` is shorter than 40 bytes.
    #[inline]
    pub fn write_amount(&self, lots: Lots, out: &mut [u8]) -> usize {
        self.lot.write_times(lots, out)
    }

    /// USD value of `lots` at price `px` ticks, given the underlying index in USD
    /// (for coin-priced options). Off the hot path (limits are precomputed from it).
    pub fn notional_usd(&self, lots: Lots, px: Ticks, index_usd: f64) -> f64 {
        let amount = self.amount_f64(lots).abs();
        match self.kind {
            Kind::Option => amount * index_usd,
            _ if self.inverse => amount,
            _ => amount * self.price_f64(px),
        }
    }
}

/// Errors building an instrument table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstrumentError {
    /// Two instruments share one name.
    Duplicate(String),
    /// A tick step is not a whole multiple of the base tick, or a size is not positive.
    BadGrid(String),
}

impl core::fmt::Display for InstrumentError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            InstrumentError::Duplicate(n) => write!(f, "instrument {n} listed twice"),
            InstrumentError::BadGrid(n) => write!(f, "instrument {n}: invalid tick/lot grid"),
        }
    }
}

impl std::error::Error for InstrumentError {}

/// The run's instruments, indexed densely by [`InstrumentId`], with a name index.
/// Allocates on construction, never after.
#[derive(Clone, Debug, Default)]
pub struct InstrumentTable {
    list: Vec<Instrument>,
    by_name: HashMap<String, InstrumentId>,
}

impl InstrumentTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an instrument, assigning the next dense id; returns the id.
    ///
    /// # Errors
    /// [`InstrumentError::Duplicate`] if the name is present; [`InstrumentError::BadGrid`] if
    /// the tick or lot is not positive or a tick step is below one tick.
    pub fn push(&mut self, mut inst: Instrument) -> Result<InstrumentId, InstrumentError> {
        if self.by_name.contains_key(&inst.name) {
            return Err(InstrumentError::Duplicate(inst.name));
        }
        if inst.tick.mant <= 0 || inst.lot.mant <= 0 || inst.tick_steps.iter().any(|s| s.step < 1) {
            return Err(InstrumentError::BadGrid(inst.name));
        }
        let id = self.list.len() as InstrumentId;
        inst.id = id;
        self.by_name.insert(inst.name.clone(), id);
        self.list.push(inst);
        Ok(id)
    }

    /// Id of the instrument with this venue name.
    #[inline]
    pub fn id(&self, name: &str) -> Option<InstrumentId> {
        self.by_name.get(name).copied()
    }

    /// The instrument with this id.
    ///
    /// # Panics
    /// If `id` is out of range (ids come from this table, so that is a bug).
    #[inline]
    pub fn get(&self, id: InstrumentId) -> &Instrument {
        &self.list[id as usize]
    }

    /// The instrument with this name.
    pub fn by_name(&self, name: &str) -> Option<&Instrument> {
        self.id(name).map(|i| self.get(i))
    }

    /// Number of instruments.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// All instruments in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Instrument> {
        self.list.iter()
    }

    /// Keeps only instruments for which `keep` is true, re-assigning dense ids.
    pub fn retain(&mut self, mut keep: impl FnMut(&Instrument) -> bool) {
        let old = std::mem::take(&mut self.list);
        self.by_name.clear();
        for i in old.into_iter().filter(|i| keep(i)) {
            let _ = self.push(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_steps_follow_deribit_rule() {
        // Doc example (dossier §6.2): base 0.0005, above 120 → 0.001, above 200 → 0.003.
        let mut i = Instrument::new("X", Kind::Option, Dec::new(5, 4), Dec::new(1, 1));
        i.tick_steps = vec![
            TickStep {
                above: 240_000,
                step: 2,
            },
            TickStep {
                above: 400_000,
                step: 6,
            },
        ];
        assert_eq!(i.step_at(100), 1);
        assert_eq!(i.step_at(240_000), 2);
        assert_eq!(i.step_at(400_001), 6);
        assert_eq!(i.round_to_grid(240_001, false), 240_000);
        assert_eq!(i.round_to_grid(240_001, true), 240_002);
        assert!(i.on_grid(400_002));
        assert!(!i.on_grid(400_001));
    }

    #[test]
    fn table_rejects_duplicates() {
        let mut t = InstrumentTable::new();
        let a = Instrument::new("A", Kind::Perpetual, Dec::new(5, 1), Dec::new(10, 0));
        assert_eq!(t.push(a.clone()), Ok(0));
        assert!(matches!(t.push(a), Err(InstrumentError::Duplicate(_))));
        assert_eq!(t.id("A"), Some(0));
    }
}
