//! ErlDP: join an Erlang/Elixir cluster as a real, named node.
//!
//! The crate speaks the [Erlang distribution
//! protocol](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html)
//! with blocking sockets and threads: no async runtime, no BEAM-side proxy.
//!
//! - [`Node`] (made by [`Node::builder`]) is our node: it connects, pings,
//!   calls functions ([`Node::rpc`], [`Node::call`]) and sends.
//! - [`Mailbox`] is a process of our node: a pid, an optional registered
//!   name, a queue of [`Message`]s, links and monitors.
//! - [`Node::serve`] and [`Node::expose`] let BEAM code call the program:
//!   `gen_server:call` to a served name, `rpc:call`/`erpc:call` to an
//!   exposed module ([`serve`]).
//! - [`Term`] is an Erlang term; it parses and prints Erlang syntax and
//!   converts to and from the External Term Format ([`term`]).
//! - [`Error`] is the one error type; [`logging`] explains what is logged
//!   and how to see it (`ERLDP_LOG`); [`epmd`] looks nodes up; [`elixir`]
//!   spells module names and exceptions as Elixir does.
//!
//! Talking to a BEAM node (`peer@host`, started with `erl -sname peer
//! -setcookie secret`), so this example is not run by `cargo test`; the
//! examples on [`Term`], [`Node`], [`Dest`], [`Error`], [`Cancel`] and in
//! [`epmd`] and [`logging`] need no peer and are run:
//!
//! ```no_run
//! use std::time::Duration;
//! use erldp::{Dest, Node, Term};
//!
//! # fn main() -> erldp::Result<()> {
//! let node = Node::builder("rust").cookie("secret").start()?;
//! let sum = node.rpc("peer@host", "lists", "sum", vec!["[1,2,3]".parse()?], Duration::from_secs(5))?;
//! assert_eq!(sum, Term::from(6));
//! let mbox = node.mailbox(Some("inbox"))?;
//! mbox.send(&Dest::name("echo", "peer@host"), Term::tuple(vec![mbox.pid().into(), "hi".into()]))?;
//! if let Some(msg) = mbox.recv_timeout(Duration::from_secs(5))? {
//!     println!("{}", msg.term);
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod client;
mod cluster;
mod connection;
mod cookie;
mod deadline;
mod dest;
pub mod elixir;
pub mod epmd;
pub mod error;
mod fast_map;
pub mod fork;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod host;
mod inbox;
pub mod limits;
pub mod logging;
mod mailbox;
mod message;
mod node;
mod pending;
mod proto_dist;
mod protocol;
mod random;
mod resolve;
pub mod serve;
mod settings;
pub mod sync;
pub mod term;
mod threads;
pub mod tls;
mod transport;

pub use client::{Client, ClientBuilder, Interrupter};
pub use cookie::{cookie_path, default_cookie};
pub use dest::Dest;
pub use error::{Error, ErrorKind, Result};
pub use host::short_hostname;
pub use mailbox::Mailbox;
pub use message::{Message, MessageKind};
pub use node::{ClusterLimits, EpmdMode, Exposed, Node, NodeBuilder, Served, DEFAULT_SCOPE};
pub use pending::{Cancel, Pending};
pub use protocol::flags;
pub use resolve::long_hostname;
pub use serve::{Exception, Invocation, Reply, Request, ServeOptions};
pub use term::{Atom, BigInt, Bitstring, Fun, FunKind, Pid, Port, Ref, Term};
