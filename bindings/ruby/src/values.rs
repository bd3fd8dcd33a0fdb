//! `ErlDP::Pid`, `ErlDP::Ref`, `ErlDP::Port` and `ErlDP::Opaque`: Erlang
//! identifiers and funs as frozen Ruby value objects.
//!
//! They wrap the core's types, so they go back on the wire exactly as they
//! came, and compare and hash like the Erlang values (`==`, `eql?` and
//! `hash` agree), which makes them usable as Hash keys. They cannot be made
//! from Ruby: they only come from a peer or a mailbox.

use magnus::{method, prelude::*, typed_data, Error, RClass, RModule, Ruby, Symbol, Value};

use erldp::{FunKind, Term};

macro_rules! value_class {
    ($rust:ident, $ruby:literal, $core:ty) => {
        #[magnus::wrap(class = $ruby, free_immediately, size, frozen_shareable)]
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub(crate) struct $rust(pub(crate) $core);

        impl $rust {
            /// A frozen Ruby object for `value`.
            pub(crate) fn wrap(ruby: &Ruby, value: $core) -> Value {
                let object = ruby.obj_wrap($rust(value)).as_value();
                object.freeze();
                object
            }

            fn to_s(&self) -> String {
                Term::from(self.0.clone()).to_string()
            }

            fn inspect(&self) -> String {
                format!("#<{} {}>", $ruby, self.to_s())
            }

            /// Defines the class under `module` with what every value class has.
            fn define(ruby: &Ruby, module: RModule, name: &str) -> Result<RClass, Error> {
                // Instances only come from the wire; `new` makes no sense.
                let class = crate::native_class(ruby, module, name)?;
                class.define_method("==", method!(<$rust as typed_data::IsEql>::is_eql, 1))?;
                class.define_method("eql?", method!(<$rust as typed_data::IsEql>::is_eql, 1))?;
                class.define_method("hash", method!(<$rust as typed_data::Hash>::hash, 0))?;
                class.define_method("to_s", method!($rust::to_s, 0))?;
                class.define_method("inspect", method!($rust::inspect, 0))?;
                Ok(class)
            }
        }
    };
}

value_class!(Pid, "ErlDP::Pid", erldp::Pid);
value_class!(Ref, "ErlDP::Ref", erldp::Ref);
value_class!(Port, "ErlDP::Port", erldp::Port);
value_class!(Opaque, "ErlDP::Opaque", erldp::Fun);

impl Pid {
    fn node(ruby: &Ruby, rb_self: &Self) -> Symbol {
        ruby.to_symbol(rb_self.0.node.as_str())
    }
}

impl Ref {
    fn node(ruby: &Ruby, rb_self: &Self) -> Symbol {
        ruby.to_symbol(rb_self.0.node.as_str())
    }
}

impl Port {
    fn node(ruby: &Ruby, rb_self: &Self) -> Symbol {
        ruby.to_symbol(rb_self.0.node.as_str())
    }
}

impl Opaque {
    /// `:export` for `fun Module:Function/Arity`, `:local` for a closure.
    fn kind(ruby: &Ruby, rb_self: &Self) -> Symbol {
        ruby.to_symbol(match rb_self.0.kind() {
            FunKind::Export => "export",
            FunKind::Local => "local",
        })
    }
}

pub(crate) fn define(ruby: &Ruby, module: RModule) -> Result<(), Error> {
    Pid::define(ruby, module, "Pid")?.define_method("node", method!(Pid::node, 0))?;
    Ref::define(ruby, module, "Ref")?.define_method("node", method!(Ref::node, 0))?;
    Port::define(ruby, module, "Port")?.define_method("node", method!(Port::node, 0))?;
    Opaque::define(ruby, module, "Opaque")?.define_method("kind", method!(Opaque::kind, 0))?;
    Ok(())
}
