//! `ErlDP::Elixir.module` and `ErlDP::Elixir.alias`: the core's rule for
//! Elixir module names (`erldp::elixir`). The rest of `ErlDP::Elixir` is
//! plain Ruby, in `lib/erldp/elixir.rb`.

use magnus::{function, prelude::*, Error, RModule, Ruby, Symbol, Value};

use crate::args;

/// `ErlDP::Elixir.module("MyApp.Api")`: `:"Elixir.MyApp.Api"`; other names
/// (`:lists`) as they are, as Symbols.
fn module(ruby: &Ruby, name: Value) -> Result<Symbol, Error> {
    let name = args::name(ruby, name, "module name")?;
    Ok(ruby.to_symbol(erldp::elixir::module(&name)))
}

/// `ErlDP::Elixir.alias(:"Elixir.MyApp.Api")`: `"MyApp.Api"`, or `nil` for
/// a module that is not Elixir's.
fn alias(ruby: &Ruby, module: Value) -> Result<Option<String>, Error> {
    let module = args::name(ruby, module, "module name")?;
    Ok(erldp::elixir::alias(&module).map(str::to_string))
}

pub(crate) fn define(parent: RModule) -> Result<(), Error> {
    let elixir = parent.define_module("Elixir")?;
    elixir.define_module_function("module", function!(module, 1))?;
    elixir.define_module_function("alias", function!(alias, 1))?;
    Ok(())
}
