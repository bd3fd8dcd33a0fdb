//! Logging: what the crate reports, and a small logger that prints it.
//!
//! The crate logs through the [`log`] facade, so a program that already has
//! a logger (`env_logger`, `tracing-log`, ...) gets ErlDP's records there,
//! with targets named after the modules (`erldp::node`,
//! `erldp::connection`, ...). What each level shows:
//!
//! | level | records |
//! |---|---|
//! | `error` | the node cannot do its work (a thread cannot be started) |
//! | `warn` | outgoing connects that failed and why; incoming handshakes rejected for a wrong cookie |
//! | `info` | the node started and closed; every connection up (peer, direction, creation) and down (with the reason) |
//! | `debug` | EPMD look-ups, TCP connects, handshake outcomes with the negotiated flags, messages dropped for want of a receiver |
//! | `trace` | one line per distribution frame: direction, peer, control message kind, size |
//!
//! Programs without a logger of their own — the `erldp` command, the C,
//! Ruby and Node.js bindings — call [`init_from_env`], which reads
//! `ERLDP_LOG` (`off`, `error`, `warn`, `info`, `debug` or `trace`) and
//! installs [`init`]'s logger: one line per record on standard error,
//!
//! ```text
//! 2026-11-23T08:32:09.123Z INFO  erldp::node [main] connected to demo@host (outgoing, creation 1700000001)
//! ```
//!
//! When the level is off the log macros cost one atomic load, so the frame
//! lines at `trace` cost nothing unless asked for.
//!
//! A program that has a logger of its own in another language (a Ruby
//! `Logger`, a JavaScript callback, a C function) gets the records through
//! [`set_sink`]: ErlDP's logger then hands each one over as a [`Record`]
//! instead of writing it to standard error. The bindings do this.
//!
//! ```
//! use erldp::logging::{self, LevelFilter};
//!
//! // Reads ERLDP_LOG; unset means no logger and no output.
//! let installed = logging::init_from_env().expect("ERLDP_LOG is a level name");
//! # let _ = installed;
//! // Or choose the level in code. Installing twice only changes the level,
//! // and a logger the host program installed first is left alone.
//! assert!(logging::init(LevelFilter::Warn));
//! assert_eq!(logging::parse_level("debug").unwrap(), LevelFilter::Debug);
//! assert!(logging::parse_level("verbose").is_err());
//! ```

use std::any::Any;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub use log::{Level, LevelFilter};

use crate::sync::RwLock;
use crate::{Error, Result};

/// The environment variable [`init_from_env`] reads.
pub const ENV_VAR: &str = "ERLDP_LOG";

/// Whether [`LOGGER`] is the process's logger (set once, never unset).
static INSTALLED: AtomicBool = AtomicBool::new(false);
static LOGGER: StderrLogger = StderrLogger;
/// Where [`LOGGER`] sends records instead of standard error.
static SINK: RwLock<Option<Sink>> = RwLock::new(None);

/// Takes the sink for a `fork`, so that no other thread is in it then
/// ([`crate::fork`]); dropping the guard gives it back.
pub(crate) fn lock_for_fork() -> impl Any {
    SINK.write()
}

/// One of ErlDP's log records, as [`set_sink`] hands it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// How important it is.
    pub level: Level,
    /// The module that logged it: `erldp::node`, `erldp::connection`, ...
    pub target: String,
    /// The name of the thread that logged it (`unnamed` when it has none).
    pub thread: String,
    /// The text.
    pub message: String,
    /// When it was logged.
    pub time: SystemTime,
}

/// A receiver of ErlDP's records (see [`set_sink`]).
pub type Sink = Box<dyn Fn(Record) + Send + Sync>;

/// Hands every record that ErlDP's logger takes to `sink` instead of writing
/// it to standard error; `None` writes to standard error again. The sink is
/// called on the thread that logs — any of the node's threads, several at
/// once — so it must be quick and must not block or log through `log`
/// itself: a binding queues the record for its language's own thread.
///
/// The sink receives records only while ErlDP's logger is the process's
/// logger and up to its level: call [`init`] (or [`init_from_env`]) too.
pub fn set_sink(sink: Option<Sink>) {
    *SINK.write() = sink;
}

/// Reads a level name as `ERLDP_LOG` takes it: `off`, `error`, `warn`,
/// `info`, `debug` or `trace`, in any case.
pub fn parse_level(text: &str) -> Result<LevelFilter> {
    text.trim()
        .parse()
        .map_err(|_| not_a_level(format!("{text:?}")))
}

fn not_a_level(what: String) -> Error {
    Error::InvalidArgument(format!(
        "{what} is not a log level: use off, error, warn, info, debug or trace"
    ))
}

/// The level `ERLDP_LOG` asks for; `None` when it is unset or empty.
pub fn level_from_env() -> Result<Option<LevelFilter>> {
    match std::env::var(ENV_VAR) {
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => parse_level(&text)
            .map(Some)
            .map_err(|_| not_a_level(format!("{ENV_VAR}={text:?}"))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::InvalidArgument(format!(
            "{ENV_VAR} is not valid Unicode"
        ))),
    }
}

/// Installs the standard-error logger showing ErlDP's records up to
/// `level`; called again, only changes the level.
///
/// Returns `false`, changing nothing, when the program has installed a
/// logger of its own: that logger keeps ErlDP's records. Never panics.
pub fn init(level: LevelFilter) -> bool {
    if !INSTALLED.load(Ordering::Acquire) {
        match log::set_logger(&LOGGER) {
            Ok(()) => INSTALLED.store(true, Ordering::Release),
            // Either the program's own logger, or ours installed by a racing
            // call that has not yet set INSTALLED.
            Err(_) if !INSTALLED.load(Ordering::Acquire) => return false,
            Err(_) => {}
        }
    }
    log::set_max_level(level);
    true
}

/// Installs the logger at the level `ERLDP_LOG` names.
///
/// Returns `Ok(true)` when ErlDP's logger is now installed, `Ok(false)`
/// when `ERLDP_LOG` is unset or empty (nothing is installed) or another
/// logger was there first, and [`Error::InvalidArgument`] naming the value
/// when it is not a level.
pub fn init_from_env() -> Result<bool> {
    match level_from_env()? {
        Some(level) => Ok(init(level)),
        None => Ok(false),
    }
}

/// Writes ErlDP's records to standard error, one line each.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        // Other crates in the same program (napi, magnus, ...) may log too;
        // ERLDP_LOG is about ErlDP only.
        metadata.level() <= log::max_level() && metadata.target().starts_with("erldp")
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if let Some(sink) = &*SINK.read() {
            sink(Record {
                level: record.level(),
                target: record.target().to_string(),
                thread: std::thread::current()
                    .name()
                    .unwrap_or("unnamed")
                    .to_string(),
                message: record.args().to_string(),
                time: SystemTime::now(),
            });
            return;
        }
        let mut line = String::with_capacity(128);
        write_utc_timestamp(&mut line, SystemTime::now());
        let thread = std::thread::current();
        let _ = writeln!(
            line,
            " {:<5} {} [{}] {}",
            record.level(),
            record.target(),
            thread.name().unwrap_or("unnamed"),
            record.args()
        );
        // One write per record, so that lines from different threads do not
        // interleave; a closed stderr is no reason to fail.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Appends `time` as an RFC 3339 UTC timestamp with milliseconds.
fn write_utc_timestamp(out: &mut String, time: SystemTime) {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let of_day = secs % 86_400;
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since_epoch.subsec_millis()
    );
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`), so that no date crate is needed for the log's
/// timestamps and the dates of TLS certificate errors.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_rfc3339() {
        let mut out = String::new();
        write_utc_timestamp(&mut out, UNIX_EPOCH);
        assert_eq!(out, "1970-01-01T00:00:00.000Z");
        out.clear();
        // 2024-02-29T23:59:58.250Z: a leap day, late in the day.
        write_utc_timestamp(
            &mut out,
            UNIX_EPOCH + Duration::from_millis(1_709_251_198_250),
        );
        assert_eq!(out, "2024-02-29T23:59:58.250Z");
        out.clear();
        write_utc_timestamp(&mut out, UNIX_EPOCH + Duration::from_secs(4_102_444_800));
        assert_eq!(out, "2100-01-01T00:00:00.000Z");
    }

    #[test]
    fn levels_parse_in_any_case() {
        assert_eq!(parse_level("TRACE").unwrap(), LevelFilter::Trace);
        assert_eq!(parse_level(" warn ").unwrap(), LevelFilter::Warn);
        assert_eq!(parse_level("off").unwrap(), LevelFilter::Off);
        // A level set by name says so, not ERLDP_LOG, which nobody set.
        let err = parse_level("loud").unwrap_err().to_string();
        assert!(err.contains("\"loud\" is not a log level"), "{err}");
        assert!(!err.contains(ENV_VAR), "{err}");
    }
}
