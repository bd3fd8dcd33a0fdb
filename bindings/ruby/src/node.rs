//! `ErlDP::Node`: the native half. Keyword arguments, defaults and
//! documentation are in `lib/erldp/node.rb`, which calls these.

use std::mem::ManuallyDrop;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use erldp::tls::TlsOptions;
use erldp::{Atom, EpmdMode, NodeBuilder, Pending, Term};
use magnus::{
    error::ErrorType, function, method, prelude::*, Error, RArray, RHash, RModule, Ruby, Symbol,
    TryConvert, Value,
};

use crate::convert::{args_from_ruby, to_ruby};
use crate::errors::raise;
use crate::fork::{Owner, Refuse};
use crate::gvl::Trail;
use crate::mailbox::Mailbox;
use crate::values::Pid;
use crate::{args, fiber, gvl};

#[magnus::wrap(class = "ErlDP::Node", size)]
pub(crate) struct Node(ManuallyDrop<erldp::Node>, Owner, Trail);

impl Drop for Node {
    /// A node the GC frees without `close` closes when its last handle goes,
    /// which waits up to half a second per connection for it to flush: let
    /// that happen on a thread of its own rather than inside the GC. In a
    /// forked child the node is the parent's, and is left alone.
    fn drop(&mut self) {
        if self.1.forked() {
            return;
        }
        // SAFETY: the field is not used again.
        let node = unsafe { ManuallyDrop::take(&mut self.0) };
        // Should no thread start, the closure and the handle in it are
        // dropped right here, which still closes the node.
        let _ = thread::Builder::new()
            .name("erldp-ruby-drop".into())
            .spawn(move || drop(node));
    }
}

/// Runs `op`, which may first have to connect to `peer`. A send that would
/// not wait (`Node::send_would_wait`: a connection up with room, or our own
/// node) runs at once with the GVL held: releasing and taking it again
/// costs more than the send (20k against 90k+ one-way sends a second on 2
/// cores), and so would a `connect_start` per message. Otherwise the
/// connection is made first ([`connected`]) and `op` runs on a thread of
/// its own ([`gvl::off_thread_until`]): a send to a peer that reads nothing
/// may wait up to the node's send timeout, and an interrupt or `deadline`
/// must not (the send goes on, or times out, by itself; the sender's next
/// operation towards that peer waits for it, even one that would not wait
/// itself: see [`Trail`]). A global name's node (`''`) is known only once `op`
/// resolves it. `sender` is the node or mailbox the operation is from.
pub(crate) fn reaching<T: Send + 'static>(
    ruby: &Ruby,
    sender: (&erldp::Node, &Trail),
    peer: Atom,
    deadline: Option<Instant>,
    op: impl FnOnce() -> erldp::Result<T> + Send + 'static,
) -> Result<T, Error> {
    let waits = sender.0.send_would_wait(peer);
    reaching_if(ruby, sender, peer, deadline, waits, true, op)
}

/// [`reaching`] for `monitor_node`, which connects itself and, as
/// `monitor_node/2` does, answers a node it cannot reach with a `nodedown`
/// message rather than an error: no connection is made first.
pub(crate) fn reaching_node(
    ruby: &Ruby,
    sender: (&erldp::Node, &Trail),
    peer: Atom,
    op: impl FnOnce() -> erldp::Result<()> + Send + 'static,
) -> Result<(), Error> {
    let waits = sender.0.send_would_wait(peer);
    reaching_if(ruby, sender, peer, None, waits, false, op)
}

/// [`reaching`] for a send of `message`: one that the core writes from the
/// caller's memory (`Node::send_writes_in_place`: a binary of 64 KiB or
/// more) keeps the caller until the socket has taken it, so it runs without
/// the GVL.
pub(crate) fn sending(
    ruby: &Ruby,
    (node, trail): (&erldp::Node, &Trail),
    peer: Atom,
    message: Term,
    send: impl FnOnce(Term) -> erldp::Result<()> + Send + 'static,
) -> Result<(), Error> {
    let waits = node.send_would_wait(peer) || node.send_writes_in_place(&message);
    reaching_if(ruby, (node, trail), peer, None, waits, true, move || {
        send(message)
    })
}

fn reaching_if<T: Send + 'static>(
    ruby: &Ruby,
    (node, trail): (&erldp::Node, &Trail),
    peer: Atom,
    deadline: Option<Instant>,
    waits: bool,
    connect: bool,
    op: impl FnOnce() -> erldp::Result<T> + Send + 'static,
) -> Result<T, Error> {
    if !waits && !trail.busy(peer) {
        return op().map_err(|err| raise(ruby, err));
    }
    if connect && !peer.as_str().is_empty() {
        connected(ruby, node.connect_start(peer.as_str()), peer, deadline)?;
    }
    match gvl::off_thread_until(ruby, deadline, (trail, peer), op)? {
        Some(done) => done.map_err(|err| raise(ruby, err)),
        None => Err(raise(
            ruby,
            erldp::Error::Timeout {
                operation: if peer.as_str().is_empty() {
                    "sending to a global name".to_string()
                } else {
                    format!(
                        "sending to {}, which leaves what it was sent unread",
                        peer.as_str()
                    )
                },
            },
        )),
    }
}

/// Waits for a connection the core is making (`connect_start`), with the
/// GVL released (or through the fiber scheduler), until `deadline`: an
/// interrupt or the deadline ends the wait at once, and the attempt runs on
/// to its own end for whoever sends next.
fn connected(
    ruby: &Ruby,
    started: erldp::Result<Pending<()>>,
    peer: Atom,
    deadline: Option<Instant>,
) -> Result<(), Error> {
    let pending = started.map_err(|err| raise(ruby, err))?;
    if pending.is_ready() {
        return pending.wait(Duration::ZERO).map_err(|err| raise(ruby, err));
    }
    settled(ruby, pending, deadline, || {
        format!("connecting to {}", peer.as_str())
    })
}

/// An rpc or a call, timed from when its method was called: the node, when
/// the wait for the answer ends, and the timeout as given, for the message
/// should it pass.
struct Answer<'a> {
    sender: (&'a erldp::Node, &'a Trail),
    deadline: Option<Instant>,
    timeout: Option<f64>,
}

impl<'a> Answer<'a> {
    /// Errs in a forked child of the node's process (`fork.rs`) and for a
    /// timeout that is no number of seconds.
    fn new(ruby: &Ruby, node: &'a Node, timeout: Option<f64>) -> Result<Answer<'a>, Error> {
        Ok(Answer {
            sender: node.sender(ruby)?,
            deadline: args::deadline(ruby, timeout)?,
            timeout,
        })
    }

    /// Starts the request (`start`, once `peer` is reached: see
    /// [`reaching`]) and waits for its answer until the deadline;
    /// `operation` says what timed out.
    fn wait(
        self,
        ruby: &Ruby,
        peer: Atom,
        start: impl FnOnce(&erldp::Node) -> erldp::Result<Pending<Term>> + Send + 'static,
        operation: impl FnOnce() -> String,
    ) -> Result<Value, Error> {
        let starter = self.sender.0.clone();
        let pending = reaching(ruby, self.sender, peer, self.deadline, move || {
            start(&starter)
        })?;
        let value = settled(ruby, pending, self.deadline, || {
            let waited = match self.timeout {
                Some(seconds) => format!("no answer within {seconds} s"),
                None => "no answer".into(),
            };
            format!("{}: {waited}", operation())
        })?;
        to_ruby(ruby, &value)
    }
}

/// What `pending` settles with, waiting with the GVL released (or through
/// the fiber scheduler) until `deadline`: an interrupt or the deadline ends
/// the wait at once, and `operation` says what timed out. Dropping the
/// pending request abandons it: the remote side stops.
fn settled<T: Send + 'static>(
    ruby: &Ruby,
    mut pending: Pending<T>,
    deadline: Option<Instant>,
    operation: impl FnOnce() -> String,
) -> Result<T, Error> {
    if fiber::active() {
        return fiber::pending(ruby, pending, deadline)?.map_err(|err| raise(ruby, err));
    }
    match gvl::wait(ruby, deadline, |remaining, cancel| {
        pending.wait_cancellable(remaining, cancel)
    })? {
        Some(done) => done.map_err(|err| raise(ruby, err)),
        None => Err(raise(
            ruby,
            erldp::Error::Timeout {
                operation: operation(),
            },
        )),
    }
}

impl Node {
    /// Another handle to the node, for work that outlives the borrow.
    /// (`self.0.clone()` would clone the `ManuallyDrop` and leak it.)
    /// Errs in a forked child of the node's process (`fork.rs`).
    pub(crate) fn handle(&self, ruby: &Ruby) -> Result<erldp::Node, Error> {
        Ok(erldp::Node::clone(self.core(ruby)?))
    }

    /// The node, unless this is a forked child of its process (`fork.rs`).
    pub(crate) fn core(&self, ruby: &Ruby) -> Result<&erldp::Node, Error> {
        self.1.check(ruby, "node")?;
        Ok(&self.0)
    }

    /// The node, and what its own sends left running (see [`Trail`]).
    pub(crate) fn sender(&self, ruby: &Ruby) -> Result<(&erldp::Node, &Trail), Error> {
        Ok((self.core(ruby)?, &self.2))
    }

    /// `Node.start(name, options)`: `lib/erldp/node.rb` passes every option
    /// of `Node.new`, with its defaults, in one Hash.
    fn start(ruby: &Ruby, name: String, options: RHash) -> Result<Node, Error> {
        fn option<T: TryConvert>(ruby: &Ruby, options: RHash, key: &str) -> Result<T, Error> {
            // A conversion error says what did not fit ("fixnum too big to
            // convert into `u16`"), not where: it gains the option's name.
            options
                .aref(ruby.to_symbol(key))
                .map_err(|err| match err.error_type() {
                    ErrorType::Error(class, message) => {
                        Error::new(*class, format!("{key}: {message}"))
                    }
                    ErrorType::Exception(exception) => {
                        Error::new(exception.exception_class(), format!("{key}: {exception}"))
                    }
                    ErrorType::Jump(_) => err,
                })
        }
        let cookie: Option<String> = option(ruby, options, "cookie")?;
        let hidden: bool = option(ruby, options, "hidden")?;
        let epmd: Value = option(ruby, options, "epmd")?;
        let listen_port: u16 = option(ruby, options, "listen_port")?;
        let net_ticktime: f64 = option(ruby, options, "net_ticktime")?;
        let epmd_port: Option<u16> = option(ruby, options, "epmd_port")?;
        let dist_port: Option<u16> = option(ruby, options, "dist_port")?;
        let setup_timeout: f64 = option(ruby, options, "setup_timeout")?;
        let long_names: Option<bool> = option(ruby, options, "long_names")?;
        let tls: Option<RHash> = option(ruby, options, "tls")?;
        let ipv6: bool = option(ruby, options, "ipv6")?;
        let max_message_size: Option<usize> = option(ruby, options, "max_message_size")?;
        let max_pending_handshakes: Option<usize> =
            option(ruby, options, "max_pending_handshakes")?;
        let max_monitors_per_peer: Option<usize> = option(ruby, options, "max_monitors_per_peer")?;
        let send_timeout: Option<f64> = option(ruby, options, "send_timeout")?;
        let send_queue_limit: Option<usize> = option(ruby, options, "send_queue_limit")?;
        let mailbox_queue_limit: Option<usize> = option(ruby, options, "mailbox_queue_limit")?;
        let mode = match args::name(ruby, epmd, "epmd mode")?.as_str() {
            "auto" => EpmdMode::Auto,
            "external" => EpmdMode::External,
            "none" => EpmdMode::None,
            other => {
                return Err(Error::new(
                    ruby.exception_arg_error(),
                    format!("epmd: must be :auto, :external or :none, not {other:?}"),
                ))
            }
        };
        let net_ticktime = args::seconds(ruby, net_ticktime, "net_ticktime")?;
        let setup_timeout = args::seconds(ruby, setup_timeout, "setup_timeout")?;
        let tls = match tls {
            Some(tls) => {
                let path = |key: &str| -> Result<Option<PathBuf>, Error> {
                    Ok(option::<Option<String>>(ruby, tls, key)?.map(PathBuf::from))
                };
                let options = TlsOptions {
                    certfile: path("certfile")?,
                    keyfile: path("keyfile")?,
                    cacertfile: path("cacertfile")?,
                    verify: option(ruby, tls, "verify")?,
                    optfile: path("optfile")?,
                };
                // Reads the files: short, local work.
                Some(options.config().map_err(|err| raise(ruby, err))?)
            }
            None => None,
        };
        let send_timeout = send_timeout
            .map(|seconds| args::seconds(ruby, seconds, "send_timeout"))
            .transpose()?;
        let builder = erldp::Node::builder(name)
            .hidden(hidden)
            .epmd(mode)
            .listen_port(listen_port)
            .net_ticktime(net_ticktime)
            .setup_timeout(setup_timeout)
            .ipv6(ipv6)
            .mailbox_queue_limit(mailbox_queue_limit)
            .given(cookie, NodeBuilder::cookie)
            .given(epmd_port, NodeBuilder::epmd_port)
            .given(dist_port, NodeBuilder::dist_port)
            .given(long_names, NodeBuilder::long_names)
            .given(tls, NodeBuilder::tls)
            .given(max_message_size, NodeBuilder::max_message_size)
            .given(max_pending_handshakes, NodeBuilder::max_pending_handshakes)
            .given(max_monitors_per_peer, NodeBuilder::max_monitors_per_peer)
            .given(send_timeout, NodeBuilder::send_timeout)
            .given(send_queue_limit, NodeBuilder::send_queue_limit);
        // Registering with EPMD is network I/O the core cannot cancel.
        let node =
            gvl::off_thread(ruby, move || builder.start())?.map_err(|err| raise(ruby, err))?;
        Ok(Node(
            ManuallyDrop::new(node),
            Owner::current(),
            Trail::default(),
        ))
    }

    fn name(ruby: &Ruby, rb_self: &Self) -> Symbol {
        ruby.to_symbol(rb_self.0.name().as_str())
    }

    fn pid(ruby: &Ruby, rb_self: &Self) -> Value {
        Pid::wrap(ruby, rb_self.0.pid())
    }

    fn port(&self) -> u16 {
        self.0.port()
    }

    fn is_hidden(&self) -> bool {
        self.0.is_hidden()
    }

    fn connect(
        ruby: &Ruby,
        rb_self: &Self,
        peer: Value,
        host: Option<String>,
        port: Option<u16>,
    ) -> Result<bool, Error> {
        let node = rb_self.core(ruby)?;
        let peer = args::name(ruby, peer, "node name")?;
        let started = match port {
            Some(port) => {
                let host = host.unwrap_or_else(|| {
                    peer.split_once('@')
                        .map_or(peer.clone(), |(_, host)| host.to_string())
                });
                node.connect_to_host_start(&peer, &host, port)
            }
            None => node.connect_start(&peer),
        };
        connected(ruby, started, Atom::new(&peer), None).map(|()| true)
    }

    fn ping(ruby: &Ruby, rb_self: &Self, peer: Value) -> Result<Symbol, Error> {
        let node = rb_self.handle(ruby)?;
        let peer = args::name(ruby, peer, "node name")?;
        // The core's ping of a closed node is a pang; every other call raises.
        if node.is_closed() {
            return Err(raise(ruby, erldp::Error::Closed));
        }
        let pong = gvl::off_thread(ruby, move || node.ping(&peer))?;
        Ok(ruby.to_symbol(if pong { "pong" } else { "pang" }))
    }

    fn rpc(
        ruby: &Ruby,
        rb_self: &Self,
        peer: Value,
        module: Value,
        function: Value,
        arguments: RArray,
        timeout: Option<f64>,
    ) -> Result<Value, Error> {
        let answer = Answer::new(ruby, rb_self, timeout)?;
        let peer = args::name(ruby, peer, "node name")?;
        let module = args::name(ruby, module, "module")?;
        let function = args::name(ruby, function, "function")?;
        let arguments = args_from_ruby(ruby, arguments).map_err(|err| raise(ruby, err))?;
        let arity = arguments.len();
        let operation = format!("rpc {module}:{function}/{arity} on {peer}");
        answer.wait(
            ruby,
            Atom::new(&peer),
            move |node| node.rpc_start(&peer, &module, &function, arguments),
            || operation,
        )
    }

    fn call(
        ruby: &Ruby,
        rb_self: &Self,
        dest: Value,
        request: Value,
        timeout: Option<f64>,
    ) -> Result<Value, Error> {
        let answer = Answer::new(ruby, rb_self, timeout)?;
        let dest = args::dest(ruby, dest)?;
        let request = args::term(ruby, request)?;
        let operation = format!("gen_server call to {dest}");
        answer.wait(
            ruby,
            dest.node(),
            move |node| node.call_start(&dest, request),
            || operation,
        )
    }

    fn cast(ruby: &Ruby, rb_self: &Self, dest: Value, request: Value) -> Result<(), Error> {
        let sender = rb_self.sender(ruby)?;
        let dest = args::dest(ruby, dest)?;
        let request = args::term(ruby, request)?;
        let caster = sender.0.clone();
        reaching(ruby, sender, dest.node(), None, move || {
            caster.cast(&dest, request)
        })
    }

    fn send_message(ruby: &Ruby, rb_self: &Self, dest: Value, message: Value) -> Result<(), Error> {
        let sender = rb_self.sender(ruby)?;
        let dest = args::dest(ruby, dest)?;
        let message = args::term(ruby, message)?;
        let node = sender.0.clone();
        sending(ruby, sender, dest.node(), message, move |message| {
            node.send(&dest, message)
        })
    }

    fn mailbox(ruby: &Ruby, rb_self: &Self, name: Option<Value>) -> Result<Mailbox, Error> {
        let node = rb_self.core(ruby)?;
        let name = name
            .map(|name| args::name(ruby, name, "mailbox name"))
            .transpose()?;
        node.mailbox(name.as_deref())
            .map(Mailbox::new)
            .map_err(|err| raise(ruby, err))
    }

    fn nodes(ruby: &Ruby, rb_self: &Self) -> Result<RArray, Error> {
        Ok(ruby.ary_from_iter(
            rb_self
                .core(ruby)?
                .nodes()
                .into_iter()
                .map(|node| ruby.to_symbol(node.as_str())),
        ))
    }

    fn close(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        if rb_self.1.forked() {
            return Ok(());
        }
        // Closing flushes each connection for up to half a second and waits
        // for the node's threads.
        let node = rb_self.handle(ruby)?;
        if fiber::active() {
            return gvl::off_thread(ruby, move || node.close());
        }
        gvl::without_gvl_uninterruptible(ruby, move || node.close())
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    fn inspect(&self) -> String {
        format!("#<ErlDP::Node {}>", self.0.name().as_str())
    }
}

pub(crate) fn define(ruby: &Ruby, module: RModule) -> Result<(), Error> {
    let class = crate::native_class(ruby, module, "Node")?;
    class.define_singleton_method("start", function!(Node::start, 2))?;
    class.define_method("name", method!(Node::name, 0))?;
    class.define_method("pid", method!(Node::pid, 0))?;
    class.define_method("port", method!(Node::port, 0))?;
    class.define_method("hidden?", method!(Node::is_hidden, 0))?;
    class.define_private_method("native_connect", method!(Node::connect, 3))?;
    class.define_method("ping", method!(Node::ping, 1))?;
    class.define_private_method("native_rpc", method!(Node::rpc, 5))?;
    class.define_private_method("native_call", method!(Node::call, 3))?;
    class.define_method("cast", method!(Node::cast, 2))?;
    class.define_method("send_message", method!(Node::send_message, 2))?;
    class.define_private_method("native_mailbox", method!(Node::mailbox, 1))?;
    class.define_method("nodes", method!(Node::nodes, 0))?;
    class.define_private_method("native_close", method!(Node::close, 0))?;
    class.define_method("closed?", method!(Node::is_closed, 0))?;
    crate::define_inspect(class, method!(Node::inspect, 0))?;
    Ok(())
}
