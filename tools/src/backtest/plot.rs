//! The backtest's outputs: `pnl.csv` and three PNG plots (plotters, bitmap backend, the
//! embedded DejaVu font as in `mm-latency plot`: no system font needed).
//!
//! - `equity.png`: marked PnL (realized + unrealized − fees) and realized PnL over time;
//! - `position.png`: position of the first instrument over time;
//! - `quotes.png`: our best bid and ask against the mid over time.

use super::Sample;
use std::fmt::Write as _;
use std::path::Path;

/// Writes the series as CSV: `t_s,mid,position,bid,ask,realized,fees,marked_pnl,equity`
/// (empty cells where a value is undefined, e.g. no quote).
///
/// # Errors
/// The file cannot be written.
pub fn write_csv(path: &Path, samples: &[Sample]) -> Result<(), String> {
    let mut s = String::from("t_s,mid,position,bid,ask,realized,fees,marked_pnl,equity\n");
    let f = |v: f64| {
        if v.is_finite() {
            format!("{v}")
        } else {
            String::new()
        }
    };
    for x in samples {
        let _ = writeln!(
            s,
            "{:.3},{},{},{},{},{},{},{},{}",
            x.t_s,
            f(x.mid),
            f(x.position),
            f(x.bid),
            f(x.ask),
            f(x.realized),
            f(x.fees),
            f(x.marked_pnl),
            f(x.equity)
        );
    }
    std::fs::write(path, s).map_err(|e| format!("write {}: {e}", path.display()))
}

/// One line of a plot: segments of consecutive defined points (a gap, e.g. no quote on a
/// side, breaks the line instead of bridging it).
struct Line<'a> {
    name: &'a str,
    pts: Vec<Vec<(f64, f64)>>,
    color: plotters::style::RGBColor,
}

fn chart(path: &Path, title: &str, y_desc: &str, lines: &[Line<'_>]) -> Result<(), String> {
    use plotters::prelude::*;
    let err = |e: &dyn std::fmt::Display| format!("plot {}: {e}", path.display());
    let all = || lines.iter().flat_map(|l| l.pts.iter().flatten());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all() {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, -1.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-9 + y1.abs() * 1e-6);
    let (y0, y1) = (y0 - pad, y1 + pad);
    let root = BitMapBackend::new(path, (1200, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut c = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(14)
        .margin_right(30)
        .x_label_area_size(44)
        .y_label_area_size(90)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| err(&e))?;
    c.configure_mesh()
        .x_desc("tape time (s since start)")
        .y_desc(y_desc)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| err(&e))?;
    for l in lines {
        let color = l.color;
        for (k, seg) in l.pts.iter().enumerate() {
            let drawn = c
                .draw_series(LineSeries::new(seg.iter().copied(), color.stroke_width(2)))
                .map_err(|e| err(&e))?;
            if k == 0 {
                drawn.label(l.name).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
                });
            }
        }
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

/// Segments of points `(t, f(sample))` where `f` is finite, split where it is not.
fn pts(samples: &[Sample], f: impl Fn(&Sample) -> f64) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for s in samples {
        let v = f(s);
        if v.is_finite() {
            if let Some(seg) = out.last_mut() {
                seg.push((s.t_s, v));
            }
        } else if out.last().is_some_and(|seg| !seg.is_empty()) {
            out.push(Vec::new());
        }
    }
    out.retain(|seg| !seg.is_empty());
    out
}

/// Writes `equity.png`, `position.png` and `quotes.png` into `dir`; `instrument` names the
/// first instrument (the one the position and quotes belong to).
///
/// # Errors
/// The embedded font does not load, or a file cannot be written.
pub fn plots(dir: &Path, samples: &[Sample], instrument: &str) -> Result<(), String> {
    use plotters::style::{register_font, FontStyle, RGBColor};
    register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| "the embedded font did not load".to_string())?;
    let blue = RGBColor(31, 119, 180);
    let orange = RGBColor(255, 127, 14);
    let green = RGBColor(44, 160, 44);
    let red = RGBColor(214, 39, 40);
    let gray = RGBColor(90, 90, 90);
    chart(
        &dir.join("equity.png"),
        "Equity: PnL since start (realized + unrealized − fees)",
        "PnL (USD / USDT)",
        &[
            Line {
                name: "marked PnL (equity)",
                pts: pts(samples, |s| s.equity),
                color: blue,
            },
            Line {
                name: "realized − fees",
                pts: pts(samples, |s| s.realized - s.fees),
                color: orange,
            },
        ],
    )?;
    chart(
        &dir.join("position.png"),
        &format!("Position: {instrument}"),
        "position (amount unit)",
        &[Line {
            name: "position",
            pts: pts(samples, |s| s.position),
            color: blue,
        }],
    )?;
    chart(
        &dir.join("quotes.png"),
        &format!("Our quotes vs mid: {instrument}"),
        "price",
        &[
            Line {
                name: "mid",
                pts: pts(samples, |s| s.mid),
                color: gray,
            },
            Line {
                name: "our bid",
                pts: pts(samples, |s| s.bid),
                color: green,
            },
            Line {
                name: "our ask",
                pts: pts(samples, |s| s.ask),
                color: red,
            },
        ],
    )
}
