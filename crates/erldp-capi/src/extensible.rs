//! Options structs that can grow without breaking programs built against
//! an older header, as libgit2's options structs do: the first field,
//! `version`, is the struct's version as the program was compiled (the
//! header's `*_init` macros pass `ERLDP_*_OPTIONS_VERSION` to the
//! library's `*_init_version`). A version names a layout, where a size
//! could not: a field a newer header appends may sit in what was the older
//! struct's tail padding and leave its size as it was.
//!
//! Adding a field: append it, raise the struct's `VERSION`, make its
//! [`Extensible::end_of`] say where each version ends, and make
//! `erldp_node_start` (or `erldp_serve_with`) read it only for programs of
//! that version or later, giving older ones its default: their structs end
//! before it. `*_init_version` writes a version's bytes and no more.

use std::ffi::c_uint;

use crate::status::{invalid, Outcome};

/// A `#[repr(C)]` options struct whose first field is `version: c_uint`.
///
/// # Safety
/// `Self` is `#[repr(C)]` and begins with that field.
pub(crate) unsafe trait Extensible: Default {
    /// Its name in the header, for messages.
    const NAME: &'static str;
    /// The version of its layout in this library: `ERLDP_*_OPTIONS_VERSION`.
    const VERSION: c_uint;
    /// How many bytes a struct of `version` (1 to `VERSION`) has: where
    /// its last field ends; the whole struct while it has one version.
    fn end_of(_version: c_uint) -> usize {
        std::mem::size_of::<Self>()
    }
}

/// Checks the version a program gives for `T`: the `version` of its struct
/// or the argument of `*_init_version`.
fn check_version<T: Extensible>(version: c_uint) -> Outcome {
    if version == 0 {
        return Err(invalid(format!(
            "{} has version 0: fill it with {}_init",
            T::NAME,
            T::NAME
        )));
    }
    if version > T::VERSION {
        return Err(invalid(format!(
            "{} version {version} is not one this libErlDP {} knows (up to {}): fill it with \
             {}_init, and run the program with the library of the erldp.h it was built with",
            T::NAME,
            env!("CARGO_PKG_VERSION"),
            T::VERSION,
            T::NAME
        )));
    }
    Ok(())
}

/// `*_init_version`: the defaults, in a struct of `version`.
///
/// # Safety
/// `ptr` is NULL or valid for writing a struct of `version`.
pub(crate) unsafe fn init<T: Extensible>(ptr: *mut T, version: c_uint) -> Outcome {
    if ptr.is_null() {
        return Err(invalid("options is NULL"));
    }
    check_version::<T>(version)?;
    // The defaults of the fields `version` has, then the caller's version,
    // which `check` and the reads go by: an older program's struct ends
    // before the fields appended since.
    let defaults = T::default();
    let len = T::end_of(version).min(std::mem::size_of::<T>());
    // SAFETY: non-NULL, and valid for writing the `len` bytes of a struct
    // of `version` (the caller's contract); `defaults` is a whole `T`, and
    // `version` its first field.
    unsafe {
        std::ptr::copy_nonoverlapping((&defaults as *const T).cast::<u8>(), ptr.cast::<u8>(), len);
        ptr.cast::<c_uint>().write(version);
    }
    Ok(())
}

/// Checks the version of a struct a program passed, before its fields are
/// read, and returns it: the fields of a later version are not there.
///
/// # Safety
/// `ptr` is non-NULL and valid for reading a struct of its `version`.
pub(crate) unsafe fn check<T: Extensible>(ptr: *const T) -> Outcome<c_uint> {
    // SAFETY: the first field is `version`.
    let version = unsafe { ptr.cast::<c_uint>().read() };
    check_version::<T>(version)?;
    Ok(version)
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use std::mem::{offset_of, size_of};

    use crate::node::{erldp_node_options, ERLDP_NODE_OPTIONS_VERSION};
    use crate::serve::{erldp_serve_options, ERLDP_SERVE_OPTIONS_VERSION};

    /// Where each struct's last field ends, and its size, in its version:
    /// a struct that changes must change its version too (see the module
    /// documentation), and this test with it.
    #[test]
    fn each_layout_is_that_of_its_version() {
        let layouts = [
            (
                "erldp_node_options",
                ERLDP_NODE_OPTIONS_VERSION,
                offset_of!(erldp_node_options, dist_port) + size_of::<u16>(),
                size_of::<erldp_node_options>(),
                (1, 130, 136),
            ),
            (
                "erldp_serve_options",
                ERLDP_SERVE_OPTIONS_VERSION,
                offset_of!(erldp_serve_options, on_reader) + size_of::<bool>(),
                size_of::<erldp_serve_options>(),
                (2, 13, 16),
            ),
        ];
        // Version 1 of erldp_serve_options ended after max_queue.
        assert_eq!(
            <erldp_serve_options as super::Extensible>::end_of(1),
            offset_of!(erldp_serve_options, max_queue) + size_of::<u32>()
        );
        for (name, version, end, size, expected) in layouts {
            assert_eq!(
                (version, end, size),
                expected,
                "{name} changed: raise its version (extensible.rs)"
            );
        }
    }
}
