//! `ErlDP::Exposed`: a module that `rpc:call`, `erpc:call` and remote
//! `spawn` reach, answered by a block on Ruby threads; and the `Node`
//! methods that expose and unexpose. Like `ErlDP::Served` (`served.rs`),
//! with calls that may overlap up to `concurrency`.

use erldp::{Atom, Invocation};
use magnus::{method, prelude::*, Error, RModule, Ruby, Symbol, TypedData, Value};

use crate::args;
use crate::convert::to_ruby;
use crate::errors::raise;
use crate::handoff::{Handle, Handoff, Queue, Work};
use crate::node::Node;
use crate::served::options;

#[magnus::wrap(class = "ErlDP::Exposed", size)]
pub(crate) struct Exposed {
    /// Its `close` stops exposing: the module is `undef` again for new
    /// calls.
    handle: Handle<erldp::Exposed, Invocation>,
    module: Atom,
}

/// `function, args`.
impl Work for Invocation {
    fn ruby_values(&self, ruby: &Ruby) -> Result<[Value; 2], Error> {
        // Each argument goes into the Array as it is made: in a Rust `Vec`
        // the GC would not see the earlier ones while it makes the next.
        let args = ruby.ary_new_capa(self.args.len());
        for arg in &self.args {
            args.push(to_ruby(ruby, arg)?)?;
        }
        Ok([
            ruby.to_symbol(self.function.as_str()).as_value(),
            args.as_value(),
        ])
    }
}

impl Exposed {
    pub(crate) fn handoff(&self) -> &dyn Handoff {
        &self.handle
    }

    fn name(ruby: &Ruby, rb_self: &Self) -> Symbol {
        ruby.to_symbol(rb_self.module.as_str())
    }

    fn inspect(&self) -> String {
        format!("#<ErlDP::Exposed {}>", self.module.as_str())
    }
}

/// `node.expose`'s native half: the Ruby half starts the threads.
fn expose(
    ruby: &Ruby,
    rb_self: &Node,
    module: Value,
    concurrency: usize,
    max_queue: Option<usize>,
) -> Result<Exposed, Error> {
    let module = args::name(ruby, module, "module")?;
    let queue = Queue::new();
    let exposed = rb_self
        .core(ruby)?
        .expose_handoff(&module, options(concurrency, max_queue), queue.dispatch())
        .map_err(|err| raise(ruby, err))?;
    Ok(Exposed {
        module: exposed.module(),
        handle: Handle::new(exposed, queue),
    })
}

/// Stops exposing a module that no `ErlDP::Exposed` of this program holds.
fn unexpose(ruby: &Ruby, rb_self: &Node, module: Value) -> Result<bool, Error> {
    let module = args::name(ruby, module, "module")?;
    Ok(rb_self.core(ruby)?.unexpose(&module))
}

pub(crate) fn define(ruby: &Ruby, module: RModule) -> Result<(), Error> {
    // Handles come from `Node#expose`.
    let class = crate::native_class(ruby, module, "Exposed")?;
    class.define_method("name", method!(Exposed::name, 0))?;
    crate::define_inspect(class, method!(Exposed::inspect, 0))?;

    let node = Node::class(ruby);
    node.define_private_method("native_expose", method!(expose, 3))?;
    node.define_private_method("native_unexpose", method!(unexpose, 1))?;
    Ok(())
}
