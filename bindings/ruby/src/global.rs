//! `ErlDP::Global`: a name registered with `global`, as a destination
//! (`ErlDP::Global[:name]`), resolved to its pid at each send, call, cast or
//! monitor by the core ([`erldp::Dest::Global`]).

use erldp::Atom;
use magnus::{function, method, prelude::*, typed_data, Error, RModule, Ruby, Symbol, Value};

use crate::args;

#[magnus::wrap(class = "ErlDP::Global", free_immediately, size, frozen_shareable)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Global(pub(crate) Atom);

impl Global {
    /// `ErlDP::Global[name]`, frozen like the other value objects.
    fn of(ruby: &Ruby, name: Value) -> Result<Value, Error> {
        let name = args::name(ruby, name, "global name")?;
        let object = ruby.obj_wrap(Global(Atom::new(&name))).as_value();
        object.freeze();
        Ok(object)
    }

    fn name(ruby: &Ruby, rb_self: &Self) -> Symbol {
        ruby.to_symbol(rb_self.0.as_str())
    }

    fn inspect(ruby: &Ruby, rb_self: &Self) -> String {
        format!(
            "ErlDP::Global[{}]",
            ruby.to_symbol(rb_self.0.as_str()).inspect()
        )
    }
}

pub(crate) fn define(ruby: &Ruby, module: RModule) -> Result<(), Error> {
    let class = crate::native_class(ruby, module, "Global")?;
    class.define_singleton_method("[]", function!(Global::of, 1))?;
    class.define_method("name", method!(Global::name, 0))?;
    class.define_method("==", method!(<Global as typed_data::IsEql>::is_eql, 1))?;
    class.define_method("eql?", method!(<Global as typed_data::IsEql>::is_eql, 1))?;
    class.define_method("hash", method!(<Global as typed_data::Hash>::hash, 0))?;
    crate::define_inspect(class, method!(Global::inspect, 0))?;
    Ok(())
}
