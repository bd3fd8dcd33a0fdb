//! The processes every node has, answering what Erlang code expects of any
//! node: `net_kernel` (`net_adm:ping/1`), `rex` (`rpc:call` from releases
//! before OTP 23, and `rpc:block_call`), the pid our node's own sends, rpcs
//! and calls come from, and the group leader of the processes our rpcs
//! spawn, which forwards their I/O.
//!
//! The [`net_kernel`](https://www.erlang.org/doc/apps/kernel/net_kernel.html)
//! and [`rpc`](https://www.erlang.org/doc/apps/kernel/rpc.html) servers are
//! `gen_server`s on BEAM; ours answer `net_kernel` here and pass what
//! reaches `rex` to the exposed modules (`serving`).

use std::sync::Arc;

use super::signals::Process;
use super::NodeInner;
use super::LOG;
use crate::error::TERM_TEXT_IN_ERRORS;
use crate::protocol::identity::{Identity, GROUP_LEADER_ID, SYSTEM_ID};
use crate::protocol::{io, requests};
use crate::term::{Atom, Pid, Term};

/// The registered names the node keeps for itself: no mailbox may take
/// them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Builtin {
    /// `net_kernel`, which `net_adm:ping/1` asks `{is_auth, Node}`.
    NetKernel,
    /// `rex`, the server of the `rpc` module.
    Rex,
    /// `user`, the I/O server of a node: I/O from our rpcs goes to the
    /// `user` of the requester's node, and no mailbox poses as ours.
    User,
}

impl Builtin {
    /// The built-in process registered as `name`, if any.
    pub(super) fn named(name: Atom) -> Option<Builtin> {
        if name == crate::atom!("net_kernel") {
            Some(Builtin::NetKernel)
        } else if name == crate::atom!("rex") {
            Some(Builtin::Rex)
        } else if name == crate::atom!("user") {
            Some(Builtin::User)
        } else {
            None
        }
    }
}

/// The processes behind the built-in names and pids.
pub(super) struct Builtins {
    /// The sender of node-level sends, rpcs and calls; it also stands for
    /// `net_kernel` and `rex`, so that callers can monitor those.
    system: Arc<Process>,
    /// The group leader of processes spawned by our rpcs.
    group_leader: Arc<Process>,
}

impl Builtins {
    pub(super) fn new(identity: &Identity) -> Builtins {
        Builtins {
            system: Process::new(identity.pid(SYSTEM_ID)),
            group_leader: Process::new(identity.pid(GROUP_LEADER_ID)),
        }
    }

    /// The processes, for the registry.
    pub(super) fn processes(&self) -> [Arc<Process>; 2] {
        [Arc::clone(&self.system), Arc::clone(&self.group_leader)]
    }

    /// The process that answers for `builtin` (to monitors), if any.
    pub(super) fn process(&self, builtin: Builtin) -> Option<Arc<Process>> {
        match builtin {
            Builtin::NetKernel | Builtin::Rex => Some(Arc::clone(&self.system)),
            Builtin::User => None,
        }
    }

    /// Whether `pid` is one of these processes, which no exit signal ends.
    pub(super) fn owns(&self, pid: Pid) -> bool {
        pid == self.system.pid() || pid == self.group_leader.pid()
    }
}

impl NodeInner {
    /// The pid our node's own sends, rpcs and calls come from.
    pub(super) fn system_pid(&self) -> Pid {
        self.builtins.system.pid()
    }

    /// The group leader our rpcs give the processes they spawn.
    pub(super) fn group_leader_pid(&self) -> Pid {
        self.builtins.group_leader.pid()
    }

    /// A message to one of the built-in names.
    pub(super) fn on_builtin(self: &Arc<Self>, builtin: Builtin, message: Term) {
        match builtin {
            Builtin::NetKernel => self.on_net_kernel(message),
            Builtin::Rex => self.on_rex_request(message),
            Builtin::User => {
                log::debug!(target: LOG, "message to user dropped: this node has no I/O server")
            }
        }
    }

    /// A message to one of the built-in pids: replies to calls made with a
    /// plain (non-alias) tag come to the system process, I/O requests to
    /// the group leader.
    pub(super) fn on_builtin_pid(self: &Arc<Self>, to: Pid, message: Term, via: Atom) {
        if to == self.system_pid() {
            if let Some((reference, _)) = requests::call_reply(&message) {
                self.complete_alias_reply(reference, &message);
            }
        } else {
            self.on_io_request(message, via);
        }
    }

    /// I/O requests from processes our rpcs spawned go on to the `user`
    /// process of the requester's node (`via`, which carried the request),
    /// which answers the requester.
    fn on_io_request(self: &Arc<Self>, message: Term, via: Atom) {
        match io::forward(self.group_leader_pid(), self.name(), via, message) {
            Ok((node, forward)) => self.signal_if_connected(node, &forward),
            Err(message) => {
                log::debug!(target: LOG, "group leader: unexpected message {message:.TERM_TEXT_IN_ERRORS$}")
            }
        }
    }

    /// `net_adm:ping/1` asks `net_kernel` `{is_auth, Node}`; the answer is
    /// `yes` since the handshake already proved the cookie.
    fn on_net_kernel(self: &Arc<Self>, message: Term) {
        if let Some((from, request)) = requests::gen_call(&message) {
            if matches!(request, Term::Tuple(t) if t.len() == 2 && t[0].is_atom("is_auth")) {
                self.reply(from, Term::atom("yes"));
            }
        }
    }

    /// Answers a call that reached a built-in process.
    fn reply(self: &Arc<Self>, from: &Term, reply: Term) {
        if let Ok((dest, message)) = requests::reply(from, reply) {
            let _ = self.send_from(self.system_pid(), &dest, message);
        }
    }
}
