//! The distribution protocol without I/O: what goes on the wire and what
//! it means, shared by [`Node`](crate::Node) (threads per connection) and
//! [`Client`](crate::Client) (one connection on the caller's thread).
//!
//! Implements [Protocol between Connected
//! Nodes](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#protocol-between-connected-nodes)
//! and the [distribution
//! header](https://www.erlang.org/doc/apps/erts/erl_ext_dist.html#distribution-header).
//! The socket work is [`transport`](crate::transport)'s; the handshake is
//! [`handshake`](crate::handshake)'s.

mod atom_cache;
pub(crate) mod control;
pub(crate) mod explain;
pub mod flags;
pub(crate) mod frame;
pub(crate) mod header;
pub(crate) mod identity;
pub(crate) mod io;
pub(crate) mod noproc;
pub(crate) mod requests;
pub(crate) mod serving;

pub(crate) use control::{Control, ProcRef};
pub(crate) use header::{Bounds, Outbound};

#[cfg(test)]
pub(crate) mod tests {
    use super::Bounds;
    use crate::term::{Atom, Pid};

    /// Bounds for tests: frames of up to 1 MiB.
    pub(crate) fn small() -> Bounds {
        Bounds {
            max_message: 1 << 20,
            ..Bounds::default()
        }
    }

    /// Pid `id` of node `a@b`.
    pub(crate) fn pid(id: u32) -> Pid {
        Pid {
            node: Atom::new("a@b"),
            id,
            serial: 0,
            creation: 1,
        }
    }
}
