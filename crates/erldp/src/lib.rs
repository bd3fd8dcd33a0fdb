//! ErlDP: join an Erlang/Elixir cluster as a real, named node.
//!
//! The crate speaks the [Erlang distribution
//! protocol](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html)
//! with blocking sockets and threads: no async runtime, no BEAM-side proxy.

pub mod epmd;
pub mod error;
pub mod term;

pub use error::{Error, Result};
pub use term::{Atom, BigInt, Bitstring, Fun, FunKind, Pid, Port, Ref, Term};
