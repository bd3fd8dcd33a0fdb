//! Serving BEAM callers: what a handler receives, how it answers, and the
//! machinery that orders requests and runs handlers.
//!
//! [`Node::serve`](crate::Node::serve) registers a name that answers
//! `gen_server:call`, `gen_server:cast` and plain messages with a handler;
//! [`Node::expose`](crate::Node::expose) lets `rpc:call`, `erpc:call` (and
//! the rest of [`erpc`](https://www.erlang.org/doc/apps/kernel/erpc.html) and
//! [`rpc`](https://www.erlang.org/doc/apps/kernel/rpc.html)) run a handler
//! for a module. Nothing else is reachable: BEAM gets for anything else what
//! a node lacking the process or module gives.
//!
//! Every request goes through one mechanism, whatever runs the handler. The
//! request is handed over together with a [`Responder`], a one-shot answer
//! that any thread may complete later with a value, an [`Exception`] or
//! [`Reply::NoReply`]. The node starts a name's requests in arrival order,
//! at most [`ServeOptions::concurrency`] at a time, and counts one done when
//! its responder is completed. The closure forms (`serve`, `expose`) hand
//! each request to a thread of the node's handler pool, run the closure
//! there and complete the responder with its result; a binding that runs
//! handlers on its own threads or event loop uses the hand-off forms
//! ([`Node::serve_handoff`](crate::Node::serve_handoff),
//! [`Node::expose_handoff`](crate::Node::expose_handoff)) and completes the
//! responder when its handler is done, so that ordering, concurrency,
//! cancellation and the shape of exceptions are the same in every language.
//!
//! How answers reach BEAM:
//!
//! | request | value | [`Exception`] |
//! |---|---|---|
//! | `gen_server:call` | the reply, sent as `gen:reply/2` sends it | the call's monitor fires with `{Class, Message}`: the call exits at once |
//! | `gen_server:cast`, a plain message | ignored | logged; serving goes on |
//! | `erpc:call`, `rpc:call` (OTP 23+) | the worker exits `{Ref, return, Value}` | `{Ref, error, {Class, Message}, Stack}`: `error:{exception, {Class, Message}, Stack}` |
//! | `rpc:block_call`, `rpc:call` before OTP 23 (`rex`) | the reply | `{badrpc, {'EXIT', {{Class, Message}, Stack}}}` |
//! | `spawn(Node, M, F, A)` | the process exits `normal` | it exits `{{Class, Message}, Stack}` |

mod exception;
pub(crate) mod lane;
pub(crate) mod workers;

use std::fmt;
use std::sync::Arc;

pub use exception::{Arity, Exception, Frame};

use self::lane::{Answer, Done, Finish, Refusal, Ticket};
use crate::term::{Atom, Term};

/// How many handlers of one served name run at once by default: one, like
/// a `gen_server`.
pub const DEFAULT_SERVE_CONCURRENCY: usize = 1;
/// How many calls into one exposed module run at once by default.
pub const DEFAULT_EXPOSE_CONCURRENCY: usize = 64;
/// How many threads may run serve and expose closures at once by default
/// ([`NodeBuilder::handler_threads`](crate::NodeBuilder::handler_threads)).
pub const DEFAULT_HANDLER_THREADS: usize = 256;
/// How many requests may wait for one served name or exposed module by
/// default; past it, requests are refused (see [`ServeOptions::max_queue`]).
pub const DEFAULT_MAX_QUEUE: usize = 65_536;

/// What a serve handler answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// The reply to a `gen_server:call` (ignored for casts and plain
    /// messages).
    Value(Term),
    /// No reply now: someone calls [`Node::reply`](crate::Node::reply) with
    /// the request's `from` later, as a `gen_server` returning `{noreply,
    /// State}` does. The next request may start meanwhile.
    NoReply,
}

impl From<Term> for Reply {
    fn from(value: Term) -> Reply {
        Reply::Value(value)
    }
}

/// How a served name was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// `gen_server:call`: the value answers it.
    Call,
    /// `gen_server:cast`.
    Cast,
    /// Any other message, including `{'EXIT', From, Reason}` from a linked
    /// process (a served name traps exits).
    Info,
}

impl RequestKind {
    /// `call`, `cast` or `info`, as the bindings spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Call => "call",
            RequestKind::Cast => "cast",
            RequestKind::Info => "info",
        }
    }
}

/// What a served name received.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// How it was reached.
    pub kind: RequestKind,
    /// The `Request` of a call or cast; the whole message otherwise.
    pub message: Term,
    /// The caller of a `gen_server:call`, `{Pid, Tag}` as it arrived: what
    /// [`Node::reply`](crate::Node::reply) takes to answer later. `None` for
    /// casts and plain messages.
    pub from: Option<Term>,
}

/// A call into an exposed module: `module:function(args...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    /// The exposed module.
    pub module: Atom,
    /// The function asked for; any name reaches the handler, which decides
    /// what exists.
    pub function: Atom,
    /// The arguments.
    pub args: Vec<Term>,
}

/// Options for [`Node::serve_with`](crate::Node::serve_with) and
/// [`Node::expose_with`](crate::Node::expose_with).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeOptions {
    concurrency: Option<usize>,
    max_queue: Option<usize>,
    on_reader: bool,
}

impl ServeOptions {
    /// The defaults: see [`concurrency`](Self::concurrency) and
    /// [`max_queue`](Self::max_queue).
    pub fn new() -> ServeOptions {
        ServeOptions::default()
    }

    /// How many requests run at once: 1 by default for a served name
    /// ([`DEFAULT_SERVE_CONCURRENCY`]: in arrival order, one after the
    /// other), [`DEFAULT_EXPOSE_CONCURRENCY`] for an exposed module. 0 is
    /// taken as 1.
    pub fn concurrency(mut self, requests: usize) -> ServeOptions {
        self.concurrency = Some(requests);
        self
    }

    /// How many requests may wait beyond those running
    /// ([`DEFAULT_MAX_QUEUE`]). A request past it is refused at once with
    /// the reason `{overload, Text}`: a call exits with it, an rpc raises it.
    pub fn max_queue(mut self, requests: usize) -> ServeOptions {
        self.max_queue = Some(requests);
        self
    }

    /// Runs the handler of [`serve_with`](crate::Node::serve_with) or
    /// [`expose_with`](crate::Node::expose_with) on the reader of the
    /// caller's connection, the thread that reads the request, instead of
    /// handing it to the handler pool (default false). That saves the
    /// hand-off, a thread wake-up a request, which is a large part of a
    /// quick handler's time: BENCHMARKS.md measures it. For handlers that
    /// only compute and return: while one runs, its connection reads
    /// nothing, so a handler that waits (I/O, a lock another thread holds,
    /// a call or rpc of its own) stalls every process of that peer, a
    /// [`call`](crate::Node::call) or [`rpc`](crate::Node::rpc) to that
    /// same peer, or a wait on a [`Pending`](crate::Pending) for its answer,
    /// fails at once ([`Error::InvalidArgument`](crate::Error::InvalidArgument):
    /// only this thread could read the answer; a ping says `false`), as do
    /// [`register_global`](crate::Node::register_global) and
    /// [`unregister_global`](crate::Node::unregister_global) when that peer
    /// is visible (global's locks wait for it) and, on a hidden node, the
    /// lookup of a global name that no other peer answers; what that peer sends
    /// meanwhile (an `exit(Pid, kill)`, the caller giving up) is read only
    /// after it returns, and so is the end of its connection when the
    /// program [`disconnect`](crate::Node::disconnect)s it (a connection
    /// that the peer replaces meanwhile ends at once, and calls to the peer
    /// then go over the new one). The check knows only its own reader: two
    /// handlers on the readers of two peers that each call the other's peer
    /// wait for each other until one gives up. A handler's own sends wait
    /// for room as any thread's do. A panic is caught as
    /// on the pool. Only a request that a reader brings while the name has
    /// room runs there: one from our own node, or one that waited for its
    /// turn behind [`concurrency`](Self::concurrency) others, runs on the
    /// pool, so that no thread runs requests it did not bring.
    ///
    /// ```no_run
    /// use erldp::{Exception, Node, ServeOptions, Term};
    ///
    /// # fn main() -> erldp::Result<()> {
    /// let node = Node::builder("math").cookie("secret").start()?;
    /// // Erlang: erpc:call('math@host', fast_math, square, [12]) -> 144
    /// let quick = ServeOptions::new().on_reader(true);
    /// let _math = node.expose_with("fast_math", quick, |call| {
    ///     match (call.function.as_str(), call.args.as_slice()) {
    ///         ("square", [n]) => n
    ///             .as_i64()
    ///             .map(|n| Term::from(n * n))
    ///             .ok_or_else(|| Exception::new("ArgumentError", "not an integer")),
    ///         _ => Err(Exception::undef()),
    ///     }
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_reader(mut self, on: bool) -> ServeOptions {
        self.on_reader = on;
        self
    }

    pub(crate) fn runs_on_reader(&self) -> bool {
        self.on_reader
    }

    pub(crate) fn concurrency_or(&self, default: usize) -> usize {
        self.concurrency.unwrap_or(default).max(1)
    }

    pub(crate) fn queue_limit(&self) -> usize {
        self.max_queue.unwrap_or(DEFAULT_MAX_QUEUE)
    }
}

/// The one-shot answer to a request handed to a handler. Complete it once,
/// from any thread, with [`reply`](Self::reply), [`raise`](Self::raise),
/// [`no_reply`](Self::no_reply), [`complete`](Self::complete) or
/// [`refuse`](Self::refuse); the next request of the name may start then.
/// Dropping it unanswered answers with the exception `erldp: the handler
/// ended without an answer`.
pub struct Responder {
    finish: Option<Finish>,
    lane: Arc<dyn Done>,
    ticket: Arc<Ticket>,
}

impl Responder {
    pub(crate) fn new(finish: Finish, lane: Arc<dyn Done>, ticket: Arc<Ticket>) -> Responder {
        Responder {
            finish: Some(finish),
            lane,
            ticket,
        }
    }

    /// Answers with what the handler returned or raised.
    pub fn complete(mut self, answer: Result<Reply, Exception>) {
        self.answer(answer);
    }

    /// Answers with a value.
    pub fn reply(self, value: Term) {
        self.complete(Ok(Reply::Value(value)));
    }

    /// Answers later, with [`Node::reply`](crate::Node::reply) (served
    /// names; an exposed function must return a value).
    pub fn no_reply(self) {
        self.complete(Ok(Reply::NoReply));
    }

    /// Answers with an exception.
    pub fn raise(self, exception: Exception) {
        self.complete(Err(exception));
    }

    /// Answers as a request that never ran because its name or module
    /// stopped being served, as the requests still waiting then are: a
    /// `gen_server:call` exits `normal` (as a call to a gen_server that
    /// stops does), a cast or message is dropped, and an rpc into an
    /// exposed module fails with `undef`. For a handler that took the
    /// request over and then found its name unserved before running it
    /// (a binding's queue of requests for another thread).
    pub fn refuse(mut self) {
        self.finish_with(Answer::Refused(Refusal::Closed));
    }

    /// Whether the caller gave up (its timeout passed, it died, its node
    /// went): an answer is dropped. A long handler may stop early.
    pub fn is_cancelled(&self) -> bool {
        self.ticket.is_cancelled()
    }

    fn answer(&mut self, answer: Result<Reply, Exception>) {
        self.finish_with(Answer::Done(answer));
    }

    fn finish_with(&mut self, answer: Answer) {
        if let Some(finish) = self.finish.take() {
            finish(answer);
            workers::completing(|| self.lane.done(&self.ticket));
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.answer(Err(Exception::new(
            "erldp",
            "the handler ended without an answer",
        )));
    }
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("answered", &self.finish.is_none())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
