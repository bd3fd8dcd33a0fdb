//! Serving BEAM callers: names that answer `gen_server` calls, casts and
//! messages; modules that `erpc`, `rpc` and remote `spawn` reach; the `rex`
//! server's calls. How requests are ordered and answered is
//! [`serve`](crate::serve)'s; what they look like on the wire is
//! [`protocol::serving`](crate::protocol::serving)'s.
//!
//! A served name is a registered process of ours whose messages go to its
//! lane instead of a queue: BEAM monitors and links to it like any process.
//! Each spawn request gets a process too (a worker) that BEAM may monitor,
//! link to and kill, and whose exit reason carries the result; a request
//! for a module that is not exposed gets one that exits at once with
//! `undef`.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, OnceLock, Weak};

use crate::sync::{Mutex, RwLock};

use super::signals::Process;
use super::{Node, NodeInner, LOG};
use crate::connection::{self, Connection};
use crate::dest::Dest;
use crate::error::TERM_TEXT_IN_ERRORS;
use crate::fast_map::FastMap;
use crate::inbox::{wakeups, Inbox};
use crate::message::{Message, MessageKind};
use crate::protocol::requests;
use crate::protocol::serving::{self, Mfa, Outcome, RexRequest};
use crate::serve::lane::{self, Answer, Job, Lane, Refusal, Ticket};
use crate::serve::workers::Workers;
use crate::serve::{
    Exception, Invocation, Reply, Request, RequestKind, Responder, ServeOptions,
    DEFAULT_EXPOSE_CONCURRENCY, DEFAULT_SERVE_CONCURRENCY,
};
use crate::term::{Atom, Pid, Ref, Term};
use crate::{Error, Result};

/// The node's served names and exposed modules, and the threads that run
/// their closures.
pub(super) struct Serving {
    names: Mutex<FastMap<Atom, Arc<ServedName>>>,
    /// Served names stopped while requests ran, by pid: nameless, their
    /// processes end when those have answered (or are killed).
    stopping: Mutex<FastMap<Pid, Arc<ServedName>>>,
    modules: RwLock<FastMap<Atom, Arc<ExposedModule>>>,
    workers: Arc<Workers>,
}

struct ServedName {
    name: Atom,
    process: Arc<Process>,
    lane: Arc<Lane<Request>>,
    node: Weak<NodeInner>,
}

struct ExposedModule {
    module: Atom,
    lane: Arc<Lane<Invocation>>,
}

impl Serving {
    /// Tables for node `alive` (named in the handler threads), whose
    /// closures run on at most `handler_threads` threads.
    pub(super) fn new(alive: &str, handler_threads: usize) -> Serving {
        Serving {
            names: Mutex::new(FastMap::default()),
            stopping: Mutex::new(FastMap::default()),
            modules: RwLock::new(FastMap::default()),
            workers: Workers::new(alive, handler_threads),
        }
    }

    fn module(&self, module: Atom) -> Option<Arc<ExposedModule>> {
        self.modules.read().get(&module).cloned()
    }

    /// The node is closing: nothing is served any more, waiting requests
    /// are dropped, and the handlers (with what they hold) go.
    pub(super) fn close(&self) {
        let names: Vec<_> = self.names.lock().drain().map(|(_, s)| s).collect();
        self.stopping.lock().clear();
        let modules: Vec<_> = self.modules.write().drain().map(|(_, m)| m).collect();
        for served in names {
            served.lane.close();
        }
        for exposed in modules {
            exposed.lane.close();
        }
        self.workers.close();
    }

    /// Waits for the handlers running when the node closed to return (see
    /// [`Workers::join`]).
    pub(super) fn join(&self) {
        self.workers.join();
    }
}

/// A name served by [`Node::serve`]: a process BEAM calls, casts to, sends
/// to, links to and monitors. Dropping the handle (or [`close`](Self::close),
/// or [`Node::unserve`]) stops serving: the name goes and waiting requests
/// are refused at once; once the running ones have answered, monitors get
/// `DOWN` and links the exit signal, reason `normal`.
pub struct Served {
    node: Node,
    served: Weak<ServedName>,
    name: Atom,
    pid: Pid,
}

impl Served {
    /// The served process's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The served name.
    pub fn name(&self) -> Atom {
        self.name
    }

    /// Whether the name is no longer served (unserved, or the node closed).
    pub fn is_closed(&self) -> bool {
        self.served
            .upgrade()
            .is_none_or(|served| served.lane.is_closed() || served.process.is_closed())
    }

    /// Stops serving.
    pub fn close(self) {}
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(served) = self.served.upgrade() {
            self.node.inner.stop_serving(&served);
        }
    }
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served")
            .field("name", &self.name)
            .field("pid", &self.pid)
            .finish()
    }
}

/// A module exposed by [`Node::expose`]. Dropping the handle (or
/// [`close`](Self::close), or [`Node::unexpose`]) makes the module `undef`
/// again; calls still waiting get `undef`.
pub struct Exposed {
    node: Node,
    exposed: Weak<ExposedModule>,
    module: Atom,
}

impl Exposed {
    /// The exposed module.
    pub fn module(&self) -> Atom {
        self.module
    }

    /// Whether the module is no longer exposed.
    pub fn is_closed(&self) -> bool {
        self.exposed.strong_count() == 0
    }

    /// Stops exposing the module.
    pub fn close(self) {}
}

impl Drop for Exposed {
    fn drop(&mut self) {
        if let Some(exposed) = self.exposed.upgrade() {
            self.node.inner.stop_exposing(&exposed);
        }
    }
}

impl std::fmt::Debug for Exposed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exposed")
            .field("module", &self.module)
            .finish()
    }
}

/// Serving and exposing. See [`serve`](crate::serve) for how requests are
/// ordered and answered.
impl Node {
    /// Registers `name` as a process that answers `gen_server:call` with
    /// `handler`'s [`Reply`], and runs it for `gen_server:cast` and plain
    /// messages too (their value is ignored). Requests are handled one at a
    /// time in arrival order, on a thread of the node's handler pool
    /// ([`NodeBuilder::handler_threads`](crate::NodeBuilder::handler_threads)).
    /// A handler that fails with an [`Exception`] (or panics) makes that
    /// caller's call exit at once with `{Class, Message}`; serving goes on.
    ///
    /// ```no_run
    /// use erldp::{Exception, Node, Reply, Term};
    ///
    /// # fn main() -> erldp::Result<()> {
    /// let node = Node::builder("calc").cookie("secret").start()?;
    /// // Erlang: gen_server:call({calculator, 'calc@host'}, {add, 2, 3}) -> 5
    /// let _served = node.serve("calculator", |request| {
    ///     match request.message.as_tuple() {
    ///         Some([op, a, b]) if op.is_atom("add") => match (a.as_i64(), b.as_i64()) {
    ///             (Some(a), Some(b)) => Ok(Reply::Value(Term::from(a + b))),
    ///             _ => Err(Exception::new("ArgumentError", "add takes two integers")),
    ///         },
    ///         _ => Err(Exception::new("ArgumentError", format!("unknown request {}", request.message))),
    ///     }
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn serve<F>(&self, name: &str, handler: F) -> Result<Served>
    where
        F: Fn(Request) -> std::result::Result<Reply, Exception> + Send + Sync + 'static,
    {
        self.serve_with(name, ServeOptions::default(), handler)
    }

    /// [`serve`](Self::serve) with options: how many requests run at once
    /// ([`ServeOptions::concurrency`]), how many may wait, and whether the
    /// handler runs on the thread that reads the request
    /// ([`ServeOptions::on_reader`]).
    pub fn serve_with<F>(&self, name: &str, options: ServeOptions, handler: F) -> Result<Served>
    where
        F: Fn(Request) -> std::result::Result<Reply, Exception> + Send + Sync + 'static,
    {
        self.serve_handoff(name, options, self.handler_dispatch(&options, handler))
    }

    /// [`serve_with`](Self::serve_with) for bindings that run handlers on
    /// threads or an event loop of their own: `dispatch` is given each
    /// request with its [`Responder`], which the binding completes when its
    /// handler is done, from any thread. The node keeps the order and the
    /// concurrency by counting completed responders.
    ///
    /// `dispatch` runs on the node's threads (a connection's reader, or the
    /// thread that completed the previous request) and must return at once:
    /// queue the request for the binding's own threads and return. It is
    /// dropped once no request can come any more: the name stopped or was
    /// killed and the requests handed over have answered, or the node
    /// closed.
    pub fn serve_handoff<D>(&self, name: &str, options: ServeOptions, dispatch: D) -> Result<Served>
    where
        D: Fn(Request, Responder) + Send + Sync + 'static,
    {
        let inner = &self.inner;
        let lane = Lane::new(
            name.to_string(),
            options.concurrency_or(DEFAULT_SERVE_CONCURRENCY),
            options.queue_limit(),
            Box::new(dispatch),
        );
        let slot: Arc<OnceLock<Weak<ServedName>>> = Arc::default();
        let sink = {
            let slot = Arc::clone(&slot);
            Box::new(move |message: Message, _: Option<Atom>| {
                if let Some(served) = slot.get().and_then(Weak::upgrade) {
                    served.receive(message);
                }
            })
        };
        let unwatched = {
            let lane = Arc::downgrade(&lane);
            Box::new(move |_: &Process, reference: Ref| {
                if let Some(lane) = lane.upgrade() {
                    lane.cancel(reference);
                }
            })
        };
        let process = inner.spawn_with(None, |pid| {
            Process::run_by_node(pid, Inbox::forwarding(sink), unwatched)
        })?;
        let served = Arc::new(ServedName {
            name: Atom::new(name),
            process: Arc::clone(&process),
            lane,
            node: Arc::downgrade(inner),
        });
        let _ = slot.set(Arc::downgrade(&served));
        if let Err(err) = inner.registry.register(&process, name) {
            inner.close_process(&process, Term::Atom(crate::atom!("normal")));
            return Err(err);
        }
        inner
            .serving
            .names
            .lock()
            .insert(served.name, Arc::clone(&served));
        Ok(Served {
            node: self.clone(),
            served: Arc::downgrade(&served),
            name: served.name,
            pid: process.pid(),
        })
    }

    /// Stops serving `name`, as dropping its [`Served`] does; false when it
    /// was not served.
    pub fn unserve(&self, name: &str) -> bool {
        let served = self.inner.serving.names.lock().remove(&Atom::new(name));
        match served {
            Some(served) => {
                self.inner.stop_serving(&served);
                true
            }
            None => false,
        }
    }

    /// Makes `rpc:call(Node, module, F, Args)`, `erpc:call`, their casts and
    /// multicalls, `rpc:block_call` and `spawn(Node, module, F, Args)` run
    /// `handler` with the [`Invocation`]; its value is the result. Calls run
    /// on threads of the node's handler pool, up to
    /// [`DEFAULT_EXPOSE_CONCURRENCY`] at once. An [`Exception`] (or a panic)
    /// reaches the caller as `error:{exception, {Class, Message}, Stack}`
    /// (`erpc`) or `{badrpc, {'EXIT', {{Class, Message}, Stack}}}` (`rpc`).
    ///
    /// ```no_run
    /// use erldp::{Exception, Node, Term};
    ///
    /// # fn main() -> erldp::Result<()> {
    /// let node = Node::builder("math").cookie("secret").start()?;
    /// // Erlang: rpc:call('math@host', rust_math, double, [21]) -> 42
    /// let _exposed = node.expose("rust_math", |call| {
    ///     match (call.function.as_str(), call.args.as_slice()) {
    ///         ("double", [n]) => n
    ///             .as_i64()
    ///             .map(|n| Term::from(2 * n))
    ///             .ok_or_else(|| Exception::new("ArgumentError", "not an integer")),
    ///         (other, _) => Err(Exception::new("NoMethodError", format!("no function {other}"))),
    ///     }
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn expose<F>(&self, module: &str, handler: F) -> Result<Exposed>
    where
        F: Fn(Invocation) -> std::result::Result<Term, Exception> + Send + Sync + 'static,
    {
        self.expose_with(module, ServeOptions::default(), handler)
    }

    /// [`expose`](Self::expose) with options ([`ServeOptions::concurrency`]
    /// bounds how many calls run at once; [`ServeOptions::on_reader`] runs
    /// the handler on the thread that reads the call).
    pub fn expose_with<F>(&self, module: &str, options: ServeOptions, handler: F) -> Result<Exposed>
    where
        F: Fn(Invocation) -> std::result::Result<Term, Exception> + Send + Sync + 'static,
    {
        let handler = move |invocation| handler(invocation).map(Reply::Value);
        self.expose_handoff(module, options, self.handler_dispatch(&options, handler))
    }

    /// The dispatch of [`serve_with`](Self::serve_with) and
    /// [`expose_with`](Self::expose_with): `handler` runs on a thread of the
    /// node's handler pool, its panic made an [`Exception`]. With
    /// [`ServeOptions::on_reader`] it runs at once instead when a
    /// connection's reader brings the request and finds the lane free; a
    /// request from our own node (a handler running on the reader
    /// included), or one that waited for its turn (which the thread that
    /// finished the one before would start), still goes to the pool, so
    /// that no thread runs requests it did not bring. While it runs, what it
    /// starts is dispatched at once and the receivers it sends to are woken
    /// at once (the reader otherwise batches both), since it may wait for
    /// them.
    fn handler_dispatch<R: Send + 'static>(
        &self,
        options: &ServeOptions,
        handler: impl Fn(R) -> std::result::Result<Reply, Exception> + Send + Sync + 'static,
    ) -> impl Fn(R, Responder) + Send + Sync + 'static {
        let on_reader = options.runs_on_reader();
        let handler = Arc::new(handler);
        let workers = Arc::clone(&self.inner.serving.workers);
        move |request, responder| {
            if on_reader && connection::on_reader() && !lane::handed_on() {
                lane::inline(|| {
                    wakeups::suspended(|| {
                        let reply = guarded(|| connection::as_handler(|| handler(request)));
                        responder.complete(reply)
                    })
                });
                return;
            }
            let handler = Arc::clone(&handler);
            workers.execute(Box::new(move || {
                responder.complete(guarded(|| handler(request)));
            }));
        }
    }

    /// [`expose_with`](Self::expose_with) for bindings, as
    /// [`serve_handoff`](Self::serve_handoff) is for `serve`: `dispatch`
    /// must return at once, and the binding completes the [`Responder`]
    /// with the value (an exposed function cannot answer
    /// [`Reply::NoReply`]).
    pub fn expose_handoff<D>(
        &self,
        module: &str,
        options: ServeOptions,
        dispatch: D,
    ) -> Result<Exposed>
    where
        D: Fn(Invocation, Responder) + Send + Sync + 'static,
    {
        let atom = Atom::named(module, "module")?;
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let exposed = Arc::new(ExposedModule {
            module: atom,
            lane: Lane::new(
                format!("module {module}"),
                options.concurrency_or(DEFAULT_EXPOSE_CONCURRENCY),
                options.queue_limit(),
                Box::new(dispatch),
            ),
        });
        {
            let mut modules = self.inner.serving.modules.write();
            if modules.contains_key(&atom) {
                return Err(Error::invalid(format!(
                    "the module {module} is already exposed"
                )));
            }
            modules.insert(atom, Arc::clone(&exposed));
        }
        Ok(Exposed {
            node: self.clone(),
            exposed: Arc::downgrade(&exposed),
            module: atom,
        })
    }

    /// Stops exposing `module`, as dropping its [`Exposed`] does; false
    /// when it was not exposed.
    pub fn unexpose(&self, module: &str) -> bool {
        let exposed = self
            .inner
            .serving
            .modules
            .write()
            .remove(&Atom::new(module));
        match exposed {
            Some(exposed) => {
                exposed.lane.close();
                true
            }
            None => false,
        }
    }
}

/// Runs a handler closure; a panic becomes the exception `panic`, so that
/// the caller gets an answer and the thread lives on.
fn guarded(
    handler: impl FnOnce() -> std::result::Result<Reply, Exception>,
) -> std::result::Result<Reply, Exception> {
    panic::catch_unwind(AssertUnwindSafe(handler)).unwrap_or_else(|payload| {
        let text = crate::error::panic_message(&*payload).unwrap_or("the handler panicked");
        Err(Exception::new("panic", text))
    })
}

/// The exception of a request refused because too many wait.
fn overload(what: &str, limit: usize) -> Exception {
    Exception::new(
        "overload",
        format!("{what} has {limit} requests waiting already (ServeOptions::max_queue)"),
    )
}

/// How a call into an exposed module ended, from its answer.
fn outcome(answer: Answer, what: &str) -> Outcome {
    match answer {
        Answer::Done(Ok(Reply::Value(value))) => Outcome::Value(value),
        Answer::Done(Ok(Reply::NoReply)) => Outcome::Raised(Exception::new(
            "erldp",
            "an exposed function must return a value, not NoReply",
        )),
        Answer::Done(Err(raised)) if raised.is_undef() => Outcome::Undef,
        Answer::Done(Err(raised)) => Outcome::Raised(raised),
        Answer::Refused(Refusal::Closed) => Outcome::Undef,
        Answer::Refused(Refusal::Full { limit }) => Outcome::Raised(overload(what, limit)),
        Answer::Refused(Refusal::Cancelled) => {
            Outcome::Raised(Exception::new("erldp", "the caller gave up"))
        }
    }
}

impl ServedName {
    /// A message to the served process: a request in its lane.
    fn receive(&self, message: Message) {
        let Some(node) = self.node.upgrade() else {
            return;
        };
        let incoming = serving::incoming(message.term);
        let finish = node.served_finish(self, &incoming);
        self.lane.submit(Job {
            work: Request {
                kind: incoming.kind,
                message: incoming.message,
                from: incoming.from,
            },
            finish,
            ticket: Ticket::new(incoming.monitor),
        });
    }
}

/// Takes `entry` out of `table` unless `key` is served or exposed anew
/// already, by a registration that must stay.
fn unregister<T>(table: &mut FastMap<Atom, Arc<T>>, key: Atom, entry: &Arc<T>) {
    if table.get(&key).is_some_and(|held| Arc::ptr_eq(held, entry)) {
        table.remove(&key);
    }
}

impl NodeInner {
    /// The name goes at once (a new call by name gets `noproc`, and the name
    /// may be served again) and the calls that wait exit `normal`; the
    /// process ends (`DOWN` and exit signals `normal`) once the requests
    /// that run have answered, as a gen_server stops after the call it is
    /// handling: a caller is not told its call failed while its handler
    /// goes on.
    fn stop_serving(self: &Arc<Self>, served: &Arc<ServedName>) {
        unregister(&mut self.serving.names.lock(), served.name, served);
        self.registry.unregister(&served.process);
        let pid = served.process.pid();
        self.serving.stopping.lock().insert(pid, Arc::clone(served));
        let node = Arc::downgrade(self);
        served.lane.close_then(Box::new(move || {
            let Some(node) = node.upgrade() else { return };
            let stopped = node.serving.stopping.lock().remove(&pid);
            if let Some(served) = stopped {
                node.close_process(&served.process, Term::Atom(crate::atom!("normal")));
            }
        }));
    }

    /// `exit(to, kill)` from `from`: when `to` is a served name's process
    /// (served, or stopped and finishing its requests), it ends at once with
    /// reason `killed`, as a gen_server does (`kill` cannot be trapped), and
    /// the name is no longer served: its watchers, the callers still waiting
    /// among them, see `killed`, and the handlers still running answer
    /// nobody. False when `to` is not a served process.
    pub(super) fn kill_served(self: &Arc<Self>, from: Pid, to: Pid) -> bool {
        let served = {
            let mut names = self.serving.names.lock();
            let name = names
                .iter()
                .find(|(_, served)| served.process.pid() == to)
                .map(|(name, _)| *name);
            match name {
                Some(name) => names.remove(&name),
                None => self.serving.stopping.lock().remove(&to),
            }
        };
        let Some(served) = served else {
            return false;
        };
        log::info!(target: LOG, "{}: killed by {from}", served.name);
        self.close_process(&served.process, Term::Atom(crate::atom!("killed")));
        served.lane.close();
        true
    }

    fn stop_exposing(&self, exposed: &Arc<ExposedModule>) {
        unregister(&mut self.serving.modules.write(), exposed.module, exposed);
        exposed.lane.close();
    }

    /// What the answer to a request of a served name does: a call's value
    /// is its reply and an exception fires the call's monitor; casts and
    /// messages have nobody to tell.
    fn served_finish(
        self: &Arc<Self>,
        served: &ServedName,
        incoming: &serving::Incoming,
    ) -> Box<dyn FnOnce(Answer) + Send> {
        let node = Arc::downgrade(self);
        let name = served.name;
        let process = Arc::clone(&served.process);
        let what = served.lane.what().to_string();
        let (kind, monitor) = (incoming.kind, incoming.monitor);
        let from = incoming.from.clone();
        Box::new(move |answer| {
            let Some(node) = node.upgrade() else { return };
            let failure = match answer {
                Answer::Done(Ok(Reply::Value(value))) => {
                    // A killed process answers nothing, as on BEAM.
                    if let (Some(from), false) = (&from, process.is_closed()) {
                        node.answer_call(process.pid(), from, value);
                    }
                    return;
                }
                Answer::Done(Ok(Reply::NoReply)) | Answer::Refused(Refusal::Cancelled) => return,
                Answer::Refused(Refusal::Closed) => {
                    // The name stopped before this request ran: a call exits
                    // `normal` at once, as a call to a gen_server that stops
                    // does; casts and messages are dropped.
                    if let (RequestKind::Call, Some(monitor)) = (kind, monitor) {
                        node.fire_watcher(&process, monitor, Term::Atom(crate::atom!("normal")));
                    }
                    return;
                }
                Answer::Done(Err(raised)) => raised,
                Answer::Refused(Refusal::Full { limit }) => overload(&what, limit),
            };
            match (kind, monitor) {
                (RequestKind::Call, Some(monitor)) => {
                    if !node.fire_watcher(&process, monitor, failure.reason()) {
                        log::debug!(target: LOG, "{name}: the caller that got {failure} no longer monitors");
                    }
                }
                (RequestKind::Call, None) => {
                    log::warn!(target: LOG, "{name}: a call without a monitor raised {failure}; the caller gets no answer")
                }
                (RequestKind::Cast | RequestKind::Info, _) => {
                    log::warn!(target: LOG, "{name}: the handler raised {failure} for a {}", kind.as_str())
                }
            }
        })
    }

    /// Sends the reply to a call from `from`, as `gen:reply/2` does; the
    /// caller waits for it, so it is written at once.
    fn answer_call(self: &Arc<Self>, sender: Pid, from: &Term, value: Term) {
        let sent = requests::reply(from, value).and_then(|(dest, message)| {
            if dest.node() == self.name() {
                return self.send_from(sender, &dest, message);
            }
            self.send_connecting(dest.node(), requests::send(sender, &dest, message)?, true)
        });
        if let Err(err) = sent {
            log::debug!(target: LOG, "reply to {from:.TERM_TEXT_IN_ERRORS$} not sent: {err}");
        }
    }

    /// A spawn request: a process of ours, tied to the requester as asked
    /// and announced with a `SPAWN_REPLY`, that runs the exposed module's
    /// handler and exits with the result, or exits at once with `undef`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_spawn_request(
        self: &Arc<Self>,
        conn: &Arc<Connection>,
        req_id: Ref,
        from: Pid,
        module: Atom,
        function: Atom,
        args: Term,
        opts: &Term,
    ) {
        let Some(options) = serving::spawn_options(opts) else {
            let badopt = Term::Atom(crate::atom!("badopt"));
            let _ = conn.signal(&serving::spawn_answer(req_id, from, 0, badopt));
            return;
        };
        // The link and monitor asked for are bounded as the peer's own
        // are (see `holds`), before there is a process to tie them to.
        if (options.link || options.monitor) && !self.may_hold(conn) {
            return;
        }
        let spawned = serving::spawned(module, function, args);
        let ticket = Ticket::new(None);
        let worker = self.spawn_with(None, |pid| {
            let node = Arc::downgrade(self);
            let killed = Arc::clone(&ticket);
            let sink = Box::new(move |message: Message, _: Option<Atom>| {
                if let Some(node) = node.upgrade() {
                    node.worker_signal(pid, &killed, message);
                }
            });
            let cancel = Arc::clone(&ticket);
            let unwatched = Box::new(move |process: &Process, _: Ref| {
                if process.is_unobserved() {
                    cancel.cancel();
                }
            });
            Process::run_by_node(pid, Inbox::forwarding(sink), unwatched)
        });
        let worker = match worker {
            Ok(worker) => worker,
            Err(_) => {
                let notsup = Term::Atom(crate::atom!("notsup"));
                let _ = conn.signal(&serving::spawn_answer(req_id, from, 0, notsup));
                return;
            }
        };
        self.tie_to_requester(&worker, from, req_id, options.link, options.monitor);
        let reply =
            serving::spawn_answer(req_id, from, options.reply_flags(), Term::Pid(worker.pid()));
        if conn.signal(&reply).is_err() {
            self.close_process(&worker, Term::Atom(crate::atom!("noconnection")));
            return;
        }
        if let Some(args) = serving::global_resolve_it(spawned.mfa()) {
            let node = Arc::downgrade(self);
            self.global_resolve_it(args, move |result| {
                let Some(node) = node.upgrade() else { return };
                let outcome = result.map_or(Outcome::Undef, Outcome::Value);
                node.close_process(&worker, serving::exit_reason(&spawned, outcome));
            });
            return;
        }
        let exposed = self.serving.module(spawned.mfa().module);
        let (Some(exposed), Some(args)) = (exposed, spawned.mfa().args()) else {
            self.close_process(&worker, serving::exit_reason(&spawned, Outcome::Undef));
            return;
        };
        let invocation = Invocation {
            module: exposed.module,
            function: spawned.mfa().function,
            args,
        };
        let node = Arc::downgrade(self);
        let what = exposed.lane.what().to_string();
        let finish = Box::new(move |answer| {
            if let Some(node) = node.upgrade() {
                let reason = serving::exit_reason(&spawned, outcome(answer, &what));
                node.close_process(&worker, reason);
            }
        });
        exposed.lane.submit(Job {
            work: invocation,
            finish,
            ticket,
        });
    }

    /// An exit signal to a worker: like a BEAM process that does not trap
    /// exits, it ends unless the reason is `normal` (`kill` ends it as
    /// `killed`), and its call is cancelled. Workers take no messages.
    fn worker_signal(self: &Arc<Self>, pid: Pid, ticket: &Ticket, message: Message) {
        if message.kind != MessageKind::Exit {
            return;
        }
        let reason = message
            .reason
            .unwrap_or_else(|| Term::Atom(crate::atom!("normal")));
        if reason.is_atom("normal") {
            return;
        }
        ticket.cancel();
        let reason = if reason.is_atom("kill") {
            Term::Atom(crate::atom!("killed"))
        } else {
            reason
        };
        if let Some(worker) = self.process(pid) {
            self.close_process(&worker, reason);
        }
    }

    /// A message to `rex`: `rpc:block_call` and the `rpc:call` of releases
    /// before OTP 23 reach exposed modules through it.
    pub(super) fn on_rex_request(self: &Arc<Self>, message: Term) {
        let system = self.system_pid();
        match serving::rex_request(&message) {
            RexRequest::Call { from, mfa } => self.rex_call(mfa, move |node, reply| {
                node.answer_call(system, &from, reply)
            }),
            RexRequest::Message { from, mfa } => self.rex_call(mfa, move |node, reply| {
                let reply = serving::rex_message_reply(reply);
                if let Err(err) = node.send_from(system, &Dest::Pid(from), reply) {
                    log::debug!(target: LOG, "rex reply to {from} not sent: {err}");
                }
            }),
            RexRequest::Cast { mfa } => self.rex_call(mfa, |_, _| {}),
            RexRequest::Features { from } => {
                let reply = serving::features_reply(self.name());
                let _ = self.send_from(system, &Dest::Pid(from), reply);
            }
            RexRequest::Other => {
                log::debug!(target: LOG, "rex: ignored {message:.TERM_TEXT_IN_ERRORS$}")
            }
        }
    }

    /// Runs `mfa` for `rex` and hands `answer` the reply `rpc` expects.
    fn rex_call(
        self: &Arc<Self>,
        mfa: Mfa,
        answer: impl FnOnce(&Arc<NodeInner>, Term) + Send + 'static,
    ) {
        let (exposed, args) = match (self.serving.module(mfa.module), mfa.args()) {
            (Some(exposed), Some(args)) => (exposed, args),
            _ => return answer(self, serving::rex_reply(&mfa, Outcome::Undef)),
        };
        let node = Arc::downgrade(self);
        let what = exposed.lane.what().to_string();
        let invocation = Invocation {
            module: exposed.module,
            function: mfa.function,
            args,
        };
        exposed.lane.submit(Job {
            work: invocation,
            finish: Box::new(move |done| {
                if let Some(node) = node.upgrade() {
                    answer(&node, serving::rex_reply(&mfa, outcome(done, &what)));
                }
            }),
            ticket: Ticket::new(None),
        });
    }
}
