//! `ErlDP::Mailbox`: the native half. Keyword arguments, defaults,
//! `each_message` and documentation are in `lib/erldp/mailbox.rb`.

use std::time::Instant;

use erldp::Atom;
use magnus::{method, prelude::*, Error, RModule, RString, Ruby, Symbol, Value};

use crate::convert::message_to_ruby;
use crate::errors::raise;
use crate::node::reaching;
use crate::values::{Pid, Ref};
use crate::{args, fiber, gvl};

/// A mailbox stays open while its Ruby object lives: the core closes it
/// (with reason `normal`) when this is freed by the GC.
#[magnus::wrap(class = "ErlDP::Mailbox", size)]
pub(crate) struct Mailbox(erldp::Mailbox);

impl Mailbox {
    pub(crate) fn new(mailbox: erldp::Mailbox) -> Mailbox {
        Mailbox(mailbox)
    }

    pub(crate) fn core(&self) -> &erldp::Mailbox {
        &self.0
    }

    fn pid(ruby: &Ruby, rb_self: &Self) -> Value {
        Pid::wrap(ruby, rb_self.0.pid())
    }

    fn name(ruby: &Ruby, rb_self: &Self) -> Option<Symbol> {
        rb_self.0.name().map(|name| ruby.to_symbol(name.as_str()))
    }

    fn receive(ruby: &Ruby, rb_self: &Self, timeout: Option<f64>) -> Result<Option<Value>, Error> {
        let deadline = args::deadline(ruby, timeout)?;
        // A message already queued needs no trip without the GVL.
        let queued = rb_self.0.try_recv().map_err(|err| raise(ruby, err))?;
        let received = match queued {
            Some(message) => Some(message),
            // `timeout: 0` polls.
            None if deadline.is_some_and(|deadline| Instant::now() >= deadline) => None,
            None if fiber::active() => {
                fiber::receive(ruby, &rb_self.0, deadline)?.map_err(|err| raise(ruby, err))?
            }
            None => {
                let mailbox = &rb_self.0;
                gvl::wait(ruby, deadline, |remaining, cancel| {
                    mailbox.recv_cancellable(remaining, cancel).transpose()
                })?
                .transpose()
                .map_err(|err| raise(ruby, err))?
            }
        };
        received
            .map(|message| message_to_ruby(ruby, &message))
            .transpose()
    }

    fn send_message(ruby: &Ruby, rb_self: &Self, dest: Value, message: Value) -> Result<(), Error> {
        let dest = args::dest(ruby, dest)?;
        let message = args::term(ruby, message)?;
        let mailbox = &rb_self.0;
        reaching(ruby, mailbox.node(), dest.node(), None, || {
            mailbox.send(&dest, message)
        })
    }

    fn link(ruby: &Ruby, rb_self: &Self, pid: &Pid) -> Result<(), Error> {
        let (mailbox, pid) = (&rb_self.0, pid.0);
        reaching(ruby, mailbox.node(), pid.node, None, || mailbox.link(pid))
    }

    fn unlink(ruby: &Ruby, rb_self: &Self, pid: &Pid) -> Result<(), Error> {
        let (mailbox, pid) = (&rb_self.0, pid.0);
        reaching(ruby, mailbox.node(), pid.node, None, || mailbox.unlink(pid))
    }

    /// A process (Pid or `[name, node]`) gives a monitor Ref; a node name
    /// (Symbol or String) monitors that node and gives its name back as a
    /// Symbol, so that `demonitor` takes either.
    fn monitor(ruby: &Ruby, rb_self: &Self, target: Value) -> Result<Value, Error> {
        let mailbox = &rb_self.0;
        if Symbol::from_value(target).is_some() || RString::from_value(target).is_some() {
            let name = args::name(ruby, target, "node name")?;
            let node = ruby.to_symbol(&name);
            reaching(ruby, mailbox.node(), Atom::new(&name), None, || {
                mailbox.monitor_node(&name)
            })?;
            return Ok(node.as_value());
        }
        let dest = args::dest(ruby, target)?;
        let reference = reaching(ruby, mailbox.node(), dest.node(), None, || {
            mailbox.monitor(&dest)
        })?;
        Ok(Ref::wrap(ruby, reference))
    }

    fn demonitor(ruby: &Ruby, rb_self: &Self, monitor: Value) -> Result<(), Error> {
        let done =
            if Symbol::from_value(monitor).is_some() || RString::from_value(monitor).is_some() {
                rb_self
                    .0
                    .demonitor_node(&args::name(ruby, monitor, "node name")?)
            } else {
                let reference = <&Ref>::try_convert(monitor)?;
                rb_self.0.demonitor(reference.0)
            };
        done.map_err(|err| raise(ruby, err))
    }

    fn close(ruby: &Ruby, rb_self: &Self, reason: Value) -> Result<(), Error> {
        let reason = args::term(ruby, reason)?;
        rb_self.0.close(reason);
        Ok(())
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    fn inspect(&self) -> String {
        match self.0.name() {
            Some(name) => format!("#<ErlDP::Mailbox {} {}>", name.as_str(), self.0.pid()),
            None => format!("#<ErlDP::Mailbox {}>", self.0.pid()),
        }
    }
}

pub(crate) fn define(ruby: &Ruby, module: RModule) -> Result<(), Error> {
    let class = module.define_class("Mailbox", ruby.class_object())?;
    // Mailboxes come from `Node#mailbox`.
    class.undef_default_alloc_func();
    class.define_method("pid", method!(Mailbox::pid, 0))?;
    class.define_method("name", method!(Mailbox::name, 0))?;
    class.define_private_method("native_receive", method!(Mailbox::receive, 1))?;
    class.define_method("send_message", method!(Mailbox::send_message, 2))?;
    class.define_method("link", method!(Mailbox::link, 1))?;
    class.define_method("unlink", method!(Mailbox::unlink, 1))?;
    class.define_method("monitor", method!(Mailbox::monitor, 1))?;
    class.define_method("demonitor", method!(Mailbox::demonitor, 1))?;
    class.define_private_method("native_close", method!(Mailbox::close, 1))?;
    class.define_method("closed?", method!(Mailbox::is_closed, 0))?;
    class.define_method("inspect", method!(Mailbox::inspect, 0))?;
    class.define_method("to_s", method!(Mailbox::inspect, 0))?;
    Ok(())
}
