//! [`NodeBuilder`]: the options a [`Node`] starts with, each a documented
//! default that a method changes.

use std::time::Duration;

use super::cluster::ClusterOptions;
use super::{ClusterLimits, Node, NodeInner};
use crate::cookie::Secret;
use crate::epmd::ServerLimits;
use crate::limits;
use crate::settings::Settings;
use crate::tls::TlsConfig;
use crate::Result;

/// How the node uses EPMD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EpmdMode {
    /// Use the EPMD on the EPMD port when one answers; otherwise run one
    /// inside this program, which BEAM nodes started later register with
    /// (with a [`dist_port`](NodeBuilder::dist_port), run none).
    #[default]
    Auto,
    /// Require a running EPMD.
    External,
    /// Neither register nor look up: peers are reached at an address given
    /// ([`Node::connect_to`], [`Node::connect_to_host`]) or at the
    /// [`dist_port`](NodeBuilder::dist_port), and find us only by ours.
    None,
}

/// Options for starting a [`Node`]; made by [`Node::builder`]. Its `Debug`
/// leaves the cookie out.
#[derive(Clone, Debug)]
pub struct NodeBuilder {
    pub(super) name: String,
    pub(super) settings: Settings,
    pub(super) epmd: EpmdMode,
    pub(super) embedded_epmd: ServerLimits,
    pub(super) listen_port: u16,
    pub(super) long_names: Option<bool>,
    pub(super) max_message: usize,
    pub(super) max_message_terms: usize,
    pub(super) max_atoms_per_peer: usize,
    pub(super) handler_threads: usize,
    pub(super) max_pending_handshakes: usize,
    pub(super) max_fragmented_messages: usize,
    pub(super) max_monitors_per_peer: usize,
    pub(super) send_timeout: Duration,
    pub(super) send_queue_limit: usize,
    pub(super) mailbox_queue_limit: Option<usize>,
    pub(super) cluster: ClusterOptions,
}

impl NodeBuilder {
    /// `set` with `value` when there is one; the builder as it is (the
    /// option's default) otherwise: for options read from configuration
    /// that may leave them out.
    ///
    /// ```
    /// use erldp::NodeBuilder;
    ///
    /// let port: Option<u16> = None; // not configured
    /// let builder = erldp::Node::builder("app@localhost")
    ///     .given(port, NodeBuilder::listen_port)
    ///     .given(Some("secret"), NodeBuilder::cookie);
    /// # drop(builder);
    /// ```
    pub fn given<T>(self, value: Option<T>, set: impl FnOnce(Self, T) -> Self) -> Self {
        match value {
            Some(value) => set(self, value),
            None => self,
        }
    }

    /// The cookie (default: `$HOME/.erlang.cookie`, created like `erl` does).
    pub fn cookie(mut self, cookie: impl Into<String>) -> Self {
        self.settings.cookie = Some(Secret::new(cookie));
        self
    }

    /// Hidden (the default, like a C node) or visible: a visible node
    /// appears in `nodes()` of the nodes it connects to.
    pub fn hidden(mut self, hidden: bool) -> Self {
        self.settings.hidden = hidden;
        self
    }

    /// How to use EPMD (default [`EpmdMode::Auto`]).
    pub fn epmd(mut self, mode: EpmdMode) -> Self {
        self.epmd = mode;
        self
    }

    /// The EPMD port (default: `$ERL_EPMD_PORT`, else 4369).
    pub fn epmd_port(mut self, port: u16) -> Self {
        self.settings.epmd_port = Some(port);
        self
    }

    /// Bounds on what clients may make the EPMD hold that
    /// [`EpmdMode::Auto`] starts inside the program when none answers
    /// (defaults in [`ServerLimits`]). The first node to start it sets them;
    /// it serves the process's later nodes too.
    pub fn embedded_epmd_limits(mut self, limits: ServerLimits) -> Self {
        self.embedded_epmd = limits;
        self
    }

    /// The one port every node of the cluster listens on, as BEAM's
    /// `-erl_epmd_port` has it (clusters without EPMD): this node listens on
    /// it, and reaches each peer at it on the peer's host, asking no EPMD
    /// (unless [`connect_to`](crate::Node::connect_to) or
    /// [`connect_to_host`](crate::Node::connect_to_host) gave another
    /// address). As BEAM then does, [`EpmdMode::Auto`] registers with the
    /// EPMD that answers, if one does, and starts none (a failure to
    /// register is logged, not an error); [`EpmdMode::External`] requires
    /// one; [`EpmdMode::None`] registers nowhere. Default (and 0): none,
    /// ports come from EPMD.
    pub fn dist_port(mut self, port: u16) -> Self {
        self.settings.dist_port = (port != 0).then_some(port);
        self
    }

    /// The port to listen on for incoming connections (0, the default,
    /// picks a free one; with [`dist_port`](Self::dist_port), that port).
    pub fn listen_port(mut self, port: u16) -> Self {
        self.listen_port = port;
        self
    }

    /// Like `-kernel net_ticktime`: a peer silent this long is considered
    /// down, and we tick every quarter of it (default 60 s).
    pub fn net_ticktime(mut self, ticktime: Duration) -> Self {
        self.settings.net_ticktime = ticktime;
        self
    }

    /// How long connecting (EPMD lookup, TCP, handshake) may take in all
    /// (default 7 s, like `net_setuptime`); also how long a peer connecting
    /// to us may take over its handshake before it is cut off.
    pub fn setup_timeout(mut self, timeout: Duration) -> Self {
        self.settings.setup_timeout = timeout;
        self
    }

    /// Long names (`name@host.domain`) instead of short ones. Implied when
    /// the name already carries a host with a dot (or an address). As with
    /// BEAM's `-name`, a name without a host then needs this host's fully
    /// qualified name, and a short-named node cannot have a host with dots;
    /// a node with long names connects only to long-named nodes, one with
    /// short names only to short-named ones.
    pub fn long_names(mut self, long: bool) -> Self {
        self.long_names = Some(long);
        self
    }

    /// The largest message accepted from a peer (default 1 GiB); a bigger
    /// one ends that connection.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// How many elements a message from a peer may hold in all (default
    /// [`DEFAULT_MAX_TERMS`](crate::term::decode::DEFAULT_MAX_TERMS), 8 Mi:
    /// each costs a 56-byte [`Term`](crate::Term)); a message with more ends that
    /// connection. See [`Limits`](crate::term::Limits).
    pub fn max_message_terms(mut self, terms: usize) -> Self {
        self.max_message_terms = terms;
        self
    }

    /// How many atoms longer than 15 bytes one peer may add to the
    /// process's atom table over the life of this node (default
    /// [`DEFAULT_ATOMS_PER_PEER`](crate::term::DEFAULT_ATOMS_PER_PEER),
    /// 65,536). Shorter atoms and atoms the table already holds are free. A
    /// message that would add one more ends that peer's connection, and
    /// from then on its messages may use only atoms the table holds; other
    /// peers are not affected. Why: [`Atom`](crate::term::Atom).
    pub fn max_atoms_per_peer(mut self, atoms: usize) -> Self {
        self.max_atoms_per_peer = atoms;
        self
    }

    /// How many threads may run the closures of [`Node::serve`] and
    /// [`Node::expose`] at once (default
    /// [`DEFAULT_HANDLER_THREADS`](crate::serve::DEFAULT_HANDLER_THREADS),
    /// 256). Threads start when requests come and end after 10 s idle; each
    /// served name or exposed module uses at most its
    /// [`concurrency`](crate::ServeOptions::concurrency) of them.
    pub fn handler_threads(mut self, threads: usize) -> Self {
        self.handler_threads = threads;
        self
    }

    /// TLS distribution, as BEAM nodes started with `-proto_dist inet_tls`
    /// (and `-ssl_dist_optfile`) run it: every connection, both ways, is
    /// TLS from its first byte, checked as `config` says (see
    /// [`TlsConfig`]). Such a node never falls back to plain TCP; its
    /// certificate and key are read when it starts. Default: plain TCP.
    pub fn tls(mut self, config: TlsConfig) -> Self {
        self.settings.tls = Some(config);
        self
    }

    /// IPv6 distribution, as BEAM nodes started with `-proto_dist
    /// inet6_tcp` (or `inet6_tls`, with [`tls`](Self::tls)) run it: the
    /// node listens on every IPv6 address (IPv4 connections are taken too),
    /// and reaches peers at the IPv6 addresses of their hosts, asking EPMD
    /// there; this machine's own host name is `::1` when the resolver knows
    /// no IPv6 address for it, as on BEAM. Default: IPv4.
    pub fn ipv6(mut self, ipv6: bool) -> Self {
        self.settings.ipv6 = ipv6;
        self
    }

    /// How many incoming handshakes may be under way at once (default
    /// [`DEFAULT_MAX_PENDING_HANDSHAKES`](crate::limits::DEFAULT_MAX_PENDING_HANDSHAKES), 64). Each has a thread and a
    /// socket for at most the setup timeout; a connection that arrives
    /// while this many are under way is closed at once. As many connects
    /// again, counted apart, may run to reach callers that a served name
    /// answers on nodes we are not connected to (calls forwarded through
    /// another node), each with up to 1,024 replies waiting for it; a reply
    /// past them is not sent. And as many again for the nodes global learns
    /// of and connects to (`sync_other`): the rest wait their turn.
    pub fn max_pending_handshakes(mut self, handshakes: usize) -> Self {
        self.max_pending_handshakes = handshakes;
        self
    }

    /// How many messages may be arriving in fragments at once on one
    /// connection (default
    /// [`DEFAULT_FRAGMENTED_MESSAGES`](crate::limits::DEFAULT_FRAGMENTED_MESSAGES),
    /// 1024); one more ends that connection. A BEAM node fragments a
    /// message larger than 64 KiB, and has one such message on its way per
    /// process sending one. Their bytes count against
    /// [`max_message_size`](Self::max_message_size) together.
    pub fn max_fragmented_messages(mut self, messages: usize) -> Self {
        self.max_fragmented_messages = messages;
        self
    }

    /// How many links and monitors one peer may hold on our processes at
    /// once (default [`DEFAULT_MONITORS_PER_PEER`](crate::limits::DEFAULT_MONITORS_PER_PEER), 65,536; each costs a
    /// few hundred bytes). A link or monitor past it ends that peer's
    /// connection, which takes them all away.
    pub fn max_monitors_per_peer(mut self, monitors: usize) -> Self {
        self.max_monitors_per_peer = monitors;
        self
    }

    /// How long a send may wait for room while a connection has the
    /// [`send_queue_limit`](Self::send_queue_limit) queued that the peer
    /// has not taken yet (default
    /// [`DEFAULT_SEND_TIMEOUT`](crate::limits::DEFAULT_SEND_TIMEOUT), 60 s); then it fails with
    /// [`Error::Timeout`](crate::Error::Timeout) and nothing is sent.
    ///
    /// A message holding a binary of 64 KiB or more (or given as ETF of
    /// 64 KiB or more) is written by the sending thread from the caller's
    /// memory, not copied, so such a send returns once the socket has
    /// taken it; what it has not taken when this time is up is queued as
    /// any message would be, and the send succeeds.
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// How much one connection may hold that the peer has not taken before
    /// sends wait (default
    /// [`DEFAULT_SEND_QUEUE_LIMIT`](crate::limits::DEFAULT_SEND_QUEUE_LIMIT),
    /// 16 MiB; at least 1 byte). The signals the node owes a peer (answers
    /// to its links, unlinks, monitors and spawn requests; our processes'
    /// link signals, exits and `DOWN`s), and whatever the thread reading
    /// from a peer sends of its own (a ping's reply, `rex`'s `undef`; a
    /// handler run there with
    /// [`ServeOptions::on_reader`](crate::ServeOptions::on_reader) sends as
    /// any thread does), never wait:
    /// they are queued past it, up to as much again, and one more ends that
    /// connection, so that a peer that keeps asking and reads nothing
    /// cannot stall the thread that reads from it or make its queue grow
    /// without bound. The queue counts what waits behind the batch the
    /// connection's writer took: a peer that reads a little now and then
    /// can make a connection hold up to four times this.
    pub fn send_queue_limit(mut self, bytes: usize) -> Self {
        self.send_queue_limit = bytes.max(1);
        self
    }

    /// The queue limit every new mailbox starts with (default `None`: no
    /// limit, as on BEAM); see
    /// [`Mailbox::set_queue_limit`](crate::Mailbox::set_queue_limit).
    pub fn mailbox_queue_limit(mut self, limit: Option<usize>) -> Self {
        self.mailbox_queue_limit = limit;
        self
    }

    /// Like kernel's `prevent_overlapping_partitions` (on by default, as
    /// since OTP 25): when a visible node of ours loses its connection to a
    /// node of its global cluster, it tells the others, and those still
    /// connected to that node disconnect from it, so that the cluster never
    /// splits into partitions that overlap. Off, a lost connection is only
    /// ours.
    pub fn prevent_overlapping_partitions(mut self, on: bool) -> Self {
        self.cluster.prevent_overlapping_partitions = on;
        self
    }

    /// Bounds on what peers may make global and pg keep on our node
    /// (defaults in [`ClusterLimits`]).
    pub fn cluster_limits(mut self, limits: ClusterLimits) -> Self {
        self.cluster.limits = limits;
        self
    }

    /// Starts the node: listens, registers with EPMD, and is ready to
    /// connect and be connected to.
    pub fn start(self) -> Result<Node> {
        NodeInner::start(self)
    }
}

impl Node {
    /// Starts building a node named `name` (`"ruby"` becomes
    /// `ruby@<short hostname>`; `"ruby@host.example.com"` is used as is).
    pub fn builder(name: impl Into<String>) -> NodeBuilder {
        NodeBuilder {
            name: name.into(),
            settings: Settings::default(),
            epmd: EpmdMode::Auto,
            embedded_epmd: ServerLimits::default(),
            listen_port: 0,
            long_names: None,
            max_message: 1 << 30,
            max_message_terms: crate::term::decode::DEFAULT_MAX_TERMS,
            max_atoms_per_peer: crate::term::DEFAULT_ATOMS_PER_PEER,
            handler_threads: crate::serve::DEFAULT_HANDLER_THREADS,
            max_pending_handshakes: limits::DEFAULT_MAX_PENDING_HANDSHAKES,
            max_fragmented_messages: limits::DEFAULT_FRAGMENTED_MESSAGES,
            max_monitors_per_peer: limits::DEFAULT_MONITORS_PER_PEER,
            send_timeout: limits::DEFAULT_SEND_TIMEOUT,
            send_queue_limit: limits::DEFAULT_SEND_QUEUE_LIMIT,
            mailbox_queue_limit: None,
            cluster: ClusterOptions {
                prevent_overlapping_partitions: true,
                limits: ClusterLimits::default(),
            },
        }
    }
}
