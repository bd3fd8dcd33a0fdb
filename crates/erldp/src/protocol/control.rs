//! Control messages: the signals between processes of connected nodes,
//! their operation codes, how each is read field by field from a frame and
//! how each is spelt for the flags a connection negotiated.
//!
//! Implements [Protocol between Connected
//! Nodes](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#protocol-between-connected-nodes)
//! (the control message tuples and their `_TT` trace-token variants).

use super::header::{Bounds, Framed};
use crate::error::TERM_TEXT_IN_ERRORS;
use crate::term::encode::tag;
use crate::term::{Atom, Decoder, Pid, Ref, Term};
use crate::{Error, Result};

/// Operation codes of control messages.
mod op {
    pub const LINK: i64 = 1;
    pub const SEND: i64 = 2;
    pub const EXIT: i64 = 3;
    pub const UNLINK: i64 = 4;
    pub const NODE_LINK: i64 = 5;
    pub const REG_SEND: i64 = 6;
    pub const GROUP_LEADER: i64 = 7;
    pub const EXIT2: i64 = 8;
    pub const SEND_TT: i64 = 12;
    pub const EXIT_TT: i64 = 13;
    pub const REG_SEND_TT: i64 = 16;
    pub const EXIT2_TT: i64 = 18;
    pub const MONITOR_P: i64 = 19;
    pub const DEMONITOR_P: i64 = 20;
    pub const MONITOR_P_EXIT: i64 = 21;
    pub const SEND_SENDER: i64 = 22;
    pub const SEND_SENDER_TT: i64 = 23;
    pub const PAYLOAD_EXIT: i64 = 24;
    pub const PAYLOAD_EXIT_TT: i64 = 25;
    pub const PAYLOAD_EXIT2: i64 = 26;
    pub const PAYLOAD_EXIT2_TT: i64 = 27;
    pub const PAYLOAD_MONITOR_P_EXIT: i64 = 28;
    pub const SPAWN_REQUEST: i64 = 29;
    pub const SPAWN_REQUEST_TT: i64 = 30;
    pub const SPAWN_REPLY: i64 = 31;
    pub const SPAWN_REPLY_TT: i64 = 32;
    pub const ALIAS_SEND: i64 = 33;
    pub const ALIAS_SEND_TT: i64 = 34;
    pub const UNLINK_ID: i64 = 35;
    pub const UNLINK_ID_ACK: i64 = 36;

    /// The operation's name in the protocol guide, for error messages.
    pub fn name(op: i64) -> &'static str {
        match op {
            LINK => "LINK",
            SEND => "SEND",
            EXIT => "EXIT",
            UNLINK => "UNLINK",
            NODE_LINK => "NODE_LINK",
            REG_SEND => "REG_SEND",
            GROUP_LEADER => "GROUP_LEADER",
            EXIT2 => "EXIT2",
            SEND_TT => "SEND_TT",
            EXIT_TT => "EXIT_TT",
            REG_SEND_TT => "REG_SEND_TT",
            EXIT2_TT => "EXIT2_TT",
            MONITOR_P => "MONITOR_P",
            DEMONITOR_P => "DEMONITOR_P",
            MONITOR_P_EXIT => "MONITOR_P_EXIT",
            SEND_SENDER => "SEND_SENDER",
            SEND_SENDER_TT => "SEND_SENDER_TT",
            PAYLOAD_EXIT => "PAYLOAD_EXIT",
            PAYLOAD_EXIT_TT => "PAYLOAD_EXIT_TT",
            PAYLOAD_EXIT2 => "PAYLOAD_EXIT2",
            PAYLOAD_EXIT2_TT => "PAYLOAD_EXIT2_TT",
            PAYLOAD_MONITOR_P_EXIT => "PAYLOAD_MONITOR_P_EXIT",
            SPAWN_REQUEST => "SPAWN_REQUEST",
            SPAWN_REQUEST_TT => "SPAWN_REQUEST_TT",
            SPAWN_REPLY => "SPAWN_REPLY",
            SPAWN_REPLY_TT => "SPAWN_REPLY_TT",
            ALIAS_SEND => "ALIAS_SEND",
            ALIAS_SEND_TT => "ALIAS_SEND_TT",
            UNLINK_ID => "UNLINK_ID",
            UNLINK_ID_ACK => "UNLINK_ID_ACK",
            _ => "unknown",
        }
    }
}

/// The `Flags` of a
/// [`SPAWN_REPLY`](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#SPAWN_REPLY):
/// what the spawning node set up for the requester.
pub(crate) mod spawn_reply {
    /// The new process is linked to the requester.
    pub const LINK: u32 = 1;
    /// The requester monitors the new process, with the request id as the
    /// monitor reference.
    pub const MONITOR: u32 = 2;
}

/// A process as the target of a monitor: by pid or by registered name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ProcRef {
    Pid(Pid),
    Name(Atom),
}

impl ProcRef {
    pub(super) fn to_term(self) -> Term {
        match self {
            ProcRef::Pid(pid) => Term::Pid(pid),
            ProcRef::Name(name) => Term::Atom(name),
        }
    }
}

/// A decoded control message. Trace tokens of the `_TT` variants are
/// dropped; the payload variants carry their reason here too.
#[derive(Debug, Clone)]
pub(crate) enum Control {
    Link {
        from: Pid,
        to: Pid,
    },
    Send {
        from: Option<Pid>,
        to: Pid,
        message: Term,
    },
    RegSend {
        from: Pid,
        to: Atom,
        message: Term,
    },
    AliasSend {
        from: Pid,
        alias: Ref,
        message: Term,
    },
    Exit {
        from: Pid,
        to: Pid,
        reason: Term,
    },
    Exit2 {
        from: Pid,
        to: Pid,
        reason: Term,
    },
    UnlinkId {
        id: u64,
        from: Pid,
        to: Pid,
    },
    UnlinkIdAck {
        id: u64,
        from: Pid,
        to: Pid,
    },
    MonitorP {
        from: Pid,
        to: ProcRef,
        reference: Ref,
    },
    DemonitorP {
        from: Pid,
        to: ProcRef,
        reference: Ref,
    },
    MonitorPExit {
        from: ProcRef,
        to: Pid,
        reference: Ref,
        reason: Term,
    },
    SpawnRequest {
        req_id: Ref,
        from: Pid,
        group_leader: Pid,
        module: Atom,
        function: Atom,
        args: Term,
        opts: Term,
    },
    SpawnReply {
        req_id: Ref,
        to: Pid,
        flags: u32,
        result: Term,
    },
    /// NODE_LINK, GROUP_LEADER, the obsolete UNLINK: accepted and ignored.
    /// Encodes as NODE_LINK, which peers ignore too.
    Ignored,
}

impl Control {
    /// The process the message says it comes from, where only a process of
    /// the peer that sent it may: erts drops a connection whose LINK,
    /// UNLINK_ID(_ACK), EXIT, EXIT2, MONITOR_P or DEMONITOR_P names a
    /// process of another node (`erts_net_message` in `dist.c`), and so do
    /// we, for those and for what our processes see as the sender
    /// ([`Message::from`](crate::Message::from) of SEND_SENDER, REG_SEND and
    /// ALIAS_SEND) or would link to (SPAWN_REQUEST).
    pub(crate) fn sender(&self) -> Option<Pid> {
        match *self {
            Control::Link { from, .. }
            | Control::RegSend { from, .. }
            | Control::AliasSend { from, .. }
            | Control::Exit { from, .. }
            | Control::Exit2 { from, .. }
            | Control::UnlinkId { from, .. }
            | Control::UnlinkIdAck { from, .. }
            | Control::MonitorP { from, .. }
            | Control::DemonitorP { from, .. }
            | Control::SpawnRequest { from, .. } => Some(from),
            Control::Send { from, .. } => from,
            Control::MonitorPExit { .. } | Control::SpawnReply { .. } | Control::Ignored => None,
        }
    }

    /// The message that a send carries.
    pub(crate) fn message(&self) -> Option<&Term> {
        match self {
            Control::Send { message, .. }
            | Control::RegSend { message, .. }
            | Control::AliasSend { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The message's name in the protocol guide, for trace logs.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Control::Link { .. } => "LINK",
            Control::Send { .. } => "SEND",
            Control::RegSend { .. } => "REG_SEND",
            Control::AliasSend { .. } => "ALIAS_SEND",
            Control::Exit { .. } => "EXIT",
            Control::Exit2 { .. } => "EXIT2",
            Control::UnlinkId { .. } => "UNLINK_ID",
            Control::UnlinkIdAck { .. } => "UNLINK_ID_ACK",
            Control::MonitorP { .. } => "MONITOR_P",
            Control::DemonitorP { .. } => "DEMONITOR_P",
            Control::MonitorPExit { .. } => "MONITOR_P_EXIT",
            Control::SpawnRequest { .. } => "SPAWN_REQUEST",
            Control::SpawnReply { .. } => "SPAWN_REPLY",
            Control::Ignored => "NODE_LINK, GROUP_LEADER or UNLINK (ignored)",
        }
    }
}

/// Reads the control message of `framed`, and its payload when it has one.
///
/// Every operation is read field by field with the [`Decoder`]'s readers,
/// with no term built for the control tuple itself, and each failure names
/// the operation and the field. The readers are macros over one local
/// decoder, and each arm returns the message it builds: this runs once per
/// message, and as fast as reading the bytes allows.
pub(super) fn decode(framed: &Framed, bounds: &Bounds) -> Result<Control> {
    let mut d = Decoder::new(&framed.body)
        .with_backing(&framed.body)
        .with_atom_refs(&framed.refs)
        .with_limits(bounds.limits)
        .with_atom_budget(&bounds.atoms);
    let end = framed.body.len();
    let versioned = framed.versioned;
    if versioned {
        // Erts never compresses a control message, only payloads.
        if d.remaining().first() != Some(&tag::VERSION) {
            return Err(Error::decode(
                0,
                "the control message of a pass-through frame lacks the version byte 131",
            ));
        }
        d = d.at(1);
    }
    let start = d.position();
    let Some(arity) = d.small_tuple() else {
        return Err(Error::decode(start, "the control message is not a tuple"));
    };
    let at = d.position();
    let Some(op) = d.small_int_term() else {
        return Err(Error::decode(
            at,
            "the control message has no operation code",
        ));
    };

    /// A field, read with one of the `Decoder`'s readers.
    macro_rules! field {
        ($read:expr, $field:literal, $expected:literal) => {{
            let at = d.position();
            match $read {
                Some(value) => value,
                None => return Err(malformed(op, at, $field, $expected)),
            }
        }};
    }
    /// Any term, as an element of the control tuple.
    macro_rules! term {
        ($field:literal) => {
            d.term().map_err(|err| inside(op, $field, err))?
        };
    }
    /// An element whose value does not matter (the `''` of SEND and
    /// REG_SEND, a trace token); it must still be a well-formed term.
    macro_rules! skip {
        ($field:literal) => {{
            let at = d.position();
            if d.atom_term().is_none() {
                d = d.at(at);
                term!($field);
            }
        }};
    }
    let traced = matches!(
        op,
        op::SEND_TT
            | op::SEND_SENDER_TT
            | op::REG_SEND_TT
            | op::ALIAS_SEND_TT
            | op::PAYLOAD_EXIT_TT
            | op::PAYLOAD_EXIT2_TT
            | op::SPAWN_REQUEST_TT
            | op::SPAWN_REPLY_TT
    );
    macro_rules! trace_token {
        ($present:expr) => {
            if $present {
                skip!("the trace token");
            }
        };
    }
    /// The frame ends here.
    macro_rules! end {
        () => {
            if d.position() != end {
                return Err(trailing(op, d.position(), end));
            }
        };
    }
    /// The payload, which ends the frame. In a pass-through frame it has a
    /// version byte of its own and may be compressed.
    macro_rules! payload {
        () => {{
            let payload = if versioned {
                d.versioned_term()
            } else {
                d.term()
            };
            let payload = payload.map_err(|err| inside(op, "the payload", err))?;
            end!();
            payload
        }};
    }

    match (op, arity) {
        (op::SEND, 3) | (op::SEND_TT, 4) => {
            skip!("the unused second element");
            let to = field!(d.pid_term(), "to", "a pid");
            trace_token!(traced);
            Ok(Control::Send {
                from: None,
                to,
                message: payload!(),
            })
        }
        (op::SEND_SENDER, 3) | (op::SEND_SENDER_TT, 4) => {
            let from = field!(d.pid_term(), "from", "a pid");
            let to = field!(d.pid_term(), "to", "a pid");
            trace_token!(traced);
            Ok(Control::Send {
                from: Some(from),
                to,
                message: payload!(),
            })
        }
        (op::REG_SEND, 4) | (op::REG_SEND_TT, 5) => {
            let from = field!(d.pid_term(), "from", "a pid");
            skip!("the unused third element");
            let to = field!(d.atom_term(), "to", "an atom");
            trace_token!(traced);
            Ok(Control::RegSend {
                from,
                to,
                message: payload!(),
            })
        }
        (op::ALIAS_SEND, 3) | (op::ALIAS_SEND_TT, 4) => {
            let from = field!(d.pid_term(), "from", "a pid");
            let alias = field!(d.ref_term(), "alias", "a reference");
            trace_token!(traced);
            Ok(Control::AliasSend {
                from,
                alias,
                message: payload!(),
            })
        }
        (op::PAYLOAD_MONITOR_P_EXIT, 4) => {
            let from = field!(proc_ref(&mut d), "from", "a pid or an atom");
            let to = field!(d.pid_term(), "to", "a pid");
            let reference = field!(d.ref_term(), "reference", "a reference");
            let reason = payload!();
            Ok(Control::MonitorPExit {
                from,
                to,
                reference,
                reason,
            })
        }
        (op::SPAWN_REPLY, 5) | (op::SPAWN_REPLY_TT, 6) => {
            let req_id = field!(d.ref_term(), "request id", "a reference");
            let to = field!(d.pid_term(), "to", "a pid");
            let at = d.position();
            let Some(flags) = d.small_int_term().and_then(|f| u32::try_from(f).ok()) else {
                return Err(malformed(op, at, "flags", "a small non-negative integer"));
            };
            let result = term!("result");
            trace_token!(traced);
            end!();
            Ok(Control::SpawnReply {
                req_id,
                to,
                flags,
                result,
            })
        }
        (op::LINK, 3) => {
            let from = field!(d.pid_term(), "from", "a pid");
            let to = field!(d.pid_term(), "to", "a pid");
            end!();
            Ok(Control::Link { from, to })
        }
        (op::EXIT | op::EXIT2, 4) | (op::EXIT_TT | op::EXIT2_TT, 5) => {
            let from = field!(d.pid_term(), "from", "a pid");
            let to = field!(d.pid_term(), "to", "a pid");
            trace_token!(matches!(op, op::EXIT_TT | op::EXIT2_TT));
            let reason = term!("reason");
            end!();
            Ok(exit(op, from, to, reason))
        }
        (op::PAYLOAD_EXIT | op::PAYLOAD_EXIT2, 3)
        | (op::PAYLOAD_EXIT_TT | op::PAYLOAD_EXIT2_TT, 4) => {
            let from = field!(d.pid_term(), "from", "a pid");
            let to = field!(d.pid_term(), "to", "a pid");
            trace_token!(traced);
            Ok(exit(op, from, to, payload!()))
        }
        (op::UNLINK_ID | op::UNLINK_ID_ACK, 4) => {
            let at = d.position();
            let id = match term!("id") {
                Term::Int(id) => u64::try_from(id).ok(),
                Term::BigInt(big) => big.to_i128().and_then(|v| u64::try_from(v).ok()),
                _ => None,
            };
            let Some(id) = id else {
                return Err(malformed(op, at, "id", "an unsigned 64-bit integer"));
            };
            let from = field!(d.pid_term(), "from", "a pid");
            let to = field!(d.pid_term(), "to", "a pid");
            end!();
            Ok(if op == op::UNLINK_ID {
                Control::UnlinkId { id, from, to }
            } else {
                Control::UnlinkIdAck { id, from, to }
            })
        }
        (op::MONITOR_P | op::DEMONITOR_P, 4) => {
            let from = field!(d.pid_term(), "from", "a pid");
            let to = field!(proc_ref(&mut d), "to", "a pid or an atom");
            let reference = field!(d.ref_term(), "reference", "a reference");
            end!();
            Ok(if op == op::MONITOR_P {
                Control::MonitorP {
                    from,
                    to,
                    reference,
                }
            } else {
                Control::DemonitorP {
                    from,
                    to,
                    reference,
                }
            })
        }
        (op::MONITOR_P_EXIT, 5) => {
            let from = field!(proc_ref(&mut d), "from", "a pid or an atom");
            let to = field!(d.pid_term(), "to", "a pid");
            let reference = field!(d.ref_term(), "reference", "a reference");
            let reason = term!("reason");
            end!();
            Ok(Control::MonitorPExit {
                from,
                to,
                reference,
                reason,
            })
        }
        (op::SPAWN_REQUEST, 6) | (op::SPAWN_REQUEST_TT, 7) => {
            let req_id = field!(d.ref_term(), "request id", "a reference");
            let from = field!(d.pid_term(), "from", "a pid");
            let group_leader = field!(d.pid_term(), "group leader", "a pid");
            let at = d.position();
            if d.small_tuple() != Some(3) {
                return Err(malformed(
                    op,
                    at,
                    "the function",
                    "a {Module, Function, Arity} tuple",
                ));
            }
            let module = field!(d.atom_term(), "the module", "an atom");
            let function = field!(d.atom_term(), "the function name", "an atom");
            skip!("the arity");
            let opts = term!("option list");
            trace_token!(traced);
            let args = payload!();
            Ok(Control::SpawnRequest {
                req_id,
                from,
                group_leader,
                module,
                function,
                opts,
                args,
            })
        }
        (op::NODE_LINK | op::GROUP_LEADER | op::UNLINK, _) => Ok(Control::Ignored),
        _ => Err(unknown(d.at(start), op, arity)),
    }
}

/// What is wrong with a control message that no operation takes: the
/// message itself, as far as it decodes (shown in part), and its shape.
#[cold]
fn unknown(mut d: Decoder<'_>, op: i64, arity: usize) -> Error {
    let at = d.position();
    let shape = format!("operation {op} ({}) with {arity} elements", op::name(op));
    match d.term() {
        Ok(control) => Error::decode(
            at,
            format!("unknown control message {control:.TERM_TEXT_IN_ERRORS$}: {shape}"),
        ),
        Err(_) => Error::decode(at, format!("unknown control message: {shape}")),
    }
}

/// Reads a process named by pid or by registered name.
#[inline]
fn proc_ref(d: &mut Decoder<'_>) -> Option<ProcRef> {
    match d.remaining().first() {
        Some(&(tag::NEW_PID_EXT | tag::PID_EXT)) => d.pid_term().map(ProcRef::Pid),
        _ => d.atom_term().map(ProcRef::Name),
    }
}

#[cold]
fn malformed(op: i64, at: usize, field: &str, expected: &str) -> Error {
    Error::decode(
        at,
        format!(
            "malformed {} control message: {field} is not {expected}",
            op::name(op)
        ),
    )
}

/// A term inside the message that does not decode.
#[cold]
fn inside(op: i64, field: &str, err: Error) -> Error {
    match err {
        Error::Decode { offset, reason } => Error::decode(
            offset,
            format!("in {field} of a {} message: {reason}", op::name(op)),
        ),
        other => other,
    }
}

#[cold]
fn trailing(op: i64, at: usize, end: usize) -> Error {
    Error::decode(
        at,
        format!(
            "{} trailing bytes after the {} message",
            end.saturating_sub(at),
            op::name(op)
        ),
    )
}

fn exit(op: i64, from: Pid, to: Pid, reason: Term) -> Control {
    if matches!(
        op,
        op::EXIT2 | op::EXIT2_TT | op::PAYLOAD_EXIT2 | op::PAYLOAD_EXIT2_TT
    ) {
        Control::Exit2 { from, to, reason }
    } else {
        Control::Exit { from, to, reason }
    }
}

/// The flags that decide how a control message is spelt.
#[derive(Clone, Copy)]
pub(super) struct Shape {
    pub exit_payload: bool,
    pub send_sender: bool,
}

/// A control message of operation `op` with these elements and no payload.
fn signal(parts: &mut impl Parts, op: i64, elements: &[Term]) -> Result<()> {
    parts.control(elements.len() as u8 + 1, op);
    elements
        .iter()
        .try_for_each(|element| parts.element(element))
}

/// Receives the parts of a control message in order: the tuple's head,
/// its other elements, then the payload (if any).
pub(super) trait Parts {
    fn control(&mut self, arity: u8, op: i64);
    /// The head of a tuple inside the control message; its elements follow
    /// as elements.
    fn tuple(&mut self, arity: u8);
    fn element(&mut self, term: &Term) -> Result<()>;
    fn payload(&mut self, term: &Term) -> Result<()>;
}

impl Shape {
    /// Hands the parts of `control` to `parts`, as the negotiated flags
    /// want them spelt.
    pub(super) fn visit(self, control: &Control, parts: &mut impl Parts) -> Result<()> {
        match control {
            Control::Link { from, to } => {
                signal(parts, op::LINK, &[Term::Pid(*from), Term::Pid(*to)])?;
            }
            Control::Send { from, to, message } => {
                match from {
                    Some(from) if self.send_sender => {
                        parts.control(3, op::SEND_SENDER);
                        parts.element(&Term::Pid(*from))?;
                    }
                    _ => {
                        parts.control(3, op::SEND);
                        parts.element(&Term::Atom(crate::atom!("")))?;
                    }
                }
                parts.element(&Term::Pid(*to))?;
                parts.payload(message)?;
            }
            Control::RegSend { from, to, message } => {
                parts.control(4, op::REG_SEND);
                parts.element(&Term::Pid(*from))?;
                parts.element(&Term::Atom(crate::atom!("")))?;
                parts.element(&Term::Atom(*to))?;
                parts.payload(message)?;
            }
            Control::AliasSend {
                from,
                alias,
                message,
            } => {
                parts.control(3, op::ALIAS_SEND);
                parts.element(&Term::Pid(*from))?;
                parts.element(&Term::Ref(*alias))?;
                parts.payload(message)?;
            }
            Control::Exit { from, to, reason } | Control::Exit2 { from, to, reason } => {
                let exit2 = matches!(control, Control::Exit2 { .. });
                let (arity, op) = match (self.exit_payload, exit2) {
                    (true, false) => (3, op::PAYLOAD_EXIT),
                    (true, true) => (3, op::PAYLOAD_EXIT2),
                    (false, false) => (4, op::EXIT),
                    (false, true) => (4, op::EXIT2),
                };
                parts.control(arity, op);
                parts.element(&Term::Pid(*from))?;
                parts.element(&Term::Pid(*to))?;
                self.reason(parts, reason)?;
            }
            Control::UnlinkId { id, from, to } | Control::UnlinkIdAck { id, from, to } => {
                let op = if matches!(control, Control::UnlinkId { .. }) {
                    op::UNLINK_ID
                } else {
                    op::UNLINK_ID_ACK
                };
                let ids = [Term::from(*id), Term::Pid(*from), Term::Pid(*to)];
                signal(parts, op, &ids)?;
            }
            Control::MonitorP {
                from,
                to,
                reference,
            }
            | Control::DemonitorP {
                from,
                to,
                reference,
            } => {
                let op = if matches!(control, Control::MonitorP { .. }) {
                    op::MONITOR_P
                } else {
                    op::DEMONITOR_P
                };
                let ids = [Term::Pid(*from), to.to_term(), Term::Ref(*reference)];
                signal(parts, op, &ids)?;
            }
            Control::MonitorPExit {
                from,
                to,
                reference,
                reason,
            } => {
                if self.exit_payload {
                    parts.control(4, op::PAYLOAD_MONITOR_P_EXIT);
                } else {
                    parts.control(5, op::MONITOR_P_EXIT);
                }
                parts.element(&from.to_term())?;
                parts.element(&Term::Pid(*to))?;
                parts.element(&Term::Ref(*reference))?;
                self.reason(parts, reason)?;
            }
            Control::SpawnRequest {
                req_id,
                from,
                group_leader,
                module,
                function,
                args,
                opts,
            } => {
                let arity = args.as_list().map_or(0, |a| a.len());
                parts.control(6, op::SPAWN_REQUEST);
                parts.element(&Term::Ref(*req_id))?;
                parts.element(&Term::Pid(*from))?;
                parts.element(&Term::Pid(*group_leader))?;
                parts.tuple(3);
                parts.element(&Term::Atom(*module))?;
                parts.element(&Term::Atom(*function))?;
                parts.element(&Term::from(arity))?;
                parts.element(opts)?;
                parts.payload(args)?;
            }
            Control::SpawnReply {
                req_id,
                to,
                flags,
                result,
            } => {
                parts.control(5, op::SPAWN_REPLY);
                parts.element(&Term::Ref(*req_id))?;
                parts.element(&Term::Pid(*to))?;
                parts.element(&Term::from(*flags))?;
                parts.element(result)?;
            }
            Control::Ignored => parts.control(1, op::NODE_LINK),
        }
        Ok(())
    }

    /// An exit reason: the payload when the peer takes exit reasons there
    /// (`EXIT_PAYLOAD`), else the last element of the control message.
    fn reason(self, parts: &mut impl Parts, reason: &Term) -> Result<()> {
        if self.exit_payload {
            parts.payload(reason)
        } else {
            parts.element(reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::protocol::header::Inbound;
    use crate::protocol::tests::pid;
    use crate::term::encode_into;

    /// A frame with an empty distribution header and these terms after it.
    fn frame(terms: &[Term]) -> Bytes {
        let mut out = vec![tag::VERSION, tag::DIST_HEADER, 0];
        for term in terms {
            encode_into(term, &mut out).expect("encodes");
        }
        Bytes::from(out)
    }

    fn control(op: i64, fields: Vec<Term>) -> Term {
        let mut elements = vec![Term::from(op)];
        elements.extend(fields);
        Term::Tuple(elements)
    }

    fn decode(frame: Bytes) -> Result<Control> {
        Inbound::new(crate::protocol::tests::small())
            .decode(frame)
            .map(|control| control.expect("not a fragment"))
    }

    fn error(frame: Bytes) -> String {
        decode(frame).expect_err("malformed").to_string()
    }

    #[test]
    fn malformed_message_controls_are_errors() {
        let mut good = vec![
            tag::VERSION,
            tag::DIST_HEADER,
            0,
            tag::SMALL_TUPLE_EXT,
            3,
            tag::SMALL_INTEGER_EXT,
            op::SEND as u8,
            tag::SMALL_ATOM_UTF8_EXT,
            0,
        ];
        encode_into(&Term::Pid(pid(2)), &mut good).expect("pid");
        encode_into(&Term::atom("hi"), &mut good).expect("payload");
        assert!(matches!(
            decode(Bytes::from(good.clone())),
            Ok(Control::Send { .. })
        ));

        let mut trailing = good.clone();
        trailing.push(tag::NIL_EXT);
        let err = error(Bytes::from(trailing));
        assert!(
            err.contains("1 trailing bytes after the SEND message"),
            "{err}"
        );

        let err = error(frame(&[
            control(op::SEND, vec![Term::atom(""), Term::from(1)]),
            Term::atom("hi"),
        ]));
        assert!(
            err.contains("malformed SEND control message: to is not a pid"),
            "{err}"
        );

        let truncated = &good[..good.len() - 2];
        let err = error(Bytes::copy_from_slice(truncated));
        assert!(err.contains("in the payload of a SEND message"), "{err}");
    }

    #[test]
    fn errors_name_the_operation_and_the_field() {
        let r = Ref::new(Atom::new("a@b"), 1, &[1, 2, 3]).expect("ref");
        let cases = [
            (
                control(op::LINK, vec![Term::Pid(pid(1)), Term::atom("x")]),
                None,
                "malformed LINK control message: to is not a pid",
            ),
            (
                control(
                    op::REG_SEND,
                    vec![Term::Pid(pid(1)), Term::atom(""), Term::from(3)],
                ),
                Some(Term::nil()),
                "malformed REG_SEND control message: to is not an atom",
            ),
            (
                control(op::ALIAS_SEND, vec![Term::Pid(pid(1)), Term::Pid(pid(2))]),
                Some(Term::nil()),
                "malformed ALIAS_SEND control message: alias is not a reference",
            ),
            (
                control(
                    op::MONITOR_P,
                    vec![Term::Pid(pid(1)), Term::from(7), Term::Ref(r)],
                ),
                None,
                "malformed MONITOR_P control message: to is not a pid or an atom",
            ),
            (
                control(
                    op::UNLINK_ID,
                    vec![Term::from(-1), Term::Pid(pid(1)), Term::Pid(pid(2))],
                ),
                None,
                "malformed UNLINK_ID control message: id is not an unsigned 64-bit integer",
            ),
            (
                control(
                    op::SPAWN_REQUEST,
                    vec![
                        Term::Ref(r),
                        Term::Pid(pid(1)),
                        Term::Pid(pid(1)),
                        Term::Tuple(vec![Term::atom("m"), Term::atom("f")]),
                        Term::nil(),
                    ],
                ),
                Some(Term::nil()),
                "malformed SPAWN_REQUEST control message: the function is not a {Module, Function, Arity} tuple",
            ),
            (
                control(
                    op::SPAWN_REPLY,
                    vec![Term::Ref(r), Term::Pid(pid(1)), Term::from(-2), Term::atom("ok")],
                ),
                None,
                "malformed SPAWN_REPLY control message: flags is not a small non-negative integer",
            ),
            (
                control(op::LINK, vec![Term::Pid(pid(1)), Term::Pid(pid(2))]),
                Some(Term::nil()),
                "1 trailing bytes after the LINK message",
            ),
            (
                control(99, vec![Term::Pid(pid(1))]),
                None,
                "unknown control message {99,#Pid<'a@b'.1.0.1>}: operation 99 (unknown) with 2 elements",
            ),
            (
                Term::from(7),
                None,
                "the control message is not a tuple",
            ),
        ];
        for (head, payload, expected) in cases {
            let mut terms = vec![head];
            terms.extend(payload);
            let err = error(frame(&terms));
            assert!(err.contains(expected), "{err}\nshould say: {expected}");
        }
    }

    #[test]
    fn trace_token_variants_drop_the_token() {
        let r = Ref::new(Atom::new("a@b"), 1, &[4, 5, 6]).expect("ref");
        let token = Term::Tuple(vec![Term::from(1), Term::atom("label"), Term::from(2)]);
        let decoded = decode(frame(&[
            control(
                op::REG_SEND_TT,
                vec![
                    Term::Pid(pid(1)),
                    Term::atom(""),
                    Term::atom("sink"),
                    token.clone(),
                ],
            ),
            Term::atom("hi"),
        ]))
        .expect("REG_SEND_TT");
        assert!(matches!(
            decoded,
            Control::RegSend { to, message, .. } if to == Atom::new("sink") && message.is_atom("hi")
        ));
        let decoded = decode(frame(&[control(
            op::EXIT_TT,
            vec![
                Term::Pid(pid(1)),
                Term::Pid(pid(2)),
                token.clone(),
                Term::atom("boom"),
            ],
        )]))
        .expect("EXIT_TT");
        assert!(matches!(decoded, Control::Exit { reason, .. } if reason.is_atom("boom")));
        let decoded = decode(frame(&[control(
            op::SPAWN_REPLY_TT,
            vec![
                Term::Ref(r),
                Term::Pid(pid(1)),
                Term::from(spawn_reply::MONITOR),
                Term::Pid(pid(3)),
                token,
            ],
        )]))
        .expect("SPAWN_REPLY_TT");
        assert!(matches!(
            decoded,
            Control::SpawnReply { flags: spawn_reply::MONITOR, result: Term::Pid(p), .. } if p == pid(3)
        ));
    }

    #[test]
    fn pass_through_frames_carry_a_version_byte_per_term() {
        let mut frame = vec![112];
        frame.extend(
            crate::term::encode(&control(
                op::SEND_SENDER,
                vec![Term::Pid(pid(1)), Term::Pid(pid(2))],
            ))
            .expect("control"),
        );
        frame.extend(crate::term::encode(&Term::atom("hi")).expect("payload"));
        assert!(matches!(
            decode(Bytes::from(frame.clone())),
            Ok(Control::Send { from: Some(from), message, .. }) if from == pid(1) && message.is_atom("hi")
        ));
        let mut unversioned = vec![112];
        encode_into(
            &control(op::LINK, vec![Term::Pid(pid(1)), Term::Pid(pid(2))]),
            &mut unversioned,
        )
        .expect("control");
        let err = error(Bytes::from(unversioned));
        assert!(err.contains("lacks the version byte 131"), "{err}");
    }
}
