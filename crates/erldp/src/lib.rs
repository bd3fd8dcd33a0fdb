//! ErlDP: join an Erlang/Elixir cluster as a real, named node.
//!
//! The crate speaks the [Erlang distribution
//! protocol](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html)
//! with blocking sockets and threads: no async runtime, no BEAM-side proxy.
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

mod connection;
mod dist;
pub mod epmd;
pub mod error;
mod handshake;
pub mod logging;
mod mailbox;
mod node;
mod pending;
mod rpc;
pub mod term;
mod util;

pub use error::{Error, Result};
pub use handshake::flags;
pub use mailbox::{Dest, Mailbox, Message, MessageKind};
pub use node::{EpmdMode, Node, NodeBuilder};
pub use pending::{Cancel, Pending};
pub use term::{Atom, BigInt, Bitstring, Fun, FunKind, Pid, Port, Ref, Term};
pub use util::{cookie_path, default_cookie, long_hostname, short_hostname};
