//! `erldp_buf`: bytes the library hands out, and a builder of ETF terms in
//! the manner of ei's `ei_x_encode_*`, on the core's [`Writer`].

use std::ffi::c_char;

use erldp::term::encode::Writer;
use erldp::term::{self, Term};

use crate::ffi;
use crate::status::{erldp_status, guard, invalid, Context, Outcome};

/// Bytes owned by the library: an ETF term (version byte 131 first) that a
/// call produced, or one being built with the `erldp_encode_*` functions.
/// Read it with `erldp_buf_data` and `erldp_buf_len`; free it with
/// `erldp_buf_free`.
pub struct erldp_buf {
    bytes: Vec<u8>,
}

impl ffi::Handle for erldp_buf {
    const ARG: &'static str = "buf";
}

impl erldp_buf {
    pub(crate) fn boxed(bytes: Vec<u8>) -> *mut erldp_buf {
        Box::into_raw(Box::new(erldp_buf { bytes }))
    }

    /// A new buffer holding the encoding of `term`.
    pub(crate) fn encoded(term: &Term) -> Outcome<*mut erldp_buf> {
        Ok(erldp_buf::boxed(term::encode(term)?))
    }
}

/// The buffer's bytes, valid until the buffer is freed or appended to. NULL
/// for a NULL buffer.
#[no_mangle]
pub unsafe extern "C" fn erldp_buf_data(buf: *const erldp_buf) -> *const u8 {
    // SAFETY: NULL or a live buffer (the pointer contract).
    unsafe { ffi::get(buf, std::ptr::null(), |buf| buf.bytes.as_ptr()) }
}

/// The number of bytes in the buffer; 0 for a NULL buffer.
#[no_mangle]
pub unsafe extern "C" fn erldp_buf_len(buf: *const erldp_buf) -> usize {
    // SAFETY: NULL or a live buffer (the pointer contract).
    unsafe { ffi::get(buf, 0, |buf| buf.bytes.len()) }
}

/// Frees a buffer. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn erldp_buf_free(buf: *mut erldp_buf) {
    // SAFETY: NULL or a buffer the library allocated (the pointer contract).
    unsafe { ffi::release(buf, drop) }
}

/// What a new buffer holds before it grows: most messages fit, so building
/// one costs one allocation rather than a reallocation per doubling (ei's
/// `ei_x_new` starts at 100 bytes for the same reason).
const INITIAL_CAPACITY: usize = 128;

/// A new buffer for building a term: it holds just the version byte 131.
/// Append exactly one term with the `erldp_encode_*` functions (containers
/// take their elements from the calls that follow their header), then pass
/// `erldp_buf_data`/`erldp_buf_len` wherever ETF is expected. Incomplete
/// terms are caught there, as `ERLDP_ERR_DECODE`.
#[no_mangle]
pub unsafe extern "C" fn erldp_buf_new(out: *mut *mut erldp_buf) -> erldp_status {
    guard(|| {
        let out = unsafe { ffi::out(out, "out") }?;
        let mut bytes = Vec::with_capacity(INITIAL_CAPACITY);
        Writer::new(&mut bytes).version();
        ffi::write(out, erldp_buf::boxed(bytes));
        Ok(())
    })
}

/// Appends to `buf` with the core's writer (atoms in UTF-8, as ei writes
/// them); a failed append leaves the buffer as it was.
fn append(buf: *mut erldp_buf, write: impl FnOnce(&mut Writer<'_>) -> Outcome) -> erldp_status {
    guard(|| {
        // SAFETY: NULL or a live buffer (the pointer contract); nothing else
        // uses it during the call.
        let buf = unsafe { buf.as_mut() }.ok_or_else(|| invalid("buf is NULL"))?;
        write(&mut Writer::new(&mut buf.bytes).utf8_atoms())
    })
}

/// Appends the atom `name` (UTF-8, at most 255 characters; longer is
/// `ERLDP_ERR_ENCODE`).
#[no_mangle]
pub unsafe extern "C" fn erldp_encode_atom(
    buf: *mut erldp_buf,
    name: *const c_char,
) -> erldp_status {
    append(buf, |writer| {
        // SAFETY: NULL or a NUL-terminated string (the pointer contract).
        Ok(writer.atom_text(unsafe { ffi::str(name, "name") }?)?)
    })
}

/// Appends an integer.
#[no_mangle]
pub unsafe extern "C" fn erldp_encode_long(buf: *mut erldp_buf, value: i64) -> erldp_status {
    append(buf, |writer| {
        writer.int(value);
        Ok(())
    })
}

/// Appends an integer of any size: its sign and its magnitude as
/// little-endian bytes (the layout `erldp_term_get_bigint` returns).
#[no_mangle]
pub unsafe extern "C" fn erldp_encode_bigint(
    buf: *mut erldp_buf,
    negative: bool,
    magnitude: *const u8,
    len: usize,
) -> erldp_status {
    append(buf, |writer| {
        // SAFETY: NULL or `len` readable bytes (the pointer contract).
        let magnitude = unsafe { ffi::bytes(magnitude, len, "magnitude") }?;
        Ok(writer.bigint(negative, magnitude)?)
    })
}

/// Appends a float; NaN and infinities are `ERLDP_ERR_ENCODE`, as Erlang
/// has no such floats.
#[no_mangle]
pub unsafe extern "C" fn erldp_encode_double(buf: *mut erldp_buf, value: f64) -> erldp_status {
    append(buf, |writer| Ok(writer.float(value)?))
}

/// Appends a binary holding a copy of `len` bytes at `data`.
#[no_mangle]
pub unsafe extern "C" fn erldp_encode_binary(
    buf: *mut erldp_buf,
    data: *const u8,
    len: usize,
) -> erldp_status {
    append(buf, |writer| {
        // SAFETY: NULL or `len` readable bytes (the pointer contract).
        Ok(writer.binary(unsafe { ffi::bytes(data, len, "data") }?)?)
    })
}

/// Appends a bitstring of `bits` bits taken from `data`, most significant
/// bit first (`(bits + 7) / 8` bytes are read). A multiple of 8 bits is a
/// binary.
#[no_mangle]
pub unsafe extern "C" fn erldp_encode_bitstring(
    buf: *mut erldp_buf,
    data: *const u8,
    bits: usize,
) -> erldp_status {
    append(buf, |writer| {
        // SAFETY: NULL or `(bits + 7) / 8` readable bytes (the pointer contract).
        let bytes = unsafe { ffi::bytes(data, bits.div_ceil(8), "data") }?;
        Ok(writer.bitstring(bytes, bits)?)
    })
}

/// Appends a string as a binary of its UTF-8 bytes (an Elixir string).
#[no_mangle]
pub unsafe extern "C" fn erldp_encode_string(
    buf: *mut erldp_buf,
    text: *const c_char,
) -> erldp_status {
    append(buf, |writer| {
        // SAFETY: NULL or a NUL-terminated string (the pointer contract).
        Ok(writer.binary(unsafe { ffi::str(text, "text") }?.as_bytes())?)
    })
}

/// Appends a tuple header: the next `arity` terms appended are its elements.
#[no_mangle]
pub unsafe extern "C" fn erldp_encode_tuple_header(
    buf: *mut erldp_buf,
    arity: u32,
) -> erldp_status {
    append(buf, |writer| Ok(writer.tuple_header(arity as usize)?))
}

/// Appends a list header: the next `length` terms appended are its
/// elements, and the one after them its tail (`erldp_encode_nil` for a
/// proper list). A `length` of 0 appends the empty list itself, with no
/// tail to follow.
#[no_mangle]
pub unsafe extern "C" fn erldp_encode_list_header(
    buf: *mut erldp_buf,
    length: u32,
) -> erldp_status {
    append(buf, |writer| Ok(writer.list_header(length as usize)?))
}

/// Appends the empty list `[]`, the tail of a proper list.
#[no_mangle]
pub unsafe extern "C" fn erldp_encode_nil(buf: *mut erldp_buf) -> erldp_status {
    append(buf, |writer| {
        writer.nil();
        Ok(())
    })
}

/// Appends a map header: the next `2 * pairs` terms appended are its keys
/// and values, key first. Keys must differ.
#[no_mangle]
pub unsafe extern "C" fn erldp_encode_map_header(buf: *mut erldp_buf, pairs: u32) -> erldp_status {
    append(buf, |writer| Ok(writer.map_header(pairs as usize)?))
}

/// Appends a whole term given as ETF (version byte first), such as a pid
/// from `erldp_mailbox_pid` or a term from a message. Malformed bytes are
/// `ERLDP_ERR_DECODE` and append nothing.
#[no_mangle]
pub unsafe extern "C" fn erldp_encode_term(
    buf: *mut erldp_buf,
    etf: *const u8,
    len: usize,
) -> erldp_status {
    append(buf, |writer| {
        // SAFETY: NULL or `len` readable bytes (the pointer contract).
        let etf = unsafe { ffi::bytes(etf, len, "etf") }?;
        writer.etf(etf).context("etf")
    })
}
