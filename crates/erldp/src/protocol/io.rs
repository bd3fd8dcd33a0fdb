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
/// an `io_request` from a process of `via`, the peer whose connection
/// carried it. A process asks its group leader itself; one naming a process
/// of a third node would have us push what it likes into our connection to
/// that node.
pub(crate) fn forward(
    group_leader: Pid,
    us: Atom,
    via: Atom,
    message: Term,
) -> Result<(Atom, Control), Term> {
    let requester = match &message {
        Term::Tuple(fields) if fields.len() == 4 && fields[0].is_atom("io_request") => {
            fields[1].as_pid()
        }
        _ => None,
    };
    match requester {
        Some(requester) if requester.node != us && requester.node == via => Ok((
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_requests_of_the_carrying_peer_go_on() {
        let pid = |node: &str| Pid {
            node: Atom::new(node),
            id: 7,
            serial: 0,
            creation: 1,
        };
        let (leader, us) = (pid("us@h"), Atom::new("us@h"));
        let request = |requester: Pid| {
            Term::tuple(vec![
                Term::atom("io_request"),
                requester.into(),
                Term::atom("reply_as"),
                Term::atom("getopts"),
            ])
        };
        let via = Atom::new("peer@h");
        match forward(leader, us, via, request(pid("peer@h"))) {
            Ok((node, Control::RegSend { from, to, .. })) => {
                assert_eq!((node, from, to.as_str()), (via, leader, "user"));
            }
            other => panic!("not forwarded: {other:?}"),
        }
        for requester in [pid("third@h"), pid("us@h")] {
            assert!(forward(leader, us, via, request(requester)).is_err());
        }
        assert!(forward(leader, us, via, Term::atom("hello")).is_err());
    }
}
