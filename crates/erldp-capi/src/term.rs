//! Terms for C: Erlang syntax to ETF and back, term order, and a reader that
//! walks ETF without ei.
//!
//! The reader decodes ETF once into a tree (`erldp_term_decode`) whose
//! nodes C code inspects by type and walks by index; elements are borrowed
//! pointers into the tree, so reading allocates nothing beyond the decode
//! and frees with one `erldp_term_free`.

use std::cmp::Ordering;
use std::ffi::{c_char, c_int, CString};

use erldp::Term;

use crate::buf::erldp_buf;
use crate::ffi::{self, Out, Outs};
use crate::status::{erldp_status, guard, guard_value, invalid, Context, Outcome};

/// A decoded term (from `erldp_term_decode`), or an element of one. Only the
/// root is freed, with `erldp_term_free`; elements are `const` pointers
/// valid as long as their root.
// Never instantiated: a pointer to it is a pointer to the core's `Term`.
pub struct erldp_term {
    _opaque: [u8; 0],
}

/// The type of a term, as `erldp_term_type` reports it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum erldp_type {
    /// Not a term: `erldp_term_type` was given NULL.
    ERLDP_TYPE_INVALID = 0,
    /// An atom (`true` and `false` too): `erldp_term_get_atom`.
    ERLDP_TYPE_ATOM = 1,
    /// An integer that fits in 64 bits: `erldp_term_get_long`.
    ERLDP_TYPE_INTEGER = 2,
    /// An integer that does not fit in 64 bits: `erldp_term_get_bigint`.
    ERLDP_TYPE_BIGINT = 3,
    /// A float: `erldp_term_get_double`.
    ERLDP_TYPE_FLOAT = 4,
    /// A binary: `erldp_term_get_binary`.
    ERLDP_TYPE_BINARY = 5,
    /// A bitstring whose length is not a whole number of bytes:
    /// `erldp_term_get_bitstring`.
    ERLDP_TYPE_BITSTRING = 6,
    /// A proper list, `[]` included (a string is a list of integers):
    /// `erldp_term_get_size`, `erldp_term_get_element`.
    ERLDP_TYPE_LIST = 7,
    /// A list whose tail is not a list: `erldp_term_get_size`,
    /// `erldp_term_get_element`, `erldp_term_get_tail`.
    ERLDP_TYPE_IMPROPER_LIST = 8,
    /// A tuple: `erldp_term_get_size`, `erldp_term_get_element`.
    ERLDP_TYPE_TUPLE = 9,
    /// A map: `erldp_term_get_size`, `erldp_term_get_pair`.
    ERLDP_TYPE_MAP = 10,
    /// A pid; pass it on with `erldp_term_encode`.
    ERLDP_TYPE_PID = 11,
    /// A port.
    ERLDP_TYPE_PORT = 12,
    /// A reference (also a process alias).
    ERLDP_TYPE_REF = 13,
    /// A fun; it can be sent back unchanged, not called.
    ERLDP_TYPE_FUN = 14,
}

pub(crate) fn to_handle(term: &Term) -> *const erldp_term {
    (term as *const Term).cast()
}

impl ffi::Handle for Term {
    const ARG: &'static str = "term";
}

unsafe fn term_of<'a>(ptr: *const erldp_term) -> Outcome<&'a Term> {
    // SAFETY: NULL or a pointer from `to_handle` into a live tree (the
    // pointer contract).
    unsafe { ffi::handle(ptr.cast::<Term>()) }
}

fn wrong_type(term: &Term, wanted: &str) -> crate::status::Failure {
    invalid(format!(
        "the term is {}, not {wanted}",
        ffi::type_name(term)
    ))
}

/// `ffi::read` for a term of a tree: a term of the wrong type writes
/// nothing.
unsafe fn read<O: Outs>(
    term: *const erldp_term,
    out: O,
    value: impl FnOnce(&Term) -> Outcome<O::Value>,
) -> erldp_status {
    // SAFETY: NULL or a pointer from `to_handle` into a live tree (the
    // pointer contract).
    unsafe { ffi::read(term.cast::<Term>(), out, value) }
}

/// Parses Erlang term syntax into ETF, written to `*out`: atoms (quoted
/// too), integers of any size and base, `$c`, floats, strings, binaries
/// (`<<"bin">>`, `<<1,2>>`, `<<"héllo"/utf8>>`), lists, improper lists,
/// tuples, maps, `fun M:F/A`, and the `#Pid<...>`, `#Ref<...>`,
/// `#Port<...>` and `#Fun<...>` forms `erldp_term_format` writes. A final
/// `.` is optional. `ERLDP_ERR_PARSE` names the byte offset of an error.
#[no_mangle]
pub unsafe extern "C" fn erldp_term_parse(
    text: *const c_char,
    out: *mut *mut erldp_buf,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let text = unsafe { ffi::str(text, "text") }?;
        let out = unsafe { ffi::out(out, "out") }?;
        let term: Term = text.parse().context("text")?;
        ffi::write(out, erldp_buf::encoded(&term)?);
        Ok(())
    })
}

/// Writes the term in ETF at `etf` in Erlang syntax, as a new string in
/// `*out` (free it with `erldp_string_free`). Erlang reads the text back to
/// an equal term, except for pids, ports, references and local funs, which
/// have no Erlang syntax and are written in forms `erldp_term_parse` reads.
#[no_mangle]
pub unsafe extern "C" fn erldp_term_format(
    etf: *const u8,
    len: usize,
    out: *mut *mut c_char,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let term = unsafe { ffi::term(etf, len, "etf") }?;
        let out = unsafe { ffi::out(out, "out") }?;
        let text = CString::new(term.to_string())
            .map_err(|_| invalid("the term's text holds a NUL byte"))?;
        ffi::write(out, text.into_raw());
        Ok(())
    })
}

/// Frees a string the library allocated (`erldp_term_format`). NULL is
/// ignored.
#[no_mangle]
pub unsafe extern "C" fn erldp_string_free(text: *mut c_char) {
    guard_value((), || {
        if !text.is_null() {
            // SAFETY: a string from `CString::into_raw`, freed once (the
            // pointer contract).
            drop(unsafe { CString::from_raw(text) });
        }
        Ok(())
    })
}

/// Compares two terms (ETF) in Erlang's term order and writes -1, 0 or 1 to
/// `*order`; 0 means exactly equal (`=:=`, so `1` and `1.0` differ).
/// Encodings that differ in bytes can be equal (atom encodings, map pair
/// order).
#[no_mangle]
pub unsafe extern "C" fn erldp_term_compare(
    a: *const u8,
    a_len: usize,
    b: *const u8,
    b_len: usize,
    order: *mut c_int,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let a = unsafe { ffi::term(a, a_len, "a") }?;
        let b = unsafe { ffi::term(b, b_len, "b") }?;
        let order = unsafe { ffi::out(order, "order") }?;
        let sign = match a.cmp(&b) {
            Ordering::Less => -1,
            Ordering::Equal => 0,
            Ordering::Greater => 1,
        };
        ffi::write(order, sign);
        Ok(())
    })
}

/// Decodes ETF for reading, writing the root of the tree to `*out` (free it
/// with `erldp_term_free`). Malformed bytes are `ERLDP_ERR_DECODE` with the
/// offset and cause.
#[no_mangle]
pub unsafe extern "C" fn erldp_term_decode(
    etf: *const u8,
    len: usize,
    out: *mut *mut erldp_term,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let term = unsafe { ffi::term(etf, len, "etf") }?;
        let out = unsafe { ffi::out(out, "out") }?;
        ffi::write(out, Box::into_raw(Box::new(term)).cast());
        Ok(())
    })
}

/// Frees a tree from `erldp_term_decode` (never an element of one). NULL is
/// ignored.
#[no_mangle]
pub unsafe extern "C" fn erldp_term_free(term: *mut erldp_term) {
    // SAFETY: NULL or a root from `erldp_term_decode` (the pointer
    // contract).
    unsafe { ffi::release(term.cast::<Term>(), drop) }
}

/// Encodes a term of a tree (the root or any element) as ETF on its own,
/// written to `*out`: e.g. the `From` of a `'$gen_call'` for
/// `erldp_reply`, or a pid to send to.
#[no_mangle]
pub unsafe extern "C" fn erldp_term_encode(
    term: *const erldp_term,
    out: *mut *mut erldp_buf,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe { read(term, Out(out, "out"), erldp_buf::encoded) }
}

/// The term's type; `ERLDP_TYPE_INVALID` for NULL.
#[no_mangle]
pub unsafe extern "C" fn erldp_term_type(term: *const erldp_term) -> erldp_type {
    guard_value(erldp_type::ERLDP_TYPE_INVALID, || {
        // SAFETY: arguments follow the pointer contract.
        Ok(match unsafe { term_of(term) }? {
            Term::Atom(_) => erldp_type::ERLDP_TYPE_ATOM,
            Term::Int(_) => erldp_type::ERLDP_TYPE_INTEGER,
            Term::BigInt(_) => erldp_type::ERLDP_TYPE_BIGINT,
            Term::Float(_) => erldp_type::ERLDP_TYPE_FLOAT,
            Term::Binary(_) => erldp_type::ERLDP_TYPE_BINARY,
            Term::Bitstring(_) => erldp_type::ERLDP_TYPE_BITSTRING,
            Term::List(_) => erldp_type::ERLDP_TYPE_LIST,
            Term::ImproperList(..) => erldp_type::ERLDP_TYPE_IMPROPER_LIST,
            Term::Tuple(_) => erldp_type::ERLDP_TYPE_TUPLE,
            Term::Map(_) => erldp_type::ERLDP_TYPE_MAP,
            Term::Pid(_) => erldp_type::ERLDP_TYPE_PID,
            Term::Port(_) => erldp_type::ERLDP_TYPE_PORT,
            Term::Ref(_) => erldp_type::ERLDP_TYPE_REF,
            Term::Fun(_) => erldp_type::ERLDP_TYPE_FUN,
        })
    })
}

/// Copies an atom's text (UTF-8) with a terminating NUL into `buf` of
/// `size` bytes; `ERLDP_MAXATOMLEN` bytes hold any atom. A smaller buffer
/// that cannot hold this one is `ERLDP_ERR_ARG`.
#[no_mangle]
pub unsafe extern "C" fn erldp_term_get_atom(
    term: *const erldp_term,
    buf: *mut c_char,
    size: usize,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let term = unsafe { term_of(term) }?;
        if buf.is_null() {
            return Err(invalid("buf is NULL"));
        }
        let Term::Atom(atom) = term else {
            return Err(wrong_type(term, "an atom"));
        };
        let text = atom.as_str().as_bytes();
        if text.len() >= size {
            return Err(invalid(format!(
                "the atom needs {} bytes with its NUL, buf has {size}",
                text.len() + 1
            )));
        }
        // SAFETY: `buf` is valid for `size` bytes (the pointer contract),
        // more than the text and its NUL.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
            buf.add(text.len()).write(0);
        }
        Ok(())
    })
}

/// Reads an integer that fits in 64 bits (`ERLDP_TYPE_INTEGER`).
#[no_mangle]
pub unsafe extern "C" fn erldp_term_get_long(
    term: *const erldp_term,
    value: *mut i64,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        read(term, Out(value, "value"), |term| match term {
            Term::Int(int) => Ok(*int),
            Term::BigInt(_) => Err(invalid(
                "the integer does not fit in 64 bits; read it with erldp_term_get_bigint",
            )),
            other => Err(wrong_type(other, "an integer")),
        })
    }
}

/// Reads an integer that does not fit in 64 bits (`ERLDP_TYPE_BIGINT`): its
/// sign, and its magnitude as little-endian bytes borrowed from the tree.
#[no_mangle]
pub unsafe extern "C" fn erldp_term_get_bigint(
    term: *const erldp_term,
    negative: *mut bool,
    magnitude: *mut *const u8,
    len: *mut usize,
) -> erldp_status {
    let out = (
        Out(negative, "negative"),
        (Out(magnitude, "magnitude"), Out(len, "len")),
    );
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        read(term, out, |term| match term {
            Term::BigInt(big) => Ok((big.negative, (big.magnitude.as_ptr(), big.magnitude.len()))),
            Term::Int(_) => Err(invalid(
                "the integer fits in 64 bits; read it with erldp_term_get_long",
            )),
            other => Err(wrong_type(other, "an integer")),
        })
    }
}

/// Reads a float.
#[no_mangle]
pub unsafe extern "C" fn erldp_term_get_double(
    term: *const erldp_term,
    value: *mut f64,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        read(term, Out(value, "value"), |term| match term {
            Term::Float(float) => Ok(*float),
            other => Err(wrong_type(other, "a float")),
        })
    }
}

/// Reads a binary: its bytes, borrowed from the tree, and their number.
/// `*data` may be any non-NULL pointer when `*len` is 0.
#[no_mangle]
pub unsafe extern "C" fn erldp_term_get_binary(
    term: *const erldp_term,
    data: *mut *const u8,
    len: *mut usize,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        read(
            term,
            (Out(data, "data"), Out(len, "len")),
            |term| match term {
                Term::Binary(bytes) => Ok((bytes.as_ptr(), bytes.len())),
                other => Err(wrong_type(other, "a binary")),
            },
        )
    }
}

/// Reads a bitstring (`ERLDP_TYPE_BITSTRING`): its bytes, borrowed from the
/// tree, most significant bit first, and its length in bits; the bytes
/// number `(*bits + 7) / 8` and unused low bits of the last are zero.
#[no_mangle]
pub unsafe extern "C" fn erldp_term_get_bitstring(
    term: *const erldp_term,
    data: *mut *const u8,
    bits: *mut usize,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        read(
            term,
            (Out(data, "data"), Out(bits, "bits")),
            |term| match term {
                Term::Bitstring(bitstring) => Ok((
                    bitstring.bytes.as_ptr(),
                    (bitstring.bytes.len() - 1) * 8 + usize::from(bitstring.bits),
                )),
                other => Err(wrong_type(other, "a bitstring")),
            },
        )
    }
}

/// The number of elements of a tuple or list (for an improper list: before
/// the tail), or of key/value pairs of a map.
#[no_mangle]
pub unsafe extern "C" fn erldp_term_get_size(
    term: *const erldp_term,
    size: *mut usize,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        read(term, Out(size, "size"), |term| match term {
            Term::Tuple(elements) | Term::List(elements) | Term::ImproperList(elements, _) => {
                Ok(elements.len())
            }
            Term::Map(pairs) => Ok(pairs.len()),
            other => Err(wrong_type(other, "a tuple, list or map")),
        })
    }
}

/// Element `index` (from 0) of a tuple or list, borrowed from the tree.
#[no_mangle]
pub unsafe extern "C" fn erldp_term_get_element(
    term: *const erldp_term,
    index: usize,
    element: *mut *const erldp_term,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        read(term, Out(element, "element"), |term| {
            let elements = match term {
                Term::Tuple(elements) | Term::List(elements) | Term::ImproperList(elements, _) => {
                    elements
                }
                other => return Err(wrong_type(other, "a tuple or list")),
            };
            let found = elements.get(index).ok_or_else(|| {
                invalid(format!(
                    "index {index} is past the {} elements",
                    elements.len()
                ))
            })?;
            Ok(to_handle(found))
        })
    }
}

/// The tail of an improper list (`[a | b]` has the tail `b`), borrowed from
/// the tree.
#[no_mangle]
pub unsafe extern "C" fn erldp_term_get_tail(
    term: *const erldp_term,
    tail: *mut *const erldp_term,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        read(term, Out(tail, "tail"), |term| match term {
            Term::ImproperList(_, last) => Ok(to_handle(last)),
            other => Err(wrong_type(other, "an improper list")),
        })
    }
}

/// Pair `index` (from 0) of a map, key and value borrowed from the tree.
/// Pairs come in the order they were encoded.
#[no_mangle]
pub unsafe extern "C" fn erldp_term_get_pair(
    term: *const erldp_term,
    index: usize,
    key: *mut *const erldp_term,
    value: *mut *const erldp_term,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        read(term, (Out(key, "key"), Out(value, "value")), |term| {
            let Term::Map(pairs) = term else {
                return Err(wrong_type(term, "a map"));
            };
            let (k, v) = pairs.get(index).ok_or_else(|| {
                invalid(format!("index {index} is past the {} pairs", pairs.len()))
            })?;
            Ok((to_handle(k), to_handle(v)))
        })
    }
}
