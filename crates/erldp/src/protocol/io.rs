//! I/O from processes that our rpcs spawned on another node.
//!
//! A spawn request names the new process's group leader, and our rpcs name
//! a pid of ours: its output and input requests come to us as
//! [`io_request`](https://www.erlang.org/doc/apps/stdlib/io_protocol.html)
//! messages. They go on to the `user` process of the node the requester
//! runs on, which answers the requester directly, so output appears on
//! that node's standard output, as with `erl_call`.

use super::control::Control;
use crate::term::{Atom, Pid, Term};

/// The node to send an I/O request to and the message that forwards it,
/// from our `group_leader`; `None` (giving the message back) when it is not
/// an `io_request` from another node than `us`.
pub(crate) fn forward(group_leader: Pid, us: Atom, message: Term) -> Result<(Atom, Control), Term> {
    let requester = match &message {
        Term::Tuple(fields) if fields.len() == 4 && fields[0].is_atom("io_request") => {
            fields[1].as_pid()
        }
        _ => None,
    };
    match requester {
        Some(requester) if requester.node != us => Ok((
            requester.node,
            Control::RegSend {
                from: group_leader,
                to: crate::atom!("user"),
                message,
            },
        )),
        _ => Err(message),
    }
}
