//! The C ABI of ErlDP: `libErlDP.so` / `libErlDP.a` and `include/erldp.h`.
//!
//! It follows the conventions of rustls-ffi and hyper's C API: every type is
//! an opaque handle or a plain `#[repr(C)]` value, every name starts with
//! `erldp_`, every call that can fail returns an [`erldp_status`] and writes
//! its results through out-pointers only when it succeeds, the thread's last
//! failure is described by [`erldp_last_error`], and each allocation handed
//! out has exactly one `*_free` (or `*_close`). No panic crosses the
//! boundary: each entry point runs under `catch_unwind` and reports one as
//! `ERLDP_PANIC`.
//!
//! Terms cross as External Term Format bytes; [`term`] parses and prints
//! Erlang syntax and reads ETF without ei, [`buf`] builds it.
//!
//! Pointer contract (the header repeats it): pointer arguments may be NULL
//! (that is an `ERLDP_ERR_ARG`), but a non-NULL pointer must be valid for
//! what the function reads or writes, strings must be NUL-terminated, and a
//! handle must not be used after it was freed. The functions are `unsafe`
//! for that reason alone; the header documents each one, so the Rust-side
//! `# Safety` sections would only repeat this paragraph.
#![allow(non_snake_case)] // the library is named ErlDP, as C linkers see it
#![allow(non_camel_case_types)] // types carry their C names
#![allow(clippy::missing_safety_doc)]
#![warn(unsafe_op_in_unsafe_fn)]

mod extensible;
mod ffi;
mod fork;

pub mod buf;
pub mod cluster;
pub mod log;
pub mod mailbox;
pub mod message;
pub mod node;
pub mod serve;
pub mod status;
pub mod term;

pub use buf::erldp_buf;
pub use log::{erldp_log_callback, erldp_log_level};
pub use mailbox::erldp_mailbox;
pub use message::{erldp_message, erldp_msg_kind};
pub use node::{erldp_epmd_mode, erldp_node, erldp_node_options};
pub use serve::{
    erldp_exposed, erldp_req_kind, erldp_request, erldp_serve_callback, erldp_serve_options,
    erldp_served,
};
pub use status::{erldp_last_error, erldp_status};
pub use term::{erldp_term, erldp_type};

/// Waits without a time limit, where a timeout in milliseconds is asked for.
pub const ERLDP_INFINITY: u32 = u32::MAX;

/// The longest atom text in bytes, plus the terminating NUL: 255 characters
/// of up to 4 UTF-8 bytes each. A buffer of this size holds any atom
/// `erldp_term_get_atom` can return.
pub const ERLDP_MAXATOMLEN: usize = 255 * 4 + 1;

/// The library's version, `"MAJOR.MINOR.PATCH"`, as a static string. Compare
/// with the `ERLDP_VERSION` macro of the header a program was compiled with.
#[no_mangle]
pub extern "C" fn erldp_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    /// The header promises that nodes and mailboxes may be used from several
    /// threads at once.
    #[test]
    fn handles_shared_between_threads_are_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<crate::erldp_node>();
        shared::<crate::erldp_mailbox>();
        shared::<crate::erldp_served>();
        shared::<crate::erldp_exposed>();
    }
}
