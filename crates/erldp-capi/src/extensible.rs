//! Options structs that can grow without breaking programs built against
//! an older or newer header, the way Linux's extensible syscall structs
//! (`openat2`'s `open_how`, `clone3`'s `clone_args`) do: the struct's first
//! field, `struct_size`, is its size as the program was compiled. The
//! header's `*_init` macros pass `sizeof` to the library's `*_init_size`,
//! which writes that many bytes. A library reading a struct larger than
//! its own takes the bytes past its fields only when they are zero, so
//! every field appended after the first layout must have 0 as its default;
//! a library reading a smaller (older) struct leaves the fields it lacks at
//! their defaults.

use std::mem::size_of;

use crate::ffi;
use crate::status::{invalid, Outcome};

/// How much larger than ours a struct from a newer header may be; more is
/// taken for a `struct_size` that is not a size at all.
const MAX_GROWTH: usize = 4096;

/// A `#[repr(C)]` options struct whose first field is `struct_size: usize`.
///
/// # Safety
/// `Self` is `#[repr(C)]` and begins with that field.
pub(crate) unsafe trait Extensible: Default {
    /// Its name in the header, for messages.
    const NAME: &'static str;
    /// The size of its first layout. Today's layout is the first; when a
    /// field is appended, this stays today's size, and the new field is
    /// read only from structs whose `struct_size` covers it.
    const FIRST_SIZE: usize = size_of::<Self>();
}

/// Checks a size a program gives for `T`, the `struct_size` of its struct
/// or the argument of `*_init_size`.
fn check_size<T: Extensible>(size: usize) -> Outcome {
    if size < T::FIRST_SIZE || size > size_of::<T>() + MAX_GROWTH {
        return Err(invalid(format!(
            "struct_size {size} is not the size of an {} ({} bytes): fill it with {}_init",
            T::NAME,
            size_of::<T>(),
            T::NAME
        )));
    }
    Ok(())
}

/// `*_init_size`: the defaults for a struct of `size` bytes, the fields a
/// newer header added past ours zeroed (their default).
///
/// # Safety
/// `ptr` is NULL or valid for writing `size` bytes.
pub(crate) unsafe fn init<T: Extensible>(ptr: *mut T, size: usize) -> Outcome {
    // SAFETY: forwarded from the caller.
    let out = unsafe { ffi::out(ptr, "options") }?;
    check_size::<T>(size)?;
    ffi::write(out, T::default());
    // SAFETY: the struct is `size` bytes (the caller's contract) and the
    // first field is `struct_size`.
    unsafe {
        if let Some(newer) = size.checked_sub(size_of::<T>()) {
            ptr.cast::<u8>().add(size_of::<T>()).write_bytes(0, newer);
        }
        ptr.cast::<usize>().write(size);
    }
    Ok(())
}

/// Checks a struct a program passed before its fields are read: its
/// `struct_size` is a size of `T`, and the fields a newer header added past
/// ours, which this library cannot honour, are at their default.
///
/// # Safety
/// `ptr` is non-NULL and valid for reading its `struct_size` bytes.
pub(crate) unsafe fn check<T: Extensible>(ptr: *const T) -> Outcome {
    // SAFETY: the first field is `struct_size`.
    let size = unsafe { ptr.cast::<usize>().read() };
    check_size::<T>(size)?;
    let ours = size_of::<T>();
    if size <= ours {
        return Ok(());
    }
    // SAFETY: the struct is `size` bytes (the caller's contract).
    let newer = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>().add(ours), size - ours) };
    if let Some(at) = newer.iter().position(|&byte| byte != 0) {
        return Err(invalid(format!(
            "{} sets a field at byte {} that this libErlDP {} does not know: the program was \
             built with a newer erldp.h than the library it runs with",
            T::NAME,
            ours + at,
            env!("CARGO_PKG_VERSION")
        )));
    }
    Ok(())
}
