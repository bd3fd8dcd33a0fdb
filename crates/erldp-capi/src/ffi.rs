//! Reading arguments from C and writing results back, with the checks the
//! header promises: NULL, UTF-8, lengths, well-formed ETF; and the bodies
//! several entry points share (accessors, borrowed parts, `*_free`).

use std::ffi::{c_char, CStr};
use std::time::Duration;

use erldp::term::{self, Term};

use crate::fork::{self, Owner};
use crate::status::{
    erldp_status, guard, guard_value, invalid, not_found, Context, Failure, Outcome,
};
use crate::ERLDP_INFINITY;

/// A handle type of the header: what the entry points name its argument
/// (a NULL one is reported under that name), what messages call it, and
/// for one that holds a node's threads or sockets, the process it was made
/// in (see `fork`).
pub(crate) trait Handle {
    const ARG: &'static str;
    const NOUN: &'static str = Self::ARG;

    fn owner(&self) -> Option<Owner> {
        None
    }
}

/// A shared reference to a handle the caller passed, in whatever process.
pub(crate) unsafe fn present<'a, T: Handle>(ptr: *const T) -> Outcome<&'a T> {
    // SAFETY: the caller passes NULL or a live handle (the pointer contract).
    unsafe { ptr.as_ref() }.ok_or_else(|| invalid(format!("{} is NULL", T::ARG)))
}

/// A shared reference to a handle the caller passed, refused in a forked
/// child when it is the parent's.
pub(crate) unsafe fn handle<'a, T: Handle>(ptr: *const T) -> Outcome<&'a T> {
    // SAFETY: forwarded from the caller.
    let handle = unsafe { present(ptr) }?;
    if let Some(owner) = handle.owner() {
        fork::check(owner, T::NOUN)?;
    }
    Ok(handle)
}

/// An out-pointer, checked before the call does any work so that a NULL one
/// fails without side effects.
pub(crate) unsafe fn out<'a, T>(ptr: *mut T, name: &str) -> Outcome<&'a mut T> {
    // SAFETY: the caller passes NULL or a pointer valid for writing a T.
    // Only `write` stores through it.
    unsafe { ptr.as_mut() }.ok_or_else(|| invalid(format!("{name} is NULL")))
}

/// Stores a result in an out-pointer without reading (or dropping) what the
/// caller's memory held before.
pub(crate) fn write<T>(out: &mut T, value: T) {
    // SAFETY: `out` is valid for writes (checked by `out`); the old value is
    // uninitialised caller memory, so it must not be dropped.
    unsafe { std::ptr::write(out, value) }
}

/// The out-pointers a call writes its result through: one [`Out`], or a
/// pair of them (pairs nest) for a result in parts.
pub(crate) trait Outs {
    type Value;
    /// Fails for the first NULL pointer, before anything is written.
    unsafe fn check(&self) -> Outcome;
    /// Writes `value`; only after `check` succeeded.
    unsafe fn write(self, value: Self::Value);
}

/// An out-pointer and its argument's name.
pub(crate) struct Out<T>(pub(crate) *mut T, pub(crate) &'static str);

impl<T> Outs for Out<T> {
    type Value = T;

    unsafe fn check(&self) -> Outcome {
        // SAFETY: forwarded from the caller.
        unsafe { out(self.0, self.1) }.map(drop)
    }

    unsafe fn write(self, value: T) {
        // SAFETY: non-NULL (`check`) and valid for writing (the pointer
        // contract).
        write(unsafe { &mut *self.0 }, value);
    }
}

impl<A: Outs, B: Outs> Outs for (A, B) {
    type Value = (A::Value, B::Value);

    unsafe fn check(&self) -> Outcome {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.check().and_then(|()| self.1.check()) }
    }

    unsafe fn write(self, (a, b): Self::Value) {
        // SAFETY: forwarded from the caller.
        unsafe {
            self.0.write(a);
            self.1.write(b);
        }
    }
}

/// What the calls that read a handle share: the handle is looked up, then
/// `out` checked, then `value` gives what is written (a failure writes
/// nothing).
pub(crate) unsafe fn read<T: Handle, O: Outs>(
    handle: *const T,
    out: O,
    value: impl FnOnce(&T) -> Outcome<O::Value>,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let handle = unsafe { self::handle(handle) }?;
        unsafe { out.check() }?;
        let value = value(handle)?;
        unsafe { out.write(value) };
        Ok(())
    })
}

/// Lends the caller `what`, the part `pick` finds in the handle, through
/// `data`/`len`; `ERLDP_ERR_NOT_FOUND` when it has none.
pub(crate) unsafe fn part<T: Handle>(
    handle: *const T,
    what: &str,
    pick: impl FnOnce(&T) -> Outcome<Option<&Vec<u8>>>,
    data: *mut *const u8,
    len: *mut usize,
) -> erldp_status {
    let out = (Out(data, "data"), Out(len, "len"));
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        read(handle, out, |handle| {
            let bytes = pick(handle)?.ok_or_else(|| {
                not_found(
                    format!("the {what}"),
                    format!("this {} has no {what}", T::NOUN),
                )
            })?;
            Ok((bytes.as_ptr(), bytes.len()))
        })
    }
}

/// What an accessor that returns its value directly gives: `field` of the
/// handle, or `fallback` for a NULL handle (or a panic), which sets the last
/// error. A forked child reads the parent's handle as it was left.
pub(crate) unsafe fn get<T: Handle, V>(
    ptr: *const T,
    fallback: V,
    field: impl FnOnce(&T) -> V,
) -> V {
    // SAFETY: forwarded from the caller.
    guard_value(fallback, || Ok(field(unsafe { present(ptr) }?)))
}

/// Takes back a handle the library allocated, for its `*_free` or `*_close`,
/// and ends it with `end`; NULL is ignored, and so is the parent's handle in
/// a forked child (ending it there would shut the parent's connections down,
/// or wait on a lock a parent's thread held at the fork).
pub(crate) unsafe fn release<T: Handle>(ptr: *mut T, end: impl FnOnce(T)) {
    guard_value((), || {
        // SAFETY: NULL or a live handle (the pointer contract).
        let Some(handle) = (unsafe { ptr.as_ref() }) else {
            return Ok(());
        };
        if handle.owner().is_some_and(Owner::forked) {
            return Ok(());
        }
        // SAFETY: a handle the library allocated, freed once (the pointer
        // contract).
        end(*unsafe { Box::from_raw(ptr) });
        Ok(())
    })
}

/// A NUL-terminated UTF-8 string argument.
pub(crate) unsafe fn str<'a>(ptr: *const c_char, name: &str) -> Outcome<&'a str> {
    if ptr.is_null() {
        return Err(invalid(format!("{name} is NULL")));
    }
    // SAFETY: non-NULL strings are NUL-terminated (the pointer contract).
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str()
        .map_err(|err| invalid(format!("{name} is not valid UTF-8 ({err})")))
}

/// A string argument where NULL means "not given".
pub(crate) unsafe fn opt_str<'a>(ptr: *const c_char, name: &str) -> Outcome<Option<&'a str>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: as for `str`.
        unsafe { str(ptr, name) }.map(Some)
    }
}

/// A byte-array argument given as pointer and length.
pub(crate) unsafe fn bytes<'a>(data: *const u8, len: usize, name: &str) -> Outcome<&'a [u8]> {
    if data.is_null() {
        return Err(invalid(format!("{name} is NULL")));
    }
    if len > isize::MAX as usize {
        return Err(invalid(format!(
            "{name}: length {len} is not a valid buffer length"
        )));
    }
    // SAFETY: `data` is valid for `len` bytes (the pointer contract); the
    // length fits a slice.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// A term argument given as ETF bytes (version byte 131 first).
pub(crate) unsafe fn term(data: *const u8, len: usize, name: &str) -> Outcome<Term> {
    // SAFETY: forwarded from the caller.
    let bytes = unsafe { bytes(data, len, name) }?;
    term::decode(bytes).context(name)
}

/// A term argument (ETF) that must be `kind` ("a pid"): what `pick`
/// (`Term::as_pid`) finds in it.
pub(crate) unsafe fn term_of_kind<V>(
    data: *const u8,
    len: usize,
    name: &str,
    kind: &str,
    pick: fn(&Term) -> Option<V>,
) -> Outcome<V> {
    // SAFETY: forwarded from the caller.
    let term = unsafe { term(data, len, name) }?;
    pick(&term).ok_or_else(|| wrong_kind(name, kind, &term))
}

/// A timeout in milliseconds; `ERLDP_INFINITY` waits for ever.
pub(crate) fn timeout(ms: u32) -> Duration {
    if ms == ERLDP_INFINITY {
        Duration::MAX
    } else {
        Duration::from_millis(u64::from(ms))
    }
}

/// `ERLDP_ERR_ARG` for the term argument `name`, which is not `kind` ("a
/// pid").
pub(crate) fn wrong_kind(name: &str, kind: &str, term: &Term) -> Failure {
    invalid(format!("{name} must be {kind}, not {}", type_name(term)))
}

/// The name of a term's type, for messages about a term of the wrong kind.
pub(crate) fn type_name(term: &Term) -> &'static str {
    match term {
        Term::Atom(_) => "an atom",
        Term::Int(_) | Term::BigInt(_) => "an integer",
        Term::Float(_) => "a float",
        Term::Binary(_) => "a binary",
        Term::Bitstring(_) => "a bitstring",
        Term::Pid(_) => "a pid",
        Term::Port(_) => "a port",
        Term::Ref(_) => "a reference",
        Term::Tuple(_) => "a tuple",
        Term::List(items) if items.is_empty() => "the empty list",
        Term::List(_) => "a list",
        Term::ImproperList(..) => "an improper list",
        Term::Map(_) => "a map",
        Term::Fun(_) => "a fun",
    }
}
