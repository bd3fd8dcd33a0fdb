//! `ErlDP::Served`: a name that BEAM calls, casts and sends to, answered by
//! a block on Ruby threads; and the `Node` methods that serve, unserve and
//! reply (and `Mailbox#reply`, for programs with a receive loop of their
//! own). The threads and the block are the Ruby half's
//! (`lib/erldp/serving.rb`); requests reach them through a [`Queue`].

use erldp::serve::ServeOptions;
use erldp::{Atom, Request, Term};
use magnus::{method, prelude::*, Error, RModule, Ruby, Symbol, TypedData, Value};

use crate::args;
use crate::convert::to_ruby;
use crate::errors::raise;
use crate::gvl::Trail;
use crate::handoff::{Handle, Handoff, Queue, Work};
use crate::mailbox::Mailbox;
use crate::node::{reaching, Node};
use crate::values::Pid;

#[magnus::wrap(class = "ErlDP::Served", size)]
pub(crate) struct Served {
    /// Dropping it stops serving: the name is unregistered and waiting
    /// calls exit `normal`; once running blocks have answered, monitors get
    /// `DOWN` and links an exit signal (reason `normal`).
    handle: Handle<erldp::Served, Request>,
    name: Atom,
    pid: erldp::Pid,
}

/// Options of `serve` and `expose` as the Ruby half passes them.
pub(crate) fn options(concurrency: usize, max_queue: Option<usize>) -> ServeOptions {
    let options = ServeOptions::new().concurrency(concurrency);
    match max_queue {
        Some(limit) => options.max_queue(limit),
        None => options,
    }
}

/// `request, from`: `from` is nil for a cast or a plain message.
impl Work for Request {
    fn ruby_values(&self, ruby: &Ruby) -> Result<[Value; 2], Error> {
        let message = to_ruby(ruby, &self.message)?;
        let from = match &self.from {
            Some(from) => to_ruby(ruby, from)?,
            None => ruby.qnil().as_value(),
        };
        Ok([message, from])
    }
}

impl Served {
    pub(crate) fn handoff(&self) -> &dyn Handoff {
        &self.handle
    }

    fn pid(ruby: &Ruby, rb_self: &Self) -> Value {
        Pid::wrap(ruby, rb_self.pid)
    }

    fn name(ruby: &Ruby, rb_self: &Self) -> Symbol {
        ruby.to_symbol(rb_self.name.as_str())
    }

    fn inspect(&self) -> String {
        format!("#<ErlDP::Served {} {}>", self.name.as_str(), self.pid)
    }
}

/// `node.serve`'s native half: the Ruby half starts the threads.
fn serve(
    ruby: &Ruby,
    rb_self: &Node,
    name: Value,
    concurrency: usize,
    max_queue: Option<usize>,
) -> Result<Served, Error> {
    let name = args::name(ruby, name, "served name")?;
    let queue = Queue::new();
    let served = rb_self
        .core(ruby)?
        .serve_handoff(&name, options(concurrency, max_queue), queue.dispatch())
        .map_err(|err| raise(ruby, err))?;
    Ok(Served {
        name: served.name(),
        pid: served.pid(),
        handle: Handle::new(served, queue),
    })
}

/// Raises in a forked child of the node's process (`fork.rs`), before
/// `unserve` and `unexpose` look at the handles the Ruby half keeps.
fn check_owned(ruby: &Ruby, rb_self: &Node) -> Result<(), Error> {
    rb_self.core(ruby).map(drop)
}

/// Stops serving a name that no `ErlDP::Served` of this program holds.
fn unserve(ruby: &Ruby, rb_self: &Node, name: Value) -> Result<bool, Error> {
    let name = args::name(ruby, name, "served name")?;
    Ok(rb_self.core(ruby)?.unserve(&name))
}

/// `node.reply(from, value)`: answers a `gen_server:call` later, from any
/// thread, as `gen:reply/2` does.
fn reply(ruby: &Ruby, rb_self: &Node, from: Value, value: Value) -> Result<(), Error> {
    let from = args::term(ruby, from)?;
    let value = args::term(ruby, value)?;
    reply_to(ruby, rb_self.sender(ruby)?, &from, value)
}

/// `box.reply(from, value)`: `gen:reply/2` for a `{'$gen_call', From,
/// Request}` the mailbox received.
fn mailbox_reply(ruby: &Ruby, rb_self: &Mailbox, from: Value, value: Value) -> Result<(), Error> {
    let from = args::term(ruby, from)?;
    let value = args::term(ruby, value)?;
    reply_to(ruby, rb_self.sender(ruby)?, &from, value)
}

/// Sends the reply to `from` (`{Pid, Tag}`), connecting to the caller's
/// node first if its connection went.
pub(crate) fn reply_to(
    ruby: &Ruby,
    sender: (&erldp::Node, &Trail),
    from: &Term,
    value: Term,
) -> Result<(), Error> {
    let caller = match from.as_tuple() {
        Some([Term::Pid(pid), _]) => pid.node,
        _ => sender.0.name(),
    };
    let (replier, from) = (sender.0.clone(), from.clone());
    reaching(ruby, sender, caller, None, move || {
        replier.reply(&from, value)
    })
}

pub(crate) fn define(ruby: &Ruby, module: RModule) -> Result<(), Error> {
    // Handles come from `Node#serve`.
    let class = crate::native_class(ruby, module, "Served")?;
    class.define_method("pid", method!(Served::pid, 0))?;
    class.define_method("name", method!(Served::name, 0))?;
    crate::define_inspect(class, method!(Served::inspect, 0))?;

    let node = Node::class(ruby);
    node.define_private_method("native_serve", method!(serve, 3))?;
    node.define_private_method("native_unserve", method!(unserve, 1))?;
    node.define_private_method("native_check_owned", method!(check_owned, 0))?;
    node.define_method("reply", method!(reply, 2))?;
    Mailbox::class(ruby).define_method("reply", method!(mailbox_reply, 2))?;
    Ok(())
}
