//! `ErlDP::Mailbox`: the native half. Keyword arguments, defaults,
//! `each_message` and documentation are in `lib/erldp/mailbox.rb`.

use std::mem::ManuallyDrop;
use std::sync::mpsc;
use std::time::Instant;

use erldp::Atom;
use magnus::{method, prelude::*, Error, RModule, RString, Ruby, Symbol, Value};

use crate::convert::message_to_ruby;
use crate::errors::raise;
use crate::fork::{Owner, Refuse};
use crate::gvl::Trail;
use crate::node::{reaching, reaching_node, sending};
use crate::values::{Pid, Ref};
use crate::{args, fiber, gvl};

/// A mailbox stays open while its Ruby object lives: the core closes it
/// (with reason `normal`) when this is freed by the GC, except in a forked
/// child, where it is the parent's and is left alone. (A registered one is
/// kept alive by its node until closed: `lib/erldp/node.rb`.)
#[magnus::wrap(class = "ErlDP::Mailbox", size)]
pub(crate) struct Mailbox(ManuallyDrop<erldp::Mailbox>, Owner, Trail);

impl Drop for Mailbox {
    fn drop(&mut self) {
        if !self.1.forked() {
            // SAFETY: the field is not used again.
            drop(unsafe { ManuallyDrop::take(&mut self.0) });
        }
    }
}

impl Mailbox {
    pub(crate) fn new(mailbox: erldp::Mailbox) -> Mailbox {
        Mailbox(
            ManuallyDrop::new(mailbox),
            Owner::current(),
            Trail::default(),
        )
    }

    /// The mailbox, unless this is a forked child of its process.
    fn owned<'a>(ruby: &Ruby, rb_self: &'a Self) -> Result<&'a erldp::Mailbox, Error> {
        rb_self.1.check(ruby, "mailbox")?;
        Ok(&rb_self.0)
    }

    /// The mailbox, unless this is a forked child of its process.
    pub(crate) fn core(&self, ruby: &Ruby) -> Result<&erldp::Mailbox, Error> {
        Mailbox::owned(ruby, self)
    }

    /// The mailbox's node, and what the mailbox's sends left running (see
    /// [`Trail`]).
    pub(crate) fn sender(&self, ruby: &Ruby) -> Result<(&erldp::Node, &Trail), Error> {
        Ok((self.core(ruby)?.node(), &self.2))
    }

    fn pid(ruby: &Ruby, rb_self: &Self) -> Value {
        Pid::wrap(ruby, rb_self.0.pid())
    }

    fn name(ruby: &Ruby, rb_self: &Self) -> Option<Symbol> {
        rb_self.0.name().map(|name| ruby.to_symbol(name.as_str()))
    }

    fn receive(ruby: &Ruby, rb_self: &Self, timeout: Option<f64>) -> Result<Option<Value>, Error> {
        let mailbox = Mailbox::owned(ruby, rb_self)?;
        let deadline = args::deadline(ruby, timeout)?;
        // A message already queued needs no trip without the GVL.
        let queued = mailbox.try_recv().map_err(|err| raise(ruby, err))?;
        let received = match queued {
            Some(message) => Some(message),
            // `timeout: 0` polls.
            None if deadline.is_some_and(|deadline| Instant::now() >= deadline) => None,
            None if fiber::active() => {
                fiber::receive(ruby, &rb_self.0, deadline)?.map_err(|err| raise(ruby, err))?
            }
            None => take_when_ready(ruby, mailbox, deadline)?.map_err(|err| raise(ruby, err))?,
        };
        received
            .map(|message| message_to_ruby(ruby, &message))
            .transpose()
    }

    fn send_message(ruby: &Ruby, rb_self: &Self, dest: Value, message: Value) -> Result<(), Error> {
        let mailbox = Mailbox::owned(ruby, rb_self)?;
        let dest = args::dest(ruby, dest)?;
        let message = args::term(ruby, message)?;
        let sender = mailbox.clone();
        sending(
            ruby,
            rb_self.sender(ruby)?,
            dest.node(),
            message,
            move |message| sender.send(&dest, message),
        )
    }

    fn link(ruby: &Ruby, rb_self: &Self, pid: &Pid) -> Result<(), Error> {
        Mailbox::linking(ruby, rb_self, pid, erldp::Mailbox::link)
    }

    fn unlink(ruby: &Ruby, rb_self: &Self, pid: &Pid) -> Result<(), Error> {
        Mailbox::linking(ruby, rb_self, pid, erldp::Mailbox::unlink)
    }

    /// `link` or `unlink` (`op`) of the process `pid`, once its node is
    /// reached.
    fn linking(
        ruby: &Ruby,
        rb_self: &Self,
        pid: &Pid,
        op: fn(&erldp::Mailbox, erldp::Pid) -> erldp::Result<()>,
    ) -> Result<(), Error> {
        let (mailbox, pid) = (Mailbox::owned(ruby, rb_self)?, pid.0);
        let linker = mailbox.clone();
        reaching(ruby, rb_self.sender(ruby)?, pid.node, None, move || {
            op(&linker, pid)
        })
    }

    /// A process (Pid or `[name, node]`) gives a monitor Ref; a node name
    /// (Symbol or String) monitors that node and gives its name back as a
    /// Symbol, so that `demonitor` takes either.
    fn monitor(ruby: &Ruby, rb_self: &Self, target: Value) -> Result<Value, Error> {
        let mailbox = Mailbox::owned(ruby, rb_self)?;
        if Symbol::from_value(target).is_some() || RString::from_value(target).is_some() {
            let name = args::name(ruby, target, "node name")?;
            let node = ruby.to_symbol(&name);
            let monitor = mailbox.clone();
            reaching_node(ruby, rb_self.sender(ruby)?, Atom::new(&name), move || {
                monitor.monitor_node(&name)
            })?;
            return Ok(node.as_value());
        }
        let dest = args::dest(ruby, target)?;
        let monitor = mailbox.clone();
        let reference = reaching(ruby, rb_self.sender(ruby)?, dest.node(), None, move || {
            monitor.monitor(&dest)
        })?;
        Ok(Ref::wrap(ruby, reference))
    }

    fn demonitor(ruby: &Ruby, rb_self: &Self, monitor: Value) -> Result<(), Error> {
        let mailbox = Mailbox::owned(ruby, rb_self)?;
        let done =
            if Symbol::from_value(monitor).is_some() || RString::from_value(monitor).is_some() {
                mailbox.demonitor_node(&args::name(ruby, monitor, "node name")?)
            } else {
                let reference = <&Ref>::try_convert(monitor)?;
                mailbox.demonitor(reference.0)
            };
        done.map_err(|err| raise(ruby, err))
    }

    fn close(ruby: &Ruby, rb_self: &Self, reason: Value) -> Result<(), Error> {
        if rb_self.1.forked() {
            return Ok(());
        }
        let reason = args::term(ruby, reason)?;
        // A send an interrupt left running goes first: a process's exit
        // signal comes after its messages. Interrupted in that wait, the
        // mailbox closes all the same before the interrupt is raised.
        let waited = if rb_self.0.is_closed() {
            Ok(())
        } else {
            rb_self.2.follow_all(ruby)
        };
        rb_self.0.close(reason);
        waited
    }

    /// Whether the node may let go of the mailbox after `close`: it closed
    /// (an interrupt may have ended the wait before it, not the close), or
    /// it is the parent's, in a forked child. Not `closed?`, which raises
    /// in a forked child.
    fn is_released(rb_self: &Self) -> bool {
        rb_self.1.forked() || rb_self.0.is_closed()
    }

    fn is_closed(ruby: &Ruby, rb_self: &Self) -> Result<bool, Error> {
        Ok(Mailbox::owned(ruby, rb_self)?.is_closed())
    }

    fn queue_length(ruby: &Ruby, rb_self: &Self) -> Result<usize, Error> {
        Ok(Mailbox::owned(ruby, rb_self)?.len())
    }

    fn queue_limit(ruby: &Ruby, rb_self: &Self) -> Result<Option<usize>, Error> {
        Ok(Mailbox::owned(ruby, rb_self)?.queue_limit())
    }

    fn set_queue_limit(ruby: &Ruby, rb_self: &Self, limit: Option<usize>) -> Result<(), Error> {
        Mailbox::owned(ruby, rb_self)?.set_queue_limit(limit);
        Ok(())
    }

    fn dropped(ruby: &Ruby, rb_self: &Self) -> Result<u64, Error> {
        Ok(Mailbox::owned(ruby, rb_self)?.dropped())
    }

    fn inspect(&self) -> String {
        match self.0.name() {
            Some(name) => format!("#<ErlDP::Mailbox {} {}>", name.as_str(), self.0.pid()),
            None => format!("#<ErlDP::Mailbox {}>", self.0.pid()),
        }
    }
}

/// Waits with the GVL released until a message is queued, then takes it
/// holding the GVL, as the fiber scheduler's receive does: an interrupt
/// (`Thread#raise`, `Timeout.timeout`) that lands as the wait ends, which
/// Ruby raises before giving the GVL back, finds the message still queued
/// for the next receive. Taken without the GVL, it was dropped with the
/// frames the exception unwound.
fn take_when_ready(
    ruby: &Ruby,
    mailbox: &erldp::Mailbox,
    deadline: Option<Instant>,
) -> Result<erldp::Result<Option<erldp::Message>>, Error> {
    loop {
        let ready = gvl::wait(ruby, deadline, |remaining, cancel| {
            let (put, ready) = mpsc::sync_channel(1);
            mailbox.when_ready(remaining, cancel, move |outcome| {
                let _ = put.send(outcome);
            });
            match ready.recv() {
                Ok(Ok(true)) => Some(Ok(())),
                Ok(Err(err)) => Some(Err(err)),
                // Timed out or cancelled.
                Ok(Ok(false)) | Err(_) => None,
            }
        })?;
        let taken = mailbox.try_recv();
        match (ready, taken) {
            // Another thread took it first: wait on.
            (Some(Ok(())), Ok(None)) => {}
            (Some(Err(err)), Ok(None)) => return Ok(Err(err)),
            (_, taken) => return Ok(taken),
        }
    }
}

pub(crate) fn define(ruby: &Ruby, module: RModule) -> Result<(), Error> {
    // Mailboxes come from `Node#mailbox`.
    let class = crate::native_class(ruby, module, "Mailbox")?;
    class.define_method("pid", method!(Mailbox::pid, 0))?;
    class.define_method("name", method!(Mailbox::name, 0))?;
    class.define_private_method("native_receive", method!(Mailbox::receive, 1))?;
    class.define_method("send_message", method!(Mailbox::send_message, 2))?;
    class.define_method("link", method!(Mailbox::link, 1))?;
    class.define_method("unlink", method!(Mailbox::unlink, 1))?;
    class.define_method("monitor", method!(Mailbox::monitor, 1))?;
    class.define_method("demonitor", method!(Mailbox::demonitor, 1))?;
    class.define_private_method("native_close", method!(Mailbox::close, 1))?;
    class.define_private_method("native_released?", method!(Mailbox::is_released, 0))?;
    class.define_method("closed?", method!(Mailbox::is_closed, 0))?;
    class.define_method("queue_length", method!(Mailbox::queue_length, 0))?;
    class.define_method("queue_limit", method!(Mailbox::queue_limit, 0))?;
    class.define_method("queue_limit=", method!(Mailbox::set_queue_limit, 1))?;
    class.define_method("dropped", method!(Mailbox::dropped, 0))?;
    crate::define_inspect(class, method!(Mailbox::inspect, 0))?;
    Ok(())
}
