//! What a node answers for a process it does not have, as erts does: a
//! link gets an exit signal `noproc`, a monitor fires at once with `noproc`,
//! an unlink is acknowledged all the same, and a spawn request is refused
//! (`notsup`, until our node serves them).
//!
//! Implements the answers of the [link
//! protocol](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#link_protocol)
//! and of `MONITOR_P` and `SPAWN_REQUEST` in [Protocol between Connected
//! Nodes](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#protocol-between-connected-nodes).

use super::control::Control;
use crate::term::{Pid, Term};

/// The answer to `control` when the process it is for does not exist;
/// `None` when nothing is owed (a message, an exit signal, a demonitor).
pub(crate) fn answer(control: &Control) -> Option<Control> {
    let noproc = || Term::atom("noproc");
    match *control {
        Control::Link { from, to } => Some(Control::Exit {
            from: to,
            to: from,
            reason: noproc(),
        }),
        Control::MonitorP {
            from,
            to,
            reference,
        } => Some(Control::MonitorPExit {
            from: to,
            to: from,
            reference,
            reason: noproc(),
        }),
        Control::UnlinkId { id, from, to } => Some(unlink_ack(id, from, to)),
        Control::SpawnRequest { req_id, from, .. } => Some(Control::SpawnReply {
            req_id,
            to: from,
            flags: 0,
            result: Term::atom("notsup"),
        }),
        _ => None,
    }
}

/// The acknowledgement of `UNLINK_ID`, owed whether or not the link was
/// there.
pub(crate) fn unlink_ack(id: u64, from: Pid, to: Pid) -> Control {
    Control::UnlinkIdAck {
        id,
        from: to,
        to: from,
    }
}
