//! Reading method arguments: names, destinations, timeouts.

use std::time::{Duration, Instant};

use erldp::{Atom, Dest, Term};
use magnus::{Error, RString, RTypedData, Ruby, Symbol, Value};

use crate::convert::{from_ruby, short_inspect, wrapped};
use crate::errors::raise;
use crate::global::Global;

/// A node, module, function or registered name given as a Symbol or String.
pub(crate) fn name(ruby: &Ruby, value: Value, what: &str) -> Result<String, Error> {
    let name = if let Some(symbol) = Symbol::from_value(value) {
        symbol.name()?.into_owned()
    } else if let Some(string) = RString::from_value(value) {
        string.to_string()?
    } else {
        return Err(not_a_name(ruby, value, what));
    };
    // Every name becomes an atom, which stays in the table for good: one
    // BEAM could not make (or an empty one) is refused before it is made,
    // by the core's rule.
    Atom::check_name(&name, what).map_err(|err| raise(ruby, err))?;
    Ok(name)
}

fn not_a_name(ruby: &Ruby, value: Value, what: &str) -> Error {
    Error::new(
        ruby.exception_type_error(),
        format!(
            "the {what} must be a Symbol or a String, not {}",
            short_inspect(value)
        ),
    )
}

/// A destination: a Pid, a Ref (an alias), `[name, node]`, each of the
/// two a Symbol or a String (the core's rule: [`Dest::from_term`]), or an
/// `ErlDP::Global`.
pub(crate) fn dest(ruby: &Ruby, value: Value) -> Result<Dest, Error> {
    if let Some(global) = RTypedData::from_value(value)
        .as_ref()
        .and_then(|data| wrapped::<Global>(ruby, data))
    {
        return Ok(Dest::Global(global.0));
    }
    let not_a_dest = || {
        Error::new(
            ruby.exception_arg_error(),
            format!(
                "{} is not a destination: give a Pid, a Ref, [name, node] (Symbols or Strings) \
                 or ErlDP::Global[name]",
                short_inspect(value)
            ),
        )
    };
    let term = from_ruby(ruby, value).map_err(|_| not_a_dest())?;
    Dest::from_term(&term).map_err(|_| not_a_dest())
}

/// A term argument.
pub(crate) fn term(ruby: &Ruby, value: Value) -> Result<Term, Error> {
    from_ruby(ruby, value).map_err(|err| raise(ruby, err))
}

/// A span given in seconds (Integer or Float); `Float::INFINITY`, or more
/// than `Duration` holds, is for ever.
pub(crate) fn seconds(ruby: &Ruby, seconds: f64, what: &str) -> Result<Duration, Error> {
    if seconds.is_nan() || seconds < 0.0 {
        return Err(Error::new(
            ruby.exception_arg_error(),
            format!("{what} must be a number of seconds >= 0, not {seconds}"),
        ));
    }
    Ok(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX))
}

/// When a wait of `timeout` seconds starting now ends; `None` for no end
/// (`nil` or `Float::INFINITY`).
pub(crate) fn deadline(ruby: &Ruby, timeout: Option<f64>) -> Result<Option<Instant>, Error> {
    match timeout {
        None => Ok(None),
        Some(secs) if secs == f64::INFINITY => Ok(None),
        Some(secs) => Ok(Instant::now().checked_add(seconds(ruby, secs, "timeout")?)),
    }
}
