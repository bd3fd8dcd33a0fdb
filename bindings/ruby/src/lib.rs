//! The native extension of the `erldp` gem: `ErlDP::Node`, `ErlDP::Mailbox`
//! and the Erlang value classes, on top of the `erldp` crate.
//!
//! The Ruby half (`ruby/lib`) defines the plain Ruby classes first (errors,
//! `Tuple`, `Bitstring`, `ImproperList`, `Message`), then loads this, then
//! adds keyword arguments and documentation to the classes defined here.

mod args;
mod cluster;
mod convert;
mod elixir;
mod errors;
mod exposed;
mod fiber;
mod fork;
mod global;
mod gvl;
mod handoff;
mod log;
mod mailbox;
mod node;
mod responder;
mod served;
mod values;

use magnus::method::Method;
use magnus::{function, prelude::*, Error, RClass, RModule, RString, Ruby, Value};

use crate::errors::raise;

#[magnus::init(name = "erldp")]
fn init(ruby: &Ruby) -> Result<(), Error> {
    let module = ruby.define_module("ErlDP")?;
    errors::init(ruby, module)?;
    values::define(ruby, module)?;
    node::define(ruby, module)?;
    mailbox::define(ruby, module)?;
    handoff::define(module)?;
    served::define(ruby, module)?;
    exposed::define(ruby, module)?;
    responder::define(ruby, module)?;
    global::define(ruby, module)?;
    cluster::define(ruby)?;
    elixir::define(module)?;
    log::define(module)?;
    module.define_module_function("term_to_binary", function!(term_to_binary, 1))?;
    module.define_module_function("binary_to_term", function!(binary_to_term, 1))?;
    Ok(())
}

/// Defines `ErlDP::<name>`, a class whose objects only the extension makes:
/// without an allocator, Ruby's `new` and `allocate` raise.
pub(crate) fn native_class(ruby: &Ruby, module: RModule, name: &str) -> Result<RClass, Error> {
    let class = module.define_class(name, ruby.class_object())?;
    class.undef_default_alloc_func();
    Ok(class)
}

/// Defines `inspect`, and `to_s` as the same method: how a handle shows
/// itself either way.
pub(crate) fn define_inspect(class: RClass, inspect: impl Method + Copy) -> Result<(), Error> {
    class.define_method("inspect", inspect)?;
    class.define_method("to_s", inspect)
}

/// `ErlDP.term_to_binary(value)`: the External Term Format bytes that
/// Erlang's `term_to_binary/1` gives for the same term.
fn term_to_binary(ruby: &Ruby, value: Value) -> Result<RString, Error> {
    let bytes = convert::encode(ruby, value).map_err(|err| raise(ruby, err))?;
    Ok(ruby.str_from_slice(&bytes))
}

/// `ErlDP.binary_to_term(bytes)`: the value of External Term Format bytes.
fn binary_to_term(ruby: &Ruby, bytes: RString) -> Result<Value, Error> {
    // SAFETY: decoding runs no Ruby code, so the string cannot change or
    // move while it is read.
    let term = erldp::term::decode(unsafe { bytes.as_slice() }).map_err(|err| raise(ruby, err))?;
    convert::to_ruby(ruby, &term)
}
