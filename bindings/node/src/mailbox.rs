//! `NativeMailbox`: the mailbox behind the package's `erldp.Mailbox`.
//!
//! Receiving registers a callback with the core (`Mailbox::recv_async`)
//! that fires on the thread that delivers the message, or on the node's
//! timer thread at the timeout; nothing waits meanwhile. Links and monitors
//! may have to connect, so they run on the peer's lane, in order with the
//! messages sent to it.

use std::sync::Arc;

use erldp::sync::Mutex;
use erldp::{Atom, Dest, Mailbox, Term};
use napi::{Env, Result};
use napi_derive::napi;

use crate::convert::{self, from_js, DecodeOptions};
use crate::error;
use crate::js::{Js, Kind, Value};
use crate::node::{duration, Context, Outcome};
use crate::send;

#[napi]
pub struct NativeMailbox {
    pub(crate) mailbox: Mailbox,
    pub(crate) cx: Context,
    outstanding: Arc<Outstanding>,
}

/// The mailbox's calls that wait on their peers' lanes, and a `close` that
/// waits for them.
///
/// Sends, replies, links and monitors run on the lane of their peer
/// (`lanes.rs`) after the JavaScript call returned, while `close` would
/// send its exit signals at once: a message sent just before `close` was
/// then refused (the mailbox was closed when its lane got to it) or went
/// after the `EXIT`, where BEAM keeps one process's signals in order. So a
/// closed mailbox refuses new calls at once, and the core closes it when
/// the last call handed over before has run.
struct Outstanding {
    /// What the tickets close.
    mailbox: Mailbox,
    state: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    calls: usize,
    closing: bool,
    /// The reason of a `close` that waits for calls.
    reason: Option<Term>,
}

/// Held by a call of the mailbox until its lane has run it.
pub(crate) struct Ticket(Arc<Outstanding>);

impl Drop for Ticket {
    fn drop(&mut self) {
        let reason = {
            let mut pending = self.0.state.lock();
            pending.calls -= 1;
            if pending.calls == 0 {
                pending.reason.take()
            } else {
                None
            }
        };
        if let Some(reason) = reason {
            self.0.mailbox.close(reason);
        }
    }
}

/// What `monitor` and `demonitor` act on.
enum Target {
    Process(Dest),
    Node(String),
    Monitor(erldp::Ref),
}

impl NativeMailbox {
    pub(crate) fn new(mailbox: Mailbox, cx: Context) -> NativeMailbox {
        let outstanding = Arc::new(Outstanding {
            mailbox: mailbox.clone(),
            state: Mutex::default(),
        });
        NativeMailbox {
            mailbox,
            cx,
            outstanding,
        }
    }

    /// A ticket for a call to hand over, or `Closed` once `close` was
    /// called (whether or not the core has closed the mailbox yet).
    fn ticket(&self) -> erldp::Result<Ticket> {
        let mut pending = self.outstanding.state.lock();
        if pending.closing || self.mailbox.is_closed() {
            return Err(erldp::Error::Closed);
        }
        pending.calls += 1;
        Ok(Ticket(Arc::clone(&self.outstanding)))
    }

    /// Whether `close` was called, the core having closed the mailbox yet
    /// or not.
    fn is_closing(&self) -> bool {
        self.outstanding.state.lock().closing
    }

    /// `ECLOSED` once `close` was called.
    pub(crate) fn check_open(&self, js: Js) -> Result<()> {
        if self.closed() {
            return Err(error::throw(js, &erldp::Error::Closed));
        }
        Ok(())
    }

    /// [`ticket`](Self::ticket), or the `ECLOSED` error to throw.
    fn open_ticket(&self, js: Js) -> Result<Ticket> {
        self.ticket().map_err(|err| error::throw(js, &err))
    }

    /// A pid for `link`/`unlink`.
    fn pid_arg(js: Js, value: Value) -> Result<erldp::Pid> {
        match from_js(js, value)? {
            Term::Pid(pid) => Ok(pid),
            other => Err(error::invalid_argument(js, format!("{other} is not a pid"))),
        }
    }

    /// A node is named by an atom or a string; anything else is a process
    /// (pid or `[name, node]`) or, for `demonitor`, a monitor reference.
    fn target(js: Js, value: Value) -> Result<Target> {
        if matches!(js.kind(value)?, Kind::String | Kind::Symbol) {
            return Ok(Target::Node(convert::name_from_js(js, value, "node name")?));
        }
        if let Some(global) = convert::global_dest(js, value)? {
            return Ok(Target::Process(global));
        }
        match from_js(js, value)? {
            Term::Ref(reference) => Ok(Target::Monitor(reference)),
            term => Ok(Target::Process(convert::dest_from_term(js, term)?)),
        }
    }

    /// Runs a link or monitor operation on the lane of `peer` and settles
    /// request `id` with its outcome.
    pub(crate) fn request(
        &self,
        id: u32,
        peer: Atom,
        work: impl FnOnce(&Mailbox) -> erldp::Result<Outcome> + Send + 'static,
    ) {
        let reply = self.cx.reply.clone();
        let ticket = match self.ticket() {
            Ok(ticket) => ticket,
            Err(closed) => return reply.result(id, DecodeOptions::default(), Err(closed)),
        };
        self.cx.run(peer, move || {
            let result = work(&ticket.0.mailbox);
            drop(ticket);
            reply.result(id, DecodeOptions::default(), result)
        });
    }

    /// [`request`](Self::request) for `link` or `unlink` of the process
    /// `pid` names, which settles with nothing.
    fn pid_request(
        &self,
        env: Env,
        id: u32,
        pid: Value,
        op: fn(&Mailbox, erldp::Pid) -> erldp::Result<()>,
    ) -> Result<()> {
        let pid = Self::pid_arg(Js::new(env.raw()), pid)?;
        self.request(id, pid.node, move |mailbox| {
            op(mailbox, pid).map(|()| Outcome::Done)
        });
        Ok(())
    }

    /// [`request`](Self::request) for `monitor_node` or `demonitor_node`
    /// of `node`, which settles with nothing.
    fn node_request(&self, id: u32, node: String, op: fn(&Mailbox, &str) -> erldp::Result<()>) {
        self.request(id, Atom::new(&node), move |mailbox| {
            op(mailbox, &node).map(|()| Outcome::Done)
        });
    }
}

#[napi]
impl NativeMailbox {
    #[napi(getter, catch_unwind)]
    pub fn pid(&self, env: Env) -> Result<Value> {
        convert::pid_to_js(Js::new(env.raw()), self.mailbox.pid())
    }

    /// The registered name as an atom, or `undefined`.
    #[napi(getter, catch_unwind)]
    pub fn name(&self, env: Env) -> Result<Value> {
        let js = Js::new(env.raw());
        match self.mailbox.name() {
            Some(name) => js.symbol_for(name.as_str()),
            None => js.undefined(),
        }
    }

    #[napi(getter, catch_unwind)]
    pub fn closed(&self) -> bool {
        self.is_closing() || self.mailbox.is_closed()
    }

    /// Messages and signals waiting in the core's queue.
    #[napi(getter, catch_unwind)]
    pub fn queue_length(&self) -> f64 {
        self.mailbox.len() as f64
    }

    /// Messages dropped because the queue was at its limit.
    #[napi(getter, catch_unwind)]
    pub fn dropped(&self) -> f64 {
        self.mailbox.dropped() as f64
    }

    /// The queue limit, or `null` for none.
    #[napi(getter, catch_unwind)]
    pub fn queue_limit(&self) -> Option<f64> {
        self.mailbox.queue_limit().map(|limit| limit as f64)
    }

    /// Sets the queue limit (a whole number the package checked), or none.
    #[napi(catch_unwind)]
    pub fn set_queue_limit(&self, limit: Option<f64>) {
        self.mailbox
            .set_queue_limit(limit.map(|limit| limit as usize));
    }

    /// Sends from this mailbox, like `!`: a message to a node that cannot
    /// be reached is dropped.
    #[napi(catch_unwind)]
    pub fn send(&self, env: Env, dest: Value, message: Value) -> Result<()> {
        let ticket = self.open_ticket(Js::new(env.raw()))?;
        send::send(env, &self.cx, &self.mailbox, dest, message, Some(ticket))
    }

    /// [`NativeMailbox::send`] for a destination and message that the
    /// package wrote as ETF into `etf` (see `convert::encoded_message`).
    #[napi(catch_unwind)]
    pub fn send_encoded(&self, env: Env, etf: Value, split: u32, end: u32) -> Result<()> {
        let ticket = self.open_ticket(Js::new(env.raw()))?;
        send::send_encoded(env, &self.cx, &self.mailbox, etf, split, end, Some(ticket))
    }

    /// `gen:reply(From, Value)` for a call this mailbox received, in order
    /// with what the mailbox sent before (see [`Outstanding`]).
    #[napi(catch_unwind)]
    pub fn reply(&self, env: Env, from: Value, value: Value) -> Result<()> {
        let ticket = self.open_ticket(Js::new(env.raw()))?;
        let node = self.mailbox.node();
        crate::serving::reply(env, &self.cx, node, from, value, Some(ticket))
    }

    /// The next message if one is queued, as a Buffer for the package's
    /// `decodeMessage` (lib/etf.js); `undefined` otherwise, and then
    /// `receive` waits (or reports that the mailbox is closed). Most
    /// messages of a busy mailbox are taken here, without a round trip
    /// through the event loop.
    #[napi(catch_unwind)]
    pub fn try_receive(&self, env: Env) -> Result<Value> {
        let js = Js::new(env.raw());
        match self.mailbox.try_recv() {
            Ok(Some(message)) => match convert::message_etf(&message) {
                Ok(bytes) => js.buffer(&bytes),
                Err(err) => Err(error::throw(js, &err)),
            },
            _ => js.undefined(),
        }
    }

    /// The next message; `null` after `timeout` ms (`Infinity`: no limit),
    /// or once aborted when `cancellable` (`NativeNode::abort`).
    #[napi(catch_unwind)]
    pub fn receive(&self, id: u32, timeout: f64, flags: u32, cancellable: bool) {
        let (reply, options) = (self.cx.reply.clone(), DecodeOptions::from_flags(flags));
        let cancel = reply.cancellable(id, cancellable);
        let settle = move |received: erldp::Result<Option<erldp::Message>>| {
            reply.settle_cancellable(id, cancellable, options, received.map(Outcome::Received));
        };
        // Closed, with its close waiting for its calls: what it holds is still
        // its to take, but it waits for nothing more.
        if self.is_closing() && self.mailbox.is_empty() {
            return settle(Err(erldp::Error::Closed));
        }
        match cancel {
            Some(cancel) => {
                self.mailbox
                    .recv_async_cancellable(duration(timeout), &cancel, settle);
            }
            None => self.mailbox.recv_async(duration(timeout), settle),
        }
    }

    #[napi(catch_unwind)]
    pub fn link(&self, env: Env, id: u32, pid: Value) -> Result<()> {
        self.pid_request(env, id, pid, Mailbox::link)
    }

    #[napi(catch_unwind)]
    pub fn unlink(&self, env: Env, id: u32, pid: Value) -> Result<()> {
        self.pid_request(env, id, pid, Mailbox::unlink)
    }

    /// Monitors a process (pid or `[name, node]`), settling with the
    /// monitor's `Ref`, or a node (its name), settling with `undefined`.
    #[napi(catch_unwind)]
    pub fn monitor(&self, env: Env, id: u32, target: Value) -> Result<()> {
        let js = Js::new(env.raw());
        match Self::target(js, target)? {
            Target::Process(dest) => self.request(id, dest.node(), move |mailbox| {
                mailbox.monitor(&dest).map(Outcome::Monitor)
            }),
            Target::Node(node) => self.node_request(id, node, Mailbox::monitor_node),
            Target::Monitor(_) => {
                return Err(error::invalid_argument(
                    js,
                    "monitor a pid, [name, node] or a node name, not a reference",
                ))
            }
        }
        Ok(())
    }

    /// Removes a monitor given by its `Ref`, or a node monitor by the
    /// node's name.
    #[napi(catch_unwind)]
    pub fn demonitor(&self, env: Env, id: u32, target: Value) -> Result<()> {
        let js = Js::new(env.raw());
        match Self::target(js, target)? {
            Target::Monitor(reference) => self.request(id, reference.node, move |mailbox| {
                mailbox.demonitor(reference).map(|()| Outcome::Done)
            }),
            Target::Node(node) => self.node_request(id, node, Mailbox::demonitor_node),
            Target::Process(_) => {
                return Err(error::invalid_argument(
                    js,
                    "demonitor takes the Ref that monitor gave, or a node name",
                ))
            }
        }
        Ok(())
    }

    /// Closes the mailbox: linked processes get an exit signal with
    /// `reason`, monitoring ones a `DOWN`; pending receives fail with
    /// `ECLOSED`. Once the calls handed over before have run (see
    /// [`Outstanding`]); new ones fail at once.
    #[napi(catch_unwind)]
    pub fn close(&self, env: Env, reason: Value) -> Result<()> {
        let reason = from_js(Js::new(env.raw()), reason)?;
        let now = {
            let mut pending = self.outstanding.state.lock();
            if pending.closing {
                return Ok(());
            }
            pending.closing = true;
            if pending.calls == 0 {
                Some(reason)
            } else {
                pending.reason = Some(reason);
                None
            }
        };
        // The name is free at once, so that it can be registered again (a
        // process's name goes when it exits, and this one has, for
        // JavaScript); only the signals wait.
        self.mailbox.unregister();
        if let Some(reason) = now {
            self.mailbox.close(reason);
        }
        Ok(())
    }
}
