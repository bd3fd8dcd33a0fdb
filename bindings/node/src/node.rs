//! `NativeNode`: the node behind the package's `erldp.Node`, and how
//! answers travel back to JavaScript.
//!
//! Every asynchronous method takes a request id from the package, which
//! keeps the Promise for it. The answer comes back on some Rust thread — a
//! connection's reader for an rpc reply, the node's timer thread for a
//! timeout, the core's connect thread for a connect — through the core's callback APIs
//! (`Pending::on_complete`, `Mailbox::recv_async`), so no thread waits per
//! request. That thread queues a [`Completion`] in the node's [`Reply`]
//! and, if the queue was idle, wakes the JavaScript thread through the
//! node's one thread-safe function. There the package drains the queue a
//! batch at a time ([`NativeNode::drain`]): each completion becomes values
//! and `settle(id, error, value)` resolves or rejects its Promise. Between
//! batches the package yields to the event loop, so that thousands of
//! answers arriving at once do not hold up timers and I/O.
//!
//! The thread-safe function is also what keeps the process alive: the
//! package refs it while the node is open (and not `unref()`ed) or while a
//! request that will end by itself is outstanding, and unrefs it otherwise
//! ([`NativeNode::keep_alive`]).

use std::collections::{HashMap, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use erldp::error::panic_message;
use erldp::sync::Mutex;
use erldp::tls::TlsOptions;
use erldp::{Atom, Cancel, Dest, EpmdMode, Message, Node, NodeBuilder, Ref, Term};
use napi::bindgen_prelude::{AsyncTask, Function};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{sys, Env, Result, Status, Task, Unknown};
use napi_derive::napi;

use crate::convert::{self, from_js, DecodeOptions};
use crate::error;
use crate::js::{Js, Value};
use crate::lanes::Lanes;
use crate::mailbox::NativeMailbox;
use crate::send;
use crate::serving::{Desk, Incoming};

/// What a request ended with.
pub(crate) enum Outcome {
    /// An rpc result or a call's reply.
    Value(Term),
    /// A received message, or `None` on timeout.
    Received(Option<Message>),
    /// A ping's answer: `'pong'` or `'pang'`.
    Pong(bool),
    /// The reference of a new monitor.
    Monitor(Ref),
    /// Done, with nothing to return.
    Done,
    Failed(erldp::Error),
    /// Not an answer: a request for the served name or exposed module whose
    /// handler is the completion's `id` (see `serving.rs`).
    Request(Incoming),
}

struct Completion {
    id: u32,
    options: DecodeOptions,
    outcome: Outcome,
}

/// The package's `wake()`: it drains the completions.
type WakeFunction<'scope> = Function<'scope, (), Unknown<'static>>;
type Wake = ThreadsafeFunction<(), Unknown<'static>, (), Status, false>;

/// The way back to JavaScript, shared by the node, its mailboxes and every
/// callback in flight.
#[derive(Clone)]
pub(crate) struct Reply(Arc<Outbox>);

struct Outbox {
    queue: Mutex<Queue>,
    wake: Wake,
    /// What stops each request that an `AbortSignal` may abort, until it
    /// settles (see [`Reply::cancellable`]).
    cancels: Mutex<HashMap<u32, Cancel>>,
}

#[derive(Default)]
struct Queue {
    completions: VecDeque<Completion>,
    /// A wake-up is on its way, or the package is still draining: no need
    /// to wake it again.
    awake: bool,
}

impl Reply {
    fn new(wake: WakeFunction<'_>) -> Result<Reply> {
        let wake = wake
            .build_threadsafe_function::<()>()
            .callee_handled::<false>()
            .build_callback(|_| Ok(()))?;
        Ok(Reply(Arc::new(Outbox {
            queue: Mutex::default(),
            wake,
            cancels: Mutex::default(),
        })))
    }

    /// A [`Cancel`] for request `id` when `cancellable` (the package got an
    /// `AbortSignal` for it): [`abort`](Self::abort) fires it, and the
    /// core then stops the request where it runs (an rpc's remote worker
    /// is killed, a receive taken off its mailbox). The request still
    /// settles, through [`settle_cancellable`](Self::settle_cancellable).
    pub(crate) fn cancellable(&self, id: u32, cancellable: bool) -> Option<Cancel> {
        cancellable.then(|| {
            let cancel = Cancel::new();
            self.0.cancels.lock().insert(id, cancel.clone());
            cancel
        })
    }

    /// [`result`](Self::result) for a request made with
    /// [`cancellable`](Self::cancellable): its `Cancel` is no longer needed.
    pub(crate) fn settle_cancellable(
        &self,
        id: u32,
        cancel: bool,
        options: DecodeOptions,
        result: erldp::Result<Outcome>,
    ) {
        if cancel {
            self.0.cancels.lock().remove(&id);
        }
        self.result(id, options, result);
    }

    /// Stops request `id`; false when it was not cancellable or has
    /// settled already.
    fn abort(&self, id: u32) -> bool {
        let cancel = self.0.cancels.lock().remove(&id);
        cancel.map(|cancel| cancel.cancel()).is_some()
    }

    /// Queues the outcome of request `id`; callable from any thread. When
    /// the environment is going away there is nobody left to tell.
    pub(crate) fn send(&self, id: u32, options: DecodeOptions, outcome: Outcome) {
        let mut queue = self.0.queue.lock();
        queue.completions.push_back(Completion {
            id,
            options,
            outcome,
        });
        if !std::mem::replace(&mut queue.awake, true) {
            drop(queue);
            let _ = self
                .0
                .wake
                .call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }

    pub(crate) fn result(&self, id: u32, options: DecodeOptions, result: erldp::Result<Outcome>) {
        self.send(id, options, result.unwrap_or_else(Outcome::Failed));
    }

    /// Settles up to `max` queued completions through `settle`, and hands
    /// requests to handlers through `dispatch`; returns whether more are
    /// waiting (then the caller drains again soon, and no wake-up is sent
    /// meanwhile).
    fn drain(&self, js: Js, settle: Value, dispatch: Value, max: usize) -> Result<bool> {
        let (batch, more) = {
            let mut queue = self.0.queue.lock();
            let count = max.min(queue.completions.len());
            let batch: Vec<Completion> = queue.completions.drain(..count).collect();
            let more = !queue.completions.is_empty();
            queue.awake = more;
            (batch, more)
        };
        for completion in batch {
            let id = js.number(f64::from(completion.id))?;
            if let Outcome::Request(incoming) = completion.outcome {
                let token = js.number(f64::from(incoming.token))?;
                js.call(dispatch, &[id, token, js.buffer(&incoming.etf)?])?;
                continue;
            }
            let (error, value) = match completion_to_js(js, completion) {
                Ok(pair) => pair,
                Err(failure) => (js.error_value(failure), js.undefined()?),
            };
            js.call(settle, &[id, error, value])?;
        }
        Ok(more)
    }

    fn keep_alive(&self, env: &Env, on: bool) -> Result<()> {
        let wake = &self.0.wake;
        if wake.aborted() {
            return Ok(());
        }
        // SAFETY: called on the JavaScript thread with its environment; the
        // function is not released (checked above, and `self` holds it).
        let status = unsafe {
            if on {
                sys::napi_ref_threadsafe_function(env.raw(), wake.raw())
            } else {
                sys::napi_unref_threadsafe_function(env.raw(), wake.raw())
            }
        };
        if status == sys::Status::napi_ok {
            Ok(())
        } else {
            Err(napi::Error::from_status(Status::from(status)))
        }
    }
}

/// `(error, value)` for `settle`; the one that does not apply is `undefined`.
/// Terms go as ETF in a Buffer, which the package decodes (lib/etf.js).
fn completion_to_js(js: Js, completion: Completion) -> Result<(Value, Value)> {
    let undefined = js.undefined()?;
    let options = completion.options;
    let encoded = |etf: erldp::Result<Vec<u8>>| -> Result<(Value, Value)> {
        match etf {
            Ok(bytes) => Ok((undefined, js.buffer(&bytes)?)),
            Err(err) => Ok((error::to_js_error(js, &err, options)?, undefined)),
        }
    };
    Ok(match completion.outcome {
        Outcome::Value(term) => encoded(erldp::term::encode(&term))?,
        Outcome::Received(Some(message)) => encoded(convert::message_etf(&message))?,
        Outcome::Received(None) => (undefined, js.null()?),
        Outcome::Pong(pong) => (undefined, js.string(if pong { "pong" } else { "pang" })?),
        Outcome::Monitor(reference) => (undefined, convert::ref_to_js(js, reference)?),
        Outcome::Done => (undefined, undefined),
        Outcome::Failed(err) => (error::to_js_error(js, &err, options)?, undefined),
        // Handed to `dispatch` by `drain`, which never brings one here.
        Outcome::Request(_) => (undefined, undefined),
    })
}

/// What a node and its mailboxes share for running requests.
#[derive(Clone)]
pub(crate) struct Context {
    /// The node's own name: requests for it never touch the network.
    pub(crate) name: Atom,
    pub(crate) lanes: Arc<Lanes>,
    pub(crate) reply: Reply,
    /// The last destination of an encoded send, with its ETF: a burst of
    /// sends to one destination decodes it once.
    pub(crate) last_dest: Arc<Mutex<KnownDest>>,
    /// The requests that served names and exposed modules wait to answer.
    pub(crate) desk: Arc<Desk>,
}

/// A destination and the ETF it was decoded from.
pub(crate) type KnownDest = Option<(Vec<u8>, Dest)>;

impl Context {
    /// Runs `job` right here for our own node, else stages it for the lane
    /// of `peer` (the package flushes the lanes after the call).
    pub(crate) fn run(&self, peer: Atom, job: impl FnOnce() + Send + 'static) {
        if peer == self.name {
            job();
        } else {
            self.lanes.stage(peer, Box::new(job));
        }
    }
}

/// A timeout in milliseconds from JavaScript (the package refuses what is
/// not a number over 0); `Infinity`, or more than `Duration` holds, waits
/// forever.
pub(crate) fn duration(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms.max(0.0) / 1000.0).unwrap_or(Duration::MAX)
}

/// `Node.start` options, validated by the package before they get here.
#[napi(object)]
pub struct StartOptions {
    pub cookie: Option<String>,
    pub hidden: Option<bool>,
    /// `"auto"`, `"external"` or `"none"`.
    pub epmd: Option<String>,
    pub epmd_port: Option<u32>,
    /// `-erl_epmd_port`: the one port of every node.
    pub dist_port: Option<u32>,
    /// The port to listen on; 0 picks a free one.
    pub port: Option<u32>,
    /// Milliseconds.
    pub net_ticktime: Option<f64>,
    /// Milliseconds.
    pub setup_timeout: Option<f64>,
    pub long_names: Option<bool>,
    pub tls: Option<TlsStartOptions>,
    pub ipv6: Option<bool>,
    /// The limits README lists: bytes, counts and milliseconds.
    pub max_message_size: Option<f64>,
    pub max_pending_handshakes: Option<f64>,
    pub max_monitors_per_peer: Option<f64>,
    pub send_timeout: Option<f64>,
    pub send_queue_limit: Option<f64>,
    pub mailbox_queue_limit: Option<f64>,
}

/// The `tls` option of `Node.start`: paths, and `"verify_peer"` or
/// `"verify_none"`.
#[napi(object)]
pub struct TlsStartOptions {
    pub certfile: Option<String>,
    pub keyfile: Option<String>,
    pub cacertfile: Option<String>,
    pub verify: Option<String>,
    pub optfile: Option<String>,
}

fn builder(name: String, options: StartOptions) -> erldp::Result<NodeBuilder> {
    let port = |port: Option<u32>, what: &str| {
        port.map(|port| {
            u16::try_from(port).map_err(|_| {
                erldp::Error::InvalidArgument(format!("{what} {port} is not a TCP port"))
            })
        })
        .transpose()
    };
    let count = |value: Option<f64>| value.map(|value| value as usize);
    let epmd = options
        .epmd
        .map(|epmd| match epmd.as_str() {
            "auto" => Ok(EpmdMode::Auto),
            "external" => Ok(EpmdMode::External),
            "none" => Ok(EpmdMode::None),
            other => Err(erldp::Error::InvalidArgument(format!(
                "epmd must be \"auto\", \"external\" or \"none\", not {other:?}"
            ))),
        })
        .transpose()?;
    let epmd_port = port(options.epmd_port, "epmdPort")?;
    let dist_port = port(options.dist_port, "distPort")?;
    let listen_port = port(options.port, "port")?;
    let tls = options
        .tls
        .map(|tls| {
            TlsOptions {
                certfile: tls.certfile.map(PathBuf::from),
                keyfile: tls.keyfile.map(PathBuf::from),
                cacertfile: tls.cacertfile.map(PathBuf::from),
                verify: tls.verify,
                optfile: tls.optfile.map(PathBuf::from),
            }
            .config()
        })
        .transpose()?;
    Ok(Node::builder(name)
        .given(options.cookie, NodeBuilder::cookie)
        .given(options.hidden, NodeBuilder::hidden)
        .given(epmd, NodeBuilder::epmd)
        .given(epmd_port, NodeBuilder::epmd_port)
        .given(dist_port, NodeBuilder::dist_port)
        .given(listen_port, NodeBuilder::listen_port)
        .given(
            options.net_ticktime.map(duration),
            NodeBuilder::net_ticktime,
        )
        .given(
            options.setup_timeout.map(duration),
            NodeBuilder::setup_timeout,
        )
        .given(options.long_names, NodeBuilder::long_names)
        .given(options.ipv6, NodeBuilder::ipv6)
        .given(
            count(options.max_message_size),
            NodeBuilder::max_message_size,
        )
        .given(
            count(options.max_pending_handshakes),
            NodeBuilder::max_pending_handshakes,
        )
        .given(
            count(options.max_monitors_per_peer),
            NodeBuilder::max_monitors_per_peer,
        )
        .given(
            options.send_timeout.map(duration),
            NodeBuilder::send_timeout,
        )
        .given(
            count(options.send_queue_limit),
            NodeBuilder::send_queue_limit,
        )
        .mailbox_queue_limit(count(options.mailbox_queue_limit))
        .given(tls, NodeBuilder::tls))
}

/// Starting a node binds a port and registers with EPMD (starting an
/// embedded one if need be): short, bounded blocking work that runs on the
/// libuv pool like a `dns.lookup`.
pub struct Start {
    builder: Option<NodeBuilder>,
    reply: Reply,
}

impl Task for Start {
    type Output = erldp::Result<Node>;
    type JsValue = NativeNode;

    fn compute(&mut self) -> Result<Self::Output> {
        let builder = self
            .builder
            .take()
            .ok_or_else(|| napi::Error::from_reason("the node was started already"))?;
        // On the libuv pool, where napi-rs catches nothing: a panic would
        // abort the process.
        panic::catch_unwind(AssertUnwindSafe(|| builder.start())).map_err(|payload| {
            napi::Error::from_reason(format!(
                "starting the node panicked: {}",
                panic_message(&*payload).unwrap_or("no message")
            ))
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<NativeNode> {
        match output {
            Ok(node) => Ok(NativeNode {
                cx: Context {
                    name: node.name(),
                    lanes: Lanes::new(),
                    reply: self.reply.clone(),
                    last_dest: Arc::default(),
                    desk: Arc::default(),
                },
                node,
            }),
            Err(err) => {
                let js = Js::new(env.raw());
                let error = error::to_js_error(js, &err, DecodeOptions::default())?;
                // SAFETY: a value of the current scope.
                Err(napi::Error::from(unsafe {
                    Unknown::from_raw_unchecked(env.raw(), error.0)
                }))
            }
        }
    }
}

/// The native side of `erldp.Node`; the package wraps it.
#[napi]
pub struct NativeNode {
    pub(crate) node: Node,
    pub(crate) cx: Context,
}

#[napi]
impl NativeNode {
    /// Starts a node; `wake()` is called when answers wait to be drained.
    #[napi(
        ts_args_type = "name: string, options: StartOptions, wake: () => void",
        ts_return_type = "Promise<NativeNode>",
        catch_unwind
    )]
    pub fn start(
        env: Env,
        name: String,
        options: StartOptions,
        wake: WakeFunction<'_>,
    ) -> Result<AsyncTask<Start>> {
        let builder =
            builder(name, options).map_err(|err| error::throw(Js::new(env.raw()), &err))?;
        Ok(AsyncTask::new(Start {
            builder: Some(builder),
            reply: Reply::new(wake)?,
        }))
    }

    /// The full node name as an atom.
    #[napi(getter, catch_unwind)]
    pub fn name(&self, env: Env) -> Result<Value> {
        Js::new(env.raw()).symbol_for(self.node.name().as_str())
    }

    #[napi(getter, catch_unwind)]
    pub fn port(&self) -> u32 {
        u32::from(self.node.port())
    }

    #[napi(getter, catch_unwind)]
    pub fn hidden(&self) -> bool {
        self.node.is_hidden()
    }

    /// The pid that node-level sends, rpcs and calls come from.
    #[napi(getter, catch_unwind)]
    pub fn pid(&self, env: Env) -> Result<Value> {
        convert::pid_to_js(Js::new(env.raw()), self.node.pid())
    }

    /// Connected peers, as atoms.
    #[napi(catch_unwind)]
    pub fn nodes(&self, env: Env) -> Result<Value> {
        let js = Js::new(env.raw());
        let peers = self.node.nodes();
        let array = js.array(peers.len())?;
        for (index, peer) in (0..).zip(peers) {
            js.set_element(array, index, js.symbol_for(peer.as_str())?)?;
        }
        Ok(array)
    }

    /// Settles up to `max` waiting answers by calling
    /// `settle(id, error, value)` for each, and hands each request for a
    /// handler to `dispatch(handler, token, etf)`; returns whether more wait.
    #[napi(
        catch_unwind,
        ts_args_type = "settle: (id: number, error: unknown, value: unknown) => void, dispatch: (handler: number, token: number, etf: Buffer) => void, max: number"
    )]
    pub fn drain(&self, env: Env, settle: Value, dispatch: Value, max: u32) -> Result<bool> {
        self.cx
            .reply
            .drain(Js::new(env.raw()), settle, dispatch, max as usize)
    }

    /// Hands the calls made since the last flush to their lanes; the package
    /// calls it once per turn of the event loop.
    #[napi(catch_unwind)]
    pub fn flush(&self) {
        self.cx.lanes.flush();
    }

    /// Whether the node holds the event loop open.
    #[napi(catch_unwind)]
    pub fn keep_alive(&self, env: Env, on: bool) -> Result<()> {
        self.cx.reply.keep_alive(&env, on)
    }

    #[napi(catch_unwind)]
    pub fn mailbox(&self, env: Env, name: Option<Value>) -> Result<NativeMailbox> {
        let js = Js::new(env.raw());
        let name = name
            .map(|name| convert::name_from_js(js, name, "registered name"))
            .transpose()?;
        let mailbox = self
            .node
            .mailbox(name.as_deref())
            .map_err(|err| error::throw(js, &err))?;
        Ok(NativeMailbox::new(mailbox, self.cx.clone()))
    }

    /// Sends from the node's own pid, like `!`: a message to a node that
    /// cannot be reached is dropped.
    #[napi(catch_unwind)]
    pub fn send(&self, env: Env, dest: Value, message: Value) -> Result<()> {
        send::send(env, &self.cx, &self.node, dest, message, None)
    }

    /// [`NativeNode::send`] for a destination and message that the package
    /// wrote as ETF into `etf` (see `convert::encoded_message`).
    #[napi(catch_unwind)]
    pub fn send_encoded(&self, env: Env, etf: Value, split: u32, end: u32) -> Result<()> {
        send::send_encoded(env, &self.cx, &self.node, etf, split, end, None)
    }

    /// `gen_server:cast`.
    #[napi(catch_unwind)]
    pub fn cast(&self, env: Env, dest: Value, request: Value) -> Result<()> {
        let js = Js::new(env.raw());
        let dest = convert::dest_from_js(js, dest)?;
        let request = from_js(js, request)?;
        self.check_open(js)?;
        let node = self.node.clone();
        self.cx.run(dest.node(), move || {
            let _ = node.cast(&dest, request);
        });
        Ok(())
    }

    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub fn rpc(
        &self,
        env: Env,
        id: u32,
        peer: Value,
        module: Value,
        fun: Value,
        args: Value,
        timeout: f64,
        flags: u32,
        cancellable: bool,
    ) -> Result<()> {
        let js = Js::new(env.raw());
        let peer = convert::name_from_js(js, peer, "node name")?;
        let module = convert::name_from_js(js, module, "module")?;
        let fun = convert::name_from_js(js, fun, "function")?;
        let args = match from_js(js, args)? {
            Term::List(args) => args,
            _ => {
                return Err(error::invalid_argument(
                    js,
                    "rpc arguments must be an array",
                ))
            }
        };
        let lane = Atom::new(&peer);
        self.start_request(id, lane, timeout, flags, cancellable, move |node| {
            node.rpc_start(&peer, &module, &fun, args)
        });
        Ok(())
    }

    /// `gen_server:call`.
    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub fn call(
        &self,
        env: Env,
        id: u32,
        dest: Value,
        request: Value,
        timeout: f64,
        flags: u32,
        cancellable: bool,
    ) -> Result<()> {
        let js = Js::new(env.raw());
        let dest = convert::dest_from_js(js, dest)?;
        let request = from_js(js, request)?;
        self.start_request(id, dest.node(), timeout, flags, cancellable, move |node| {
            node.call_start(&dest, request)
        });
        Ok(())
    }

    /// Aborts request `id` (an rpc, call or receive made cancellable): the
    /// core stops it where it runs, and it settles soon after (a receive
    /// with `null`, or with the message that came first). False when the
    /// request was not cancellable or has settled.
    #[napi(catch_unwind)]
    pub fn abort(&self, id: u32) -> bool {
        self.cx.reply.abort(id)
    }

    /// Connects to `peer`, through EPMD or, given a port, at `host:port`.
    /// The core makes the connection (resolving the host included) on a
    /// thread of its own and settles `id` when it is up or failed.
    #[napi(catch_unwind)]
    pub fn connect(
        &self,
        env: Env,
        id: u32,
        peer: Value,
        host: Option<String>,
        port: Option<u32>,
    ) -> Result<()> {
        let js = Js::new(env.raw());
        let peer = convert::name_from_js(js, peer, "node name")?;
        let reply = self.cx.reply.clone();
        let Some(port) = port else {
            settle_connect(self.node.connect_start(&peer), reply, id);
            return Ok(());
        };
        let Ok(port) = u16::try_from(port) else {
            let err = erldp::Error::InvalidArgument(format!("{port} is not a TCP port"));
            reply.send(id, DecodeOptions::default(), Outcome::Failed(err));
            return Ok(());
        };
        let host = host.unwrap_or_else(|| {
            peer.split_once('@')
                .map_or("", |(_, host)| host)
                .to_string()
        });
        settle_connect(
            self.node.connect_to_host_start(&peer, &host, port),
            reply,
            id,
        );
        Ok(())
    }

    /// `net_adm:ping/1`. The core's ping waits for its answer, so it gets a
    /// short-lived thread of its own rather than holding up the peer's lane.
    #[napi(catch_unwind)]
    pub fn ping(&self, env: Env, id: u32, peer: Value) -> Result<()> {
        let peer = convert::name_from_js(Js::new(env.raw()), peer, "node name")?;
        let (node, reply) = (self.node.clone(), self.cx.reply.clone());
        spawn("erldp-js-ping", &self.cx.reply, id, move || {
            reply.send(
                id,
                DecodeOptions::default(),
                Outcome::Pong(node.ping(&peer)),
            );
        });
        Ok(())
    }

    /// Closes the node; settles `id` once everything pending has failed
    /// with `ECLOSED` (closing waits briefly for connections to flush).
    #[napi(catch_unwind)]
    pub fn close(&self, id: u32) {
        let (node, lanes, reply, desk) = (
            self.node.clone(),
            Arc::clone(&self.cx.lanes),
            self.cx.reply.clone(),
            Arc::clone(&self.cx.desk),
        );
        spawn("erldp-js-close", &self.cx.reply, id, move || {
            lanes.close();
            node.close();
            desk.clear();
            reply.send(id, DecodeOptions::default(), Outcome::Done);
        });
    }

    /// Request `id` (an rpc or a call): `start` runs on the lane of node
    /// `peer`, and the request settles with the answer (see
    /// [`settle_request`]).
    fn start_request(
        &self,
        id: u32,
        peer: Atom,
        timeout: f64,
        flags: u32,
        cancellable: bool,
        start: impl FnOnce(&Node) -> erldp::Result<erldp::Pending<Term>> + Send + 'static,
    ) {
        let (node, reply, options, timeout) = (
            self.node.clone(),
            self.cx.reply.clone(),
            DecodeOptions::from_flags(flags),
            duration(timeout),
        );
        let cancel = reply.cancellable(id, cancellable);
        self.cx.run(peer, move || {
            // Aborted, or failed by the package's backstop, while the jobs
            // ahead of it in the lane waited on the peer: it never goes out.
            if cancel.as_ref().is_some_and(Cancel::is_cancelled) {
                let err = erldp::Error::Timeout {
                    operation: format!("a request to {peer}: cancelled before it was sent"),
                };
                return settle_request(Err(err), timeout, cancel, reply, id, options);
            }
            // A panic is caught by the lane, which would leave the promise
            // unsettled (and a timed one holding the process open).
            let started =
                panic::catch_unwind(AssertUnwindSafe(|| start(&node))).unwrap_or_else(|payload| {
                    Err(erldp::Error::Io(std::io::Error::other(format!(
                        "the request panicked: {}",
                        panic_message(&*payload).unwrap_or("no message")
                    ))))
                });
            settle_request(started, timeout, cancel, reply, id, options);
        });
    }

    pub(crate) fn check_open(&self, js: Js) -> Result<()> {
        if self.node.is_closed() {
            Err(error::throw(js, &erldp::Error::Closed))
        } else {
            Ok(())
        }
    }
}

/// Settles request `id` with the answer of an rpc or call once it comes (or
/// its timeout passes, or `cancel` fires).
fn settle_request(
    started: erldp::Result<erldp::Pending<Term>>,
    timeout: Duration,
    cancel: Option<Cancel>,
    reply: Reply,
    id: u32,
    options: DecodeOptions,
) {
    let cancellable = cancel.is_some();
    let settle = move |result: erldp::Result<Term>| {
        reply.settle_cancellable(id, cancellable, options, result.map(Outcome::Value));
    };
    match (started, cancel) {
        (Ok(pending), Some(cancel)) => pending.on_complete_cancellable(timeout, &cancel, settle),
        (Ok(pending), None) => pending.on_complete(timeout, settle),
        (Err(err), _) => settle(Err(err)),
    }
}

/// Settles `id` when a connection the core is making is up or failed.
fn settle_connect(started: erldp::Result<erldp::Pending<()>>, reply: Reply, id: u32) {
    match started {
        Ok(pending) => pending.on_complete(Duration::MAX, move |result| {
            reply.result(id, DecodeOptions::default(), result.map(|()| Outcome::Done))
        }),
        Err(err) => reply.send(id, DecodeOptions::default(), Outcome::Failed(err)),
    }
}

/// Runs `work` on a thread of its own; if none can be started, request
/// `id` fails with that error.
pub(crate) fn spawn(name: &str, reply: &Reply, id: u32, work: impl FnOnce() + Send + 'static) {
    if let Err(err) = thread::Builder::new().name(name.into()).spawn(work) {
        reply.send(
            id,
            DecodeOptions::default(),
            Outcome::Failed(erldp::Error::Io(err)),
        );
    }
}
