//! `--config FILE`: every flag of `mm-fast` from a file, merged under the command line, and the
//! command-line front end of the binary (`mm-fast [flags]`, `mm-fast check-config FILE
//! [flags]`, `mm-fast kill [...]`).
//!
//! # Merge rule
//!
//! The file is turned into `--flag=value` argv items (one per key; booleans become the bare
//! switch when `true` and nothing when `false`; arrays become one item per element for
//! repeatable flags, else a comma-joined value) and parsed by clap in front of the real command
//! line. A flag given on the command line replaces the file's value entirely (the file's items
//! for that flag are dropped, so list flags such as `--instruments` are replaced, not
//! appended). Environment variables hold credentials only (`DERIBIT_CLIENT_ID`,
//! `DERIBIT_CLIENT_SECRET`); they are never read from the file. The mapping is generic: it is
//! driven by clap's own description of [`Args`], so every flag added to `cli.rs` is accepted
//! in a file automatically, under its long name with `-` or `_`.
//!
//! # Formats
//!
//! - **TOML** (default): `key = value` with keys = long flag names (`spread-bps` or
//!   `spread_bps`). Tables (`[risk]`, `[quoting]`, …) only group keys for readability: their
//!   names are ignored, their keys are flags. Unknown keys are errors naming the key and file.
//! - **JSON** (`.json` extension, or content starting with `{`): the configuration format of
//!   the USD-sized Python maker, accepted as is (see [`MAKER_KEYS`] for the key → flag table;
//!   `symbol` is mapped to a Deribit instrument name by [`deribit_symbol`]). A key whose flag
//!   this build does not have is an error ("unsupported key"), never silently dropped; only a
//!   switch set to `false` (e.g. `log_quotes: false`) needs no flag, since it asks for nothing.
//!   `execution.post_only: false` is refused (an error naming the key): quotes are always
//!   post-only.
//!
//! Relative paths inside a file (tape, report) are taken as they would be on the command line:
//! relative to the working directory.

use crate::cli::{Args, VenueArg};
use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches};
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// The subcommands, appended to `mm-fast --help`.
pub const SUBCOMMANDS_HELP: &str = "\
Subcommands:
  mm-fast [FLAGS]                      run the engine (the default)
  mm-fast check-config FILE [FLAGS]    validate FILE (+ FLAGS), print every effective setting and the
                                       instruments a dry run would quote (lists instruments from the
                                       venue or the simulator; sends no order)
  mm-fast backtest --tape T [FLAGS]    deterministic in-process backtest of the same engine over a
                                       tape (latency + queue models, plots, CSV, --sweep grids; see
                                       mm-fast backtest --help)
  mm-fast kill [--status-addr HOST:PORT | --kill-file PATH | --config FILE]
                                       kill switch of a running engine: POST /kill to its status
                                       endpoint, or create its kill file";

/// A command-line error: clap's own (usage, `--help`, `--version`: print with
/// [`clap::Error::exit`]) or a configuration file problem.
#[derive(Debug)]
pub enum CliError {
    /// Usage error or help/version request from clap.
    Clap(clap::Error),
    /// A configuration file could not be read, parsed or mapped.
    Config(String),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Clap(e) => write!(f, "{e}"),
            CliError::Config(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CliError {}

impl From<clap::Error> for CliError {
    fn from(e: clap::Error) -> Self {
        CliError::Clap(e)
    }
}

/// Where an effective setting came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// clap's default value.
    Default,
    /// An environment variable.
    Env,
    /// The `--config` file.
    Config,
    /// The command line.
    CommandLine,
    /// Not set and no default.
    Unset,
}

impl Origin {
    /// Short label (`default`, `env`, `config`, `command line`, `unset`).
    pub fn label(self) -> &'static str {
        match self {
            Origin::Default => "default",
            Origin::Env => "env",
            Origin::Config => "config",
            Origin::CommandLine => "command line",
            Origin::Unset => "unset",
        }
    }
}

/// One effective flag value after the file + command-line merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// Long flag name (`spread-bps`).
    pub flag: String,
    /// Value(s) as text, comma-joined; `None` when unset.
    pub value: Option<String>,
    /// Where it came from.
    pub origin: Origin,
}

/// The command line after the merge.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The effective flags.
    pub args: Args,
    /// Every flag with its value and origin, in `--help` order.
    pub settings: Vec<Setting>,
    /// Non-fatal notes about the file (e.g. a JSON setting mm-fast always applies).
    pub warnings: Vec<String>,
    /// The configuration file, if any.
    pub file: Option<PathBuf>,
    /// The file's format, if any.
    pub format: Option<Format>,
}

/// Configuration file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Flags as TOML keys.
    Toml,
    /// The USD-sized Python maker's JSON.
    MakerJson,
}

/// What the binary was asked to do.
#[derive(Debug)]
pub enum Command {
    /// Run the engine.
    Run(Box<Loaded>),
    /// `check-config FILE [flags]`.
    CheckConfig(Box<Loaded>),
    /// `kill [...]`.
    Kill(crate::kill::KillArgs),
    /// `backtest [flags]`.
    Backtest(Box<crate::backtest::args::Invocation>),
}

/// The clap command of [`Args`] as the binary uses it (with the subcommand help appended).
pub fn command() -> clap::Command {
    Args::command().after_help(SUBCOMMANDS_HELP)
}

/// Parses the binary's full command line (`argv[0]` included): dispatches the subcommands,
/// merges `--config`.
///
/// # Errors
/// clap errors (usage, help, version) and configuration file errors.
pub fn parse_command_line<I, T>(argv: I) -> Result<Command, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    match argv.get(1).and_then(|a| a.to_str()) {
        Some("check-config") => {
            let Some(file) = argv
                .get(2)
                .filter(|f| !f.to_string_lossy().starts_with('-'))
            else {
                return Err(CliError::Config(
                    "usage: mm-fast check-config FILE [FLAGS] (FILE: a TOML or USD-maker JSON config)".into(),
                ));
            };
            if argv[3..].iter().any(|a| {
                let a = a.to_string_lossy();
                a == "--config" || a.starts_with("--config=")
            }) {
                return Err(CliError::Config(
                    "check-config FILE takes the file as its argument; do not pass --config too"
                        .into(),
                ));
            }
            let mut v = vec![argv[0].clone(), "--config".into(), file.clone()];
            v.extend_from_slice(&argv[3..]);
            Ok(Command::CheckConfig(Box::new(parse_args(v)?)))
        }
        Some("backtest") => Ok(Command::Backtest(Box::new(crate::backtest::args::parse(
            &argv,
        )?))),
        Some("kill") => {
            use clap::Parser;
            let mut v = vec![OsString::from("mm-fast kill")];
            v.extend_from_slice(&argv[2..]);
            Ok(Command::Kill(crate::kill::KillArgs::try_parse_from(v)?))
        }
        _ => Ok(Command::Run(Box::new(parse_args(argv)?))),
    }
}

/// Parses `mm-fast [flags]` (`argv[0]` included) with the `--config` file merged under the
/// command line (see the module docs).
///
/// # Errors
/// clap errors, and file errors naming the file (and the key, for unknown or unsupported keys).
pub fn parse_args<I, T>(argv: I) -> Result<Loaded, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let argv0 = argv.first().cloned().unwrap_or_else(|| "mm-fast".into());
    let cmd = command();
    let real = cmd.clone().try_get_matches_from(&argv)?;
    let file: Option<PathBuf> = real.get_one::<PathBuf>("config").cloned();
    let flags = FlagTable::of(&cmd);
    let mut file_tokens: Vec<OsString> = Vec::new();
    let mut from_file: HashSet<String> = HashSet::new();
    let mut warnings = Vec::new();
    let mut format = None;
    if let Some(path) = &file {
        let parsed = load_file(path, &flags).map_err(CliError::Config)?;
        warnings = parsed.warnings;
        format = Some(parsed.format);
        // The file on its own must be valid (so its errors name the file).
        let mut alone = vec![argv0.clone()];
        alone.extend(
            parsed
                .items
                .iter()
                .flat_map(|i| i.tokens.iter().map(OsString::from)),
        );
        if let Err(e) = cmd.clone().try_get_matches_from(alone) {
            return Err(CliError::Config(format!(
                "config {}: {}",
                path.display(),
                clap_message(&e)
            )));
        }
        for it in parsed.items {
            if real.value_source(&it.id) == Some(ValueSource::CommandLine) {
                continue; // the command line wins
            }
            from_file.insert(it.id.clone());
            file_tokens.extend(it.tokens.into_iter().map(OsString::from));
        }
    }
    let mut merged = vec![argv0];
    merged.extend(file_tokens);
    merged.extend(argv.iter().skip(1).cloned());
    let m = cmd.try_get_matches_from(merged)?;
    let args = Args::from_arg_matches(&m)?;
    let settings = flags
        .flags
        .iter()
        .map(|f| {
            let value = m.get_raw(&f.id).map(|v| {
                v.map(|s| s.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(",")
            });
            let origin = if real.value_source(&f.id) == Some(ValueSource::CommandLine) {
                Origin::CommandLine
            } else if from_file.contains(&f.id) {
                Origin::Config
            } else {
                match m.value_source(&f.id) {
                    Some(ValueSource::EnvVariable) => Origin::Env,
                    Some(ValueSource::DefaultValue) => Origin::Default,
                    Some(_) => Origin::CommandLine,
                    None => Origin::Unset,
                }
            };
            Setting {
                flag: f.long.clone(),
                // Secrets are never printed.
                value: if f.long == "client-secret" {
                    value.map(|_| "<redacted>".to_string())
                } else {
                    value
                },
                origin,
            }
        })
        .collect();
    Ok(Loaded {
        args,
        settings,
        warnings,
        file,
        format,
    })
}

/// First line of a clap error without the `error: ` prefix.
fn clap_message(e: &clap::Error) -> String {
    let s = e.to_string();
    let line = s.lines().next().unwrap_or("").trim();
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

/// A flag as clap describes it.
#[derive(Clone, Debug)]
struct Flag {
    id: String,
    long: String,
    action: ArgAction,
    delimiter: Option<char>,
}

/// The flags of [`Args`], by long name.
struct FlagTable {
    flags: Vec<Flag>,
}

impl FlagTable {
    fn of(cmd: &clap::Command) -> FlagTable {
        let flags = cmd
            .get_arguments()
            .filter_map(|a| {
                let long = a.get_long()?;
                if long == "help" || long == "version" {
                    return None;
                }
                Some(Flag {
                    id: a.get_id().as_str().to_string(),
                    long: long.to_string(),
                    action: a.get_action().clone(),
                    delimiter: a.get_value_delimiter(),
                })
            })
            .collect();
        FlagTable { flags }
    }

    /// The flag of a file key (`spread_bps` or `spread-bps`).
    fn get(&self, key: &str) -> Option<&Flag> {
        let k = key.replace('_', "-");
        self.flags.iter().find(|f| f.long == k)
    }
}

/// One file setting as argv tokens.
#[derive(Clone, Debug)]
struct Item {
    id: String,
    tokens: Vec<String>,
}

/// A file turned into argv items.
struct Parsed {
    items: Vec<Item>,
    warnings: Vec<String>,
    format: Format,
}

/// A file value, format-neutral.
#[derive(Clone, Debug)]
enum Val {
    Bool(bool),
    /// Strings and numbers, as text.
    Text(String),
    List(Vec<Val>),
}

impl Val {
    fn text(&self) -> Option<String> {
        match self {
            Val::Bool(b) => Some(b.to_string()),
            Val::Text(s) => Some(s.clone()),
            Val::List(_) => None,
        }
    }
}

/// Reads a configuration file into argv items (format from the extension or content).
fn load_file(path: &Path, flags: &FlagTable) -> Result<Parsed, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("config {}: cannot read: {e}", path.display()))?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with('{');
    if is_json {
        maker_json(&text, path, flags)
    } else {
        toml_file(&text, path, flags)
    }
}

/// Forbidden in a file.
const NOT_IN_FILE: [&str; 1] = ["config"];

fn toml_file(text: &str, path: &Path, flags: &FlagTable) -> Result<Parsed, String> {
    let file = path.display();
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("config {file}: not valid TOML: {}", e.message()))?;
    let mut keys: Vec<(String, String, Val)> = Vec::new(); // (key path, key, value)
    for (k, v) in table {
        match v {
            toml::Value::Table(t) => {
                for (k2, v2) in t {
                    if v2.is_table() {
                        return Err(format!(
                            "config {file}: `{k}.{k2}` is a table; tables only group flags, one level deep"
                        ));
                    }
                    keys.push((format!("{k}.{k2}"), k2.clone(), toml_val(&v2, &k2, path)?));
                }
            }
            other => keys.push((k.clone(), k.clone(), toml_val(&other, &k, path)?)),
        }
    }
    let mut items: Vec<Item> = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut unknown: Vec<(String, String)> = Vec::new();
    for (key_path, key, v) in keys {
        let Some(flag) = flags.get(&key) else {
            unknown.push((key_path, key.replace('_', "-")));
            continue;
        };
        if NOT_IN_FILE.contains(&flag.long.as_str()) {
            return Err(format!(
                "config {file}: `{key_path}` is not allowed in a config file"
            ));
        }
        if let Some(prev) = seen.insert(flag.id.clone(), key_path.clone()) {
            return Err(format!(
                "config {file}: --{} is set twice (`{prev}` and `{key_path}`)",
                flag.long
            ));
        }
        items.push(Item {
            id: flag.id.clone(),
            tokens: tokens(flag, &v, &key_path, path)?,
        });
    }
    if !unknown.is_empty() {
        let keys: Vec<String> = unknown.iter().map(|(k, _)| format!("`{k}`")).collect();
        let fl: Vec<String> = unknown.iter().map(|(_, f)| format!("--{f}")).collect();
        return Err(format!(
            "config {file}: unknown key{} {} (mm-fast has no flag {}; see mm-fast --help)",
            if keys.len() > 1 { "s" } else { "" },
            keys.join(", "),
            fl.join(", ")
        ));
    }
    Ok(Parsed {
        items,
        warnings: Vec::new(),
        format: Format::Toml,
    })
}

fn toml_val(v: &toml::Value, key: &str, path: &Path) -> Result<Val, String> {
    Ok(match v {
        toml::Value::Boolean(b) => Val::Bool(*b),
        toml::Value::String(s) => Val::Text(s.clone()),
        toml::Value::Integer(i) => Val::Text(i.to_string()),
        toml::Value::Float(f) => Val::Text(f.to_string()),
        toml::Value::Datetime(d) => Val::Text(d.to_string()),
        toml::Value::Array(a) => Val::List(
            a.iter()
                .map(|x| toml_val(x, key, path))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(_) => {
            return Err(format!(
                "config {}: `{key}`: nested tables are not flags",
                path.display()
            ))
        }
    })
}

/// argv tokens of one flag value.
fn tokens(flag: &Flag, v: &Val, key: &str, path: &Path) -> Result<Vec<String>, String> {
    let file = path.display();
    let long = &flag.long;
    let bad = |what: &str| format!("config {file}: `{key}`: --{long} {what}");
    match &flag.action {
        ArgAction::SetTrue | ArgAction::SetFalse => {
            let Val::Bool(b) = v else {
                return Err(bad("is a switch: use true or false"));
            };
            let present = *b == matches!(flag.action, ArgAction::SetTrue);
            Ok(if present {
                vec![format!("--{long}")]
            } else {
                Vec::new()
            })
        }
        ArgAction::Count => {
            let n: usize = v
                .text()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| bad("counts: use a whole number"))?;
            Ok(vec![format!("--{long}"); n])
        }
        ArgAction::Append => match v {
            Val::List(xs) => xs
                .iter()
                .map(|x| {
                    x.text()
                        .map(|t| format!("--{long}={t}"))
                        .ok_or_else(|| bad("takes a flat list"))
                })
                .collect(),
            x => Ok(vec![format!("--{long}={}", x.text().unwrap_or_default())]),
        },
        _ => match v {
            Val::List(xs) => {
                let Some(d) = flag.delimiter else {
                    return Err(bad("takes one value, not a list"));
                };
                let parts: Option<Vec<String>> = xs.iter().map(Val::text).collect();
                let parts = parts.ok_or_else(|| bad("takes a flat list"))?;
                Ok(vec![format!("--{long}={}", parts.join(&d.to_string()))])
            }
            x => Ok(vec![format!("--{long}={}", x.text().unwrap_or_default())]),
        },
    }
}

/// The USD-sized Python maker's JSON keys (`section.key`) and the flag each maps to.
/// `symbol` (→ `--instruments`, through [`deribit_symbol`]), `name` (→ `--name`) and
/// `execution.post_only` (`true` → `--post-only true`; `false` is refused with an error
/// naming the key: mm-fast quotes post-only always) are handled separately.
pub const MAKER_KEYS: [(&str, &str); 13] = [
    ("market_making.base_spread_bps", "spread-bps"),
    ("market_making.min_spread_bps", "min-spread-bps"),
    ("market_making.order_size_usd", "size-usd"),
    ("market_making.max_inventory_usd", "max-inventory-usd"),
    ("market_making.levels", "levels"),
    ("market_making.skew_per_100_usd", "skew-per-100-usd"),
    ("market_making.requote_interval_sec", "refresh-interval"),
    ("risk.max_position_usd", "max-position-usd"),
    ("risk.stop_loss_pct", "stop-loss-pct"),
    ("risk.daily_loss_limit_usd", "daily-loss-usd"),
    ("execution.min_edge_bps", "min-edge-bps"),
    ("flags.dry_run", "dry-run"),
    ("flags.log_quotes", "log-quotes"),
];

/// Maps a maker's symbol to the Deribit instrument it means:
///
/// | symbol | instrument | why |
/// |---|---|---|
/// | `BTC-PERPETUAL`, `BTC-25JUN21`, `BTC-25JUN21-50000-C`, `BTC_USDC-PERPETUAL` | as is | already a Deribit name |
/// | `BTC-PERP`, `BTCUSD`, `BTC-USD`, `BTC/USD`, `BTCUSD_PERP` | `BTC-PERPETUAL` | USD-quoted perpetual = Deribit's inverse perpetual (amounts in USD, as the maker sizes them) |
/// | `BTCUSDT`, `BTC-USDT`, `BTC/USDT`, `BTC/USDT:USDT` | `BTC_USDT-PERPETUAL` | USDT-margined (linear) perpetual, the name the simulator re-hosts Binance USD-M under |
/// | `BTCUSDC`, `BTC-USDC`, `BTC/USDC` | `BTC_USDC-PERPETUAL` | Deribit's USDC linear perpetual |
pub fn deribit_symbol(symbol: &str) -> String {
    let s = symbol.trim().to_ascii_uppercase();
    if s.ends_with("-PERPETUAL") {
        return s;
    }
    // ccxt style `BTC/USDT:USDT`: the settle suffix adds nothing here.
    let s = s.split(':').next().unwrap_or("").to_string();
    let s = s.strip_suffix("_PERP").unwrap_or(&s).to_string();
    if let Some(base) = s.strip_suffix("-PERP") {
        return format!("{base}-PERPETUAL");
    }
    let compact: String = s.chars().filter(|c| !matches!(c, '-' | '/')).collect();
    let alnum = |b: &str| !b.is_empty() && b.chars().all(|c| c.is_ascii_alphanumeric());
    // Only a bare pair (`BTCUSDT`, `BTC-USDT`, `BTC/USDT`): dated futures and options keep
    // their Deribit names.
    let pairish = !s.contains('-') || s.matches('-').count() == 1 && alnum(&compact);
    if pairish {
        for q in ["USDT", "USDC"] {
            if let Some(base) = compact.strip_suffix(q) {
                if alnum(base) {
                    return format!("{base}_{q}-PERPETUAL");
                }
            }
        }
        if let Some(base) = compact.strip_suffix("USD") {
            if alnum(base) {
                return format!("{base}-PERPETUAL");
            }
        }
    }
    s
}

fn json_val(v: &serde_json::Value) -> Option<Val> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::Bool(b) => Some(Val::Bool(*b)),
        serde_json::Value::Number(n) => Some(Val::Text(n.to_string())),
        serde_json::Value::String(s) => Some(Val::Text(s.clone())),
        serde_json::Value::Array(a) => Some(Val::List(a.iter().filter_map(json_val).collect())),
        serde_json::Value::Object(_) => None,
    }
}

/// The USD-sized Python maker's JSON, mapped to flags ([`MAKER_KEYS`]).
fn maker_json(text: &str, path: &Path, flags: &FlagTable) -> Result<Parsed, String> {
    let file = path.display();
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("config {file}: not valid JSON: {e}"))?;
    let serde_json::Value::Object(top) = doc else {
        return Err(format!("config {file}: expected a JSON object"));
    };
    let mut items: Vec<Item> = Vec::new();
    let warnings = Vec::new();
    let mut unsupported: Vec<String> = Vec::new();
    let mut push = |key: &str, long: &str, v: Val| -> Result<(), String> {
        let Some(flag) = flags.get(long) else {
            // `false` for a switch this build lacks asks for nothing (the feature is off).
            if !matches!(v, Val::Bool(false)) {
                unsupported.push(format!("`{key}` (no --{long} flag)"));
            }
            return Ok(());
        };
        items.push(Item {
            id: flag.id.clone(),
            tokens: tokens(flag, &v, key, path)?,
        });
        Ok(())
    };
    for (k, v) in &top {
        match (k.as_str(), v) {
            (_, serde_json::Value::Null) => {}
            ("name", v) => {
                let v = json_val(v).ok_or_else(|| format!("config {file}: `name` is a string"))?;
                push("name", "name", v)?;
            }
            ("symbol", v) => {
                let names: Vec<String> = match json_val(v) {
                    Some(Val::Text(s)) => s.split(',').map(deribit_symbol).collect(),
                    Some(Val::List(xs)) => xs
                        .iter()
                        .filter_map(Val::text)
                        .map(|s| deribit_symbol(&s))
                        .collect(),
                    _ => return Err(format!("config {file}: `symbol` is a string")),
                };
                push(
                    "symbol",
                    "instruments",
                    Val::List(names.into_iter().map(Val::Text).collect()),
                )?;
            }
            (section @ ("market_making" | "risk" | "execution" | "flags"), v) => {
                let serde_json::Value::Object(o) = v else {
                    return Err(format!("config {file}: `{section}` is an object"));
                };
                for (k2, v2) in o {
                    let key = format!("{section}.{k2}");
                    let Some(val) = json_val(v2) else {
                        if v2.is_null() {
                            continue;
                        }
                        return Err(format!("config {file}: `{key}`: expected a value"));
                    };
                    if key == "execution.post_only" {
                        let Val::Bool(on) = val else {
                            return Err(format!("config {file}: `{key}` is true or false"));
                        };
                        if !on {
                            return Err(format!(
                                "config {file}: `{key}` = false is refused: mm-fast quotes \
                                 post-only always (a quote that would cross is rejected by the \
                                 venue, never executed as taker); remove the key or set it to true"
                            ));
                        }
                        push(&key, "post-only", Val::Bool(true))?;
                        continue;
                    }
                    let Some((_, long)) = MAKER_KEYS.iter().find(|(k, _)| *k == key) else {
                        return Err(format!(
                            "config {file}: unknown key `{key}` (not part of the USD maker format)"
                        ));
                    };
                    push(&key, long, val)?;
                }
            }
            (k, _) => {
                return Err(format!(
                    "config {file}: unknown key `{k}` (the USD maker format has name, symbol, market_making, risk, execution, flags)"
                ))
            }
        }
    }
    if !unsupported.is_empty() {
        return Err(format!(
            "config {file}: unsupported key{} in this mm-fast: {}",
            if unsupported.len() > 1 { "s" } else { "" },
            unsupported.join(", ")
        ));
    }
    Ok(Parsed {
        items,
        warnings,
        format: Format::MakerJson,
    })
}

/// The text `check-config` prints: every effective setting, the engine's verdict on them and
/// the instruments a dry run would quote. Connects to the venue (or starts the simulator on
/// `--tape`) only to list instruments (`public/get_instruments`, unauthenticated); sends no
/// order.
///
/// # Errors
/// When the settings are rejected or the instruments cannot be listed or selected.
pub fn check_config(l: &Loaded) -> Result<String, String> {
    use std::fmt::Write;
    let mut s = String::new();
    if let Some(f) = &l.file {
        let fmt = match l.format {
            Some(Format::MakerJson) => "USD maker JSON",
            _ => "TOML",
        };
        let _ = writeln!(s, "config {} ({fmt})", f.display());
    }
    let _ = writeln!(
        s,
        "effective settings (config file merged under the command line):"
    );
    let w = l.settings.iter().map(|x| x.flag.len()).max().unwrap_or(0) + 2;
    for x in &l.settings {
        let _ = writeln!(
            s,
            "  --{:<w$} {:<24} [{}]",
            x.flag,
            x.value.as_deref().unwrap_or("-"),
            x.origin.label(),
        );
    }
    for x in &l.warnings {
        let _ = writeln!(s, "warning: {x}");
    }
    let (table, endpoint) = list_instruments(&l.args)?;
    crate::run::engine_config(&l.args, &table).map_err(|e| format!("settings rejected: {e}"))?;
    let _ = writeln!(s, "engine settings: accepted");
    let mode = if l.args.dry_run { "dry run" } else { "run" };
    let _ = writeln!(
        s,
        "instruments a {mode} would quote on {endpoint} ({}):",
        table.len()
    );
    for i in table.iter() {
        let _ = writeln!(
            s,
            "  {:<28} {:?}{} tick {} lot {}{}",
            i.name,
            i.kind,
            if i.inverse { " inverse" } else { "" },
            i.tick,
            i.lot,
            i.rehosted_from
                .as_ref()
                .map(|r| format!(" (re-hosted from {r})"))
                .unwrap_or_default()
        );
    }
    Ok(s)
}

/// Lists the venue's instruments and applies the run's selection (no authentication, no
/// order). With `--venue sim` the simulator is started on the tape just for this.
fn list_instruments(args: &Args) -> Result<(mm_core::instrument::InstrumentTable, String), String> {
    use mm_venues::deribit::{encode::Encoder, feed::rpc_blocking, instruments};
    let mut sim = None;
    let endpoint = match args.venue {
        VenueArg::Sim => {
            let (first, more) = args
                .tape
                .split_first()
                .ok_or("--venue sim needs --tape PATH (a recorded tape)")?;
            if let Some(t) = args.tape.iter().find(|t| !t.exists()) {
                return Err(format!("tape {} does not exist", t.display()));
            }
            let mut cfg = mm_venues::sim::SimConfig::new(first.clone());
            cfg.more_tapes = more.to_vec();
            let h = mm_venues::sim::Sim::start(cfg).map_err(|e| format!("simulator: {e}"))?;
            let url = h.url();
            sim = Some(h);
            url
        }
        VenueArg::Deribit => args.endpoint.clone().unwrap_or_else(|| {
            if args.test {
                crate::run::DERIBIT_TEST.into()
            } else {
                crate::run::DERIBIT_PROD.into()
            }
        }),
    };
    let tape_names: Option<HashSet<String>> = sim
        .as_ref()
        .map(|s| s.instruments().iter().map(|i| i.name.clone()).collect());
    let mut opts = mm_io::WsOptions::default();
    if let Some(p) = &args.ca_file {
        opts.extra_root_pem =
            Some(std::fs::read(p).map_err(|e| format!("--ca-file {}: {e}", p.display()))?);
    }
    let mut ws = mm_io::WsClient::connect(&endpoint, &opts)
        .map_err(|e| format!("connect {endpoint}: {e}"))?;
    let mut enc = Encoder::new();
    let mut all = Vec::new();
    for (k, c) in crate::run::currencies_for(args).iter().enumerate() {
        let id = 10 + k as u64;
        let f = enc.get_instruments(id, c, None, false).to_string();
        let raw = rpc_blocking(&mut ws, &f, id, std::time::Duration::from_secs(10), |_| {})
            .map_err(|e| format!("public/get_instruments {c}: {e}"))?;
        all.extend(
            instruments::parse_instruments(&raw)
                .map_err(|e| format!("get_instruments reply: {e}"))?,
        );
    }
    ws.close();
    let table = crate::run::select_instruments(args, all, tape_names.as_ref());
    if let Some(h) = sim {
        h.stop();
    }
    Ok((table?, endpoint))
}
