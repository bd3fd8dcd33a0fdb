//! What a process of ours receives: messages and the signals that arrive
//! as messages (exit signals, monitor `DOWN`s, `nodedown`), in the shape an
//! Erlang process that traps exits would find them in its mailbox.

use std::fmt;

use crate::protocol::ProcRef;
use crate::term::{Atom, Pid, Ref, Term};

/// What a [`Message`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// An ordinary message sent to the mailbox.
    Message,
    /// An exit signal: a linked process ended, or someone called `exit/2`.
    Exit,
    /// A monitored process ended (or could not be monitored).
    Down,
    /// The connection to a monitored node went down.
    NodeDown,
    /// A node connected (to a mailbox that monitors every node).
    NodeUp,
}

impl MessageKind {
    /// `message`, `exit`, `down`, `node_down` or `node_up`, as the bindings
    /// spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Message => "message",
            MessageKind::Exit => "exit",
            MessageKind::Down => "down",
            MessageKind::NodeDown => "node_down",
            MessageKind::NodeUp => "node_up",
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a mailbox receives.
///
/// `term` is always what an Erlang process trapping exits would find in its
/// mailbox: the message itself, `{'EXIT', From, Reason}`,
/// `{'DOWN', Ref, process, Pid | {Name, Node}, Reason}`, `{nodedown, Node}`
/// or `{nodeup, Node}`. The other fields pick the parts out.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// Message or signal.
    pub kind: MessageKind,
    /// The term as an Erlang process would receive it.
    pub term: Term,
    /// The sender, when known (always for signals from a process).
    pub from: Option<Pid>,
    /// The exit reason of an exit or down signal; `noconnection` when the
    /// connection was lost.
    pub reason: Option<Term>,
    /// The monitor reference of a down signal.
    pub reference: Option<Ref>,
    /// The node of a node_down or node_up signal.
    pub node: Option<Atom>,
}

impl Message {
    pub(crate) fn plain(from: Option<Pid>, term: Term) -> Message {
        Message {
            kind: MessageKind::Message,
            term,
            from,
            reason: None,
            reference: None,
            node: None,
        }
    }

    pub(crate) fn exit(from: Pid, reason: Term) -> Message {
        Message {
            kind: MessageKind::Exit,
            term: Term::Tuple(vec![
                Term::Atom(crate::atom!("EXIT")),
                Term::Pid(from),
                reason.clone(),
            ]),
            from: Some(from),
            reason: Some(reason),
            reference: None,
            node: None,
        }
    }

    /// The `DOWN` of a monitor of `target` (on `node`, where it names a
    /// registered process).
    pub(crate) fn down(reference: Ref, target: ProcRef, node: Atom, reason: Term) -> Message {
        let (who, from) = match target {
            ProcRef::Pid(pid) => (Term::Pid(pid), Some(pid)),
            ProcRef::Name(name) => (Term::Tuple(vec![Term::Atom(name), Term::Atom(node)]), None),
        };
        Message {
            kind: MessageKind::Down,
            term: Term::Tuple(vec![
                Term::Atom(crate::atom!("DOWN")),
                Term::Ref(reference),
                Term::Atom(crate::atom!("process")),
                who,
                reason.clone(),
            ]),
            from,
            reason: Some(reason),
            reference: Some(reference),
            node: None,
        }
    }

    pub(crate) fn node_down(node: Atom) -> Message {
        Message {
            kind: MessageKind::NodeDown,
            term: Term::Tuple(vec![Term::Atom(crate::atom!("nodedown")), Term::Atom(node)]),
            from: None,
            reason: Some(Term::Atom(crate::atom!("noconnection"))),
            reference: None,
            node: Some(node),
        }
    }

    /// The `{nodeup, Node}` of `net_kernel:monitor_nodes/1`.
    pub(crate) fn node_up(node: Atom) -> Message {
        Message {
            kind: MessageKind::NodeUp,
            term: Term::Tuple(vec![Term::Atom(crate::atom!("nodeup")), Term::Atom(node)]),
            from: None,
            reason: None,
            reference: None,
            node: Some(node),
        }
    }
}
