//! `ErlDP::Exposed`: a module that `rpc:call`, `erpc:call` and remote
//! `spawn` reach, answered by a block on Ruby threads; and the `Node`
//! methods that expose and unexpose. Like `ErlDP::Served` (`served.rs`),
//! with calls that may overlap up to `concurrency`.

use std::sync::Arc;

use erldp::{Atom, Invocation};
use magnus::{method, prelude::*, Error, RArray, RModule, Ruby, Symbol, TypedData, Value};
use parking_lot::Mutex;

use crate::args;
use crate::convert::to_ruby;
use crate::errors::raise;
use crate::handoff::Queue;
use crate::node::Node;
use crate::responder::Responder;
use crate::served::options;

#[magnus::wrap(class = "ErlDP::Exposed", size)]
pub(crate) struct Exposed {
    /// The core's handle; dropped by `close`, which makes the module
    /// `undef` again.
    handle: Mutex<Option<erldp::Exposed>>,
    queue: Arc<Queue<Invocation>>,
    module: Atom,
}

impl Exposed {
    fn name(ruby: &Ruby, rb_self: &Self) -> Symbol {
        ruby.to_symbol(rb_self.module.as_str())
    }

    /// `[responder, function, args]` for the next call, waiting for it; nil
    /// once the module is no longer exposed.
    fn take(ruby: &Ruby, rb_self: &Self) -> Result<Option<RArray>, Error> {
        while let Some((invocation, responder)) = rb_self.queue.take(ruby)? {
            let args: Result<Vec<Value>, Error> = invocation
                .args
                .iter()
                .map(|arg| to_ruby(ruby, arg))
                .collect();
            match args {
                Ok(args) => {
                    let responder = ruby.obj_wrap(Responder::new(responder));
                    return Ok(Some(ruby.ary_new_from_values(&[
                        responder.as_value(),
                        ruby.to_symbol(invocation.function.as_str()).as_value(),
                        ruby.ary_new_from_values(&args).as_value(),
                    ])));
                }
                // A term Ruby cannot hold fails that call alone.
                Err(err) => {
                    responder.raise(erldp::Exception::new("ErlDP::DecodeError", err.to_string()))
                }
            }
        }
        Ok(None)
    }

    /// Takes no more requests: the threads' waits end, and requests
    /// handed over meanwhile are answered with the exception `erldp`.
    /// Running ones finish before [`close`](Self::close).
    fn stop(&self) {
        self.queue.close();
    }

    fn idle(&self) -> usize {
        self.queue.idle()
    }

    /// Stops exposing: the module is `undef` again for new calls.
    fn close(&self) {
        drop(self.handle.lock().take());
        self.queue.close();
    }

    fn is_closed(&self) -> bool {
        self.queue.is_closed()
            || self
                .handle
                .lock()
                .as_ref()
                .is_none_or(erldp::Exposed::is_closed)
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
    let dispatch = {
        let queue = Arc::clone(&queue);
        move |invocation, responder| queue.push(invocation, responder)
    };
    let handle = rb_self
        .core(ruby)?
        .expose_handoff(&module, options(concurrency, max_queue), dispatch)
        .map_err(|err| raise(ruby, err))?;
    Ok(Exposed {
        module: handle.module(),
        handle: Mutex::new(Some(handle)),
        queue,
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
    class.define_private_method("native_take", method!(Exposed::take, 0))?;
    class.define_private_method("native_idle", method!(Exposed::idle, 0))?;
    class.define_private_method("native_stop", method!(Exposed::stop, 0))?;
    class.define_private_method("native_close", method!(Exposed::close, 0))?;
    class.define_method("closed?", method!(Exposed::is_closed, 0))?;
    crate::define_inspect(class, method!(Exposed::inspect, 0))?;

    let node = Node::class(ruby);
    node.define_private_method("native_expose", method!(expose, 3))?;
    node.define_private_method("native_unexpose", method!(unexpose, 1))?;
    Ok(())
}
