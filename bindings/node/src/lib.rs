//! The native addon of the `erldp` npm package: napi-rs bindings of the
//! ErlDP core.
//!
//! The package's JavaScript (`node/`) holds the public API; this crate
//! gives it a node, mailboxes and term conversion. Nothing here blocks the
//! JavaScript thread: calls that may wait run on per-peer threads
//! (`lanes.rs`) and answers come back through a thread-safe function
//! (`node.rs`).

mod cluster;
mod convert;
mod error;
mod js;
mod lanes;
mod log;
mod mailbox;
mod node;
mod registry;
mod send;
mod serving;

// The package's functions that live in modules of their own.
pub use log::{log_from_env, set_log_callback, set_log_level};

use erldp::Term;
use napi::{Env, Result};
use napi_derive::napi;

use crate::convert::DecodeOptions;
use crate::js::{Js, Value};

/// Registers the package's classes and helpers (see `registry.rs`); called
/// once by `index.js` when it loads.
#[napi(catch_unwind)]
pub fn setup(env: Env, items: Value) -> Result<()> {
    registry::register(Js::new(env.raw()), items)
}

/// `term_to_binary`: the External Term Format of `value`, as a Buffer.
#[napi(catch_unwind)]
pub fn encode(env: Env, value: Value) -> Result<Value> {
    let js = Js::new(env.raw());
    let term = convert::from_js(js, value)?;
    let bytes = erldp::term::encode(&term).map_err(|err| error::throw(js, &err))?;
    js.buffer(&bytes)
}

/// `binary_to_term`: the value of External Term Format bytes.
#[napi(catch_unwind)]
pub fn decode(env: Env, bytes: Value, flags: u32) -> Result<Value> {
    let js = Js::new(env.raw());
    let Some(decoded) = js.with_uint8(bytes, erldp::term::decode)? else {
        return Err(error::invalid_argument(
            js,
            "decode takes a Buffer or Uint8Array",
        ));
    };
    let term = decoded.map_err(|err| error::throw(js, &err))?;
    convert::to_js(js, &term, DecodeOptions::from_flags(flags))
}

/// The module atom's text for a module named as Elixir code names it
/// (`MyApp.Api` → `Elixir.MyApp.Api`); see `erldp::elixir`.
#[napi(catch_unwind)]
pub fn elixir_module(name: String) -> String {
    erldp::elixir::module(&name)
}

/// The Elixir alias of a module atom's text (`Elixir.MyApp.Api` →
/// `MyApp.Api`), or `undefined`.
#[napi(catch_unwind)]
pub fn elixir_alias(module: String) -> Option<String> {
    erldp::elixir::alias(&module).map(str::to_string)
}

/// `value` in Erlang syntax, as the core prints terms.
#[napi(catch_unwind)]
pub fn format(env: Env, value: Value) -> Result<String> {
    let term: Term = convert::from_js(Js::new(env.raw()), value)?;
    Ok(term.to_string())
}
