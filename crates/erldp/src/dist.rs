//! Distribution messages between connected nodes: control messages, the
//! distribution header with its atom cache, and fragmented messages.
//!
//! Implements [Protocol between Connected
//! Nodes](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#protocol-between-connected-nodes)
//! and the [distribution
//! header](https://www.erlang.org/doc/apps/erts/erl_ext_dist.html#distribution-header).
//! Frames arrive as pass-through (`112`, when the atom cache header was not
//! negotiated), as `131 68` with atom cache references, or as `131 69`/`131 70`
//! fragments that are reassembled here.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::error::TERM_TEXT_IN_ERRORS;
use crate::handshake::flags;
use crate::term::encode::{encode_into_cached, tag, visit_atoms, AtomRefs};
use crate::term::{encode_into, Atom, AtomBudget, Decoder, Limits, Pid, Ref, Term};
use crate::{Error, Result};

use tag::{
    DIST_FRAG_CONT as FRAGMENT_NEXT, DIST_FRAG_HEADER as FRAGMENT_FIRST, DIST_HEADER as HEADER,
    VERSION,
};

const PASS_THROUGH: u8 = 112;

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
}

/// A process as the target of a monitor: by pid or by registered name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ProcRef {
    Pid(Pid),
    Name(Atom),
}

impl ProcRef {
    fn to_term(self) -> Term {
        match self {
            ProcRef::Pid(pid) => Term::Pid(pid),
            ProcRef::Name(name) => Term::Atom(name),
        }
    }

    fn from_term(term: &Term) -> Option<ProcRef> {
        match term {
            Term::Pid(pid) => Some(ProcRef::Pid(*pid)),
            Term::Atom(name) => Some(ProcRef::Name(*name)),
            _ => None,
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

/// Per-connection receive state: the atom cache and unfinished fragments.
pub(crate) struct Inbound {
    cache: Box<[Option<Atom>]>,
    partial: HashMap<u64, Partial>,
    partial_bytes: usize,
    max_message: usize,
    /// The atoms of the current frame's references, kept between frames
    /// so that an unfragmented frame allocates nothing for them.
    refs: Vec<Atom>,
    bounds: Bounds,
}

/// What bounds the terms of one peer's frames: the long atoms the peer may
/// still add to the atom table, and the decoder's limits.
pub(crate) struct Bounds {
    pub atoms: Arc<AtomBudget>,
    pub limits: Limits,
}

impl Default for Bounds {
    /// A budget of its own with the default number of atoms, and the
    /// default limits: for a connection that is the only one to its peer.
    fn default() -> Bounds {
        Bounds {
            atoms: Arc::new(AtomBudget::new(crate::term::DEFAULT_ATOMS_PER_PEER)),
            limits: Limits::default(),
        }
    }
}

struct Partial {
    refs: Vec<Atom>,
    next_fragment: u64,
    data: BytesMut,
}

/// Where a frame's terms start and which atoms its cache references name.
struct Framed {
    refs: Vec<Atom>,
    body: Bytes,
    versioned: bool,
}

impl Inbound {
    pub(crate) fn new(max_message: usize, bounds: Bounds) -> Inbound {
        Inbound {
            cache: vec![None; 2048].into_boxed_slice(),
            partial: HashMap::new(),
            partial_bytes: 0,
            max_message,
            refs: Vec::new(),
            bounds,
        }
    }

    /// Decodes one frame (a tick is never passed here). Returns `None` when
    /// the frame was a fragment that does not complete its message yet.
    pub(crate) fn decode(&mut self, frame: Bytes) -> Result<Option<Control>> {
        let framed = match frame.first() {
            Some(&PASS_THROUGH) => Framed {
                refs: Vec::new(),
                body: frame.slice(1..),
                versioned: true,
            },
            Some(&VERSION) => match frame.get(1) {
                Some(&HEADER) => {
                    let mut pos = 2;
                    let mut refs = std::mem::take(&mut self.refs);
                    self.read_header(&frame, &mut pos, &mut refs)?;
                    let framed = Framed {
                        refs,
                        body: frame.slice(pos..),
                        versioned: false,
                    };
                    let control = decode_control(&framed, &self.bounds);
                    self.refs = framed.refs;
                    return control.map(Some);
                }
                Some(&FRAGMENT_FIRST) => match self.first_fragment(&frame)? {
                    Some(framed) => framed,
                    None => return Ok(None),
                },
                Some(&FRAGMENT_NEXT) => match self.next_fragment(&frame)? {
                    Some(framed) => framed,
                    None => return Ok(None),
                },
                Some(other) => {
                    return Err(Error::decode(
                        1,
                        format!("unknown distribution header tag {other}"),
                    ))
                }
                None => return Err(Error::decode(1, "truncated distribution header")),
            },
            Some(other) => {
                return Err(Error::decode(
                    0,
                    format!("frame starts with {other}, not a distribution header"),
                ))
            }
            None => return Err(Error::decode(0, "empty frame")),
        };
        decode_control(&framed, &self.bounds).map(Some)
    }

    /// Reads the atom cache part of a header starting at `pos` (just after
    /// the tag) into `refs`: the atoms its references stand for.
    fn read_header(&mut self, frame: &[u8], pos: &mut usize, refs: &mut Vec<Atom>) -> Result<()> {
        refs.clear();
        let count = *frame
            .get(*pos)
            .ok_or_else(|| Error::decode(*pos, "truncated header"))? as usize;
        *pos += 1;
        if count == 0 {
            return Ok(());
        }
        let flag_bytes = count / 2 + 1;
        let flags = frame
            .get(*pos..*pos + flag_bytes)
            .ok_or_else(|| Error::decode(*pos, "truncated atom cache flags"))?;
        *pos += flag_bytes;
        let nibble = |i: usize| (flags[i / 2] >> ((i % 2) * 4)) & 0x0F;
        let long_atoms = nibble(count) & 0x01 != 0;
        refs.reserve(count);
        for i in 0..count {
            let flag = nibble(i);
            let segment = (flag & 0x07) as usize;
            let internal = *frame
                .get(*pos)
                .ok_or_else(|| Error::decode(*pos, "truncated atom cache ref"))?
                as usize;
            *pos += 1;
            let slot = segment * 256 + internal;
            if flag & 0x08 != 0 {
                let len = if long_atoms {
                    let bytes = frame
                        .get(*pos..*pos + 2)
                        .ok_or_else(|| Error::decode(*pos, "truncated atom length"))?;
                    *pos += 2;
                    u16::from_be_bytes([bytes[0], bytes[1]]) as usize
                } else {
                    let len = *frame
                        .get(*pos)
                        .ok_or_else(|| Error::decode(*pos, "truncated atom length"))?;
                    *pos += 1;
                    len as usize
                };
                let text = frame
                    .get(*pos..*pos + len)
                    .ok_or_else(|| Error::decode(*pos, "truncated atom text in cache update"))?;
                let text = std::str::from_utf8(text)
                    .map_err(|_| Error::decode(*pos, "atom in cache update is not UTF-8"))?;
                let atom = Atom::new_from_peer(text, Some(&self.bounds.atoms))
                    .map_err(|refused| Error::decode(*pos, refused.to_string()))?;
                *pos += len;
                self.cache[slot] = Some(atom);
                refs.push(atom);
            } else {
                let atom = self.cache[slot].ok_or_else(|| {
                    Error::decode(
                        *pos - 1,
                        format!("reference to empty atom cache slot {slot}"),
                    )
                })?;
                refs.push(atom);
            }
        }
        Ok(())
    }

    fn first_fragment(&mut self, frame: &Bytes) -> Result<Option<Framed>> {
        let (sequence, fragment) = fragment_ids(frame)?;
        let mut pos = 18;
        let mut refs = Vec::new();
        self.read_header(frame, &mut pos, &mut refs)?;
        let body = frame.slice(pos..);
        if fragment == 1 {
            return Ok(Some(Framed {
                refs,
                body,
                versioned: false,
            }));
        }
        if fragment == 0 {
            return Err(Error::decode(10, "fragment id 0"));
        }
        self.reserve_fragment_space(body.len())?;
        let mut data = BytesMut::with_capacity(body.len() * 2);
        data.extend_from_slice(&body);
        if let Some(old) = self.partial.insert(
            sequence,
            Partial {
                refs,
                next_fragment: fragment - 1,
                data,
            },
        ) {
            self.partial_bytes -= old.data.len();
            return Err(Error::decode(
                2,
                format!("fragment sequence {sequence} started twice"),
            ));
        }
        Ok(None)
    }

    fn next_fragment(&mut self, frame: &Bytes) -> Result<Option<Framed>> {
        let (sequence, fragment) = fragment_ids(frame)?;
        let body = &frame[18..];
        self.reserve_fragment_space(body.len())?;
        let partial = self.partial.get_mut(&sequence).ok_or_else(|| {
            Error::decode(
                2,
                format!("continuation of unknown fragment sequence {sequence}"),
            )
        })?;
        if fragment != partial.next_fragment {
            return Err(Error::decode(
                10,
                format!(
                    "fragment {fragment} of sequence {sequence} arrived, expected {}",
                    partial.next_fragment
                ),
            ));
        }
        partial.data.extend_from_slice(body);
        if fragment > 1 {
            partial.next_fragment -= 1;
            return Ok(None);
        }
        let done = self
            .partial
            .remove(&sequence)
            .expect("present: just looked up");
        self.partial_bytes -= done.data.len();
        Ok(Some(Framed {
            refs: done.refs,
            body: done.data.freeze(),
            versioned: false,
        }))
    }

    fn reserve_fragment_space(&mut self, more: usize) -> Result<()> {
        self.partial_bytes += more;
        if self.partial_bytes > self.max_message {
            return Err(Error::decode(
                0,
                format!(
                    "fragmented messages exceed the limit of {} bytes",
                    self.max_message
                ),
            ));
        }
        Ok(())
    }
}

fn fragment_ids(frame: &[u8]) -> Result<(u64, u64)> {
    let ids = frame
        .get(2..18)
        .ok_or_else(|| Error::decode(2, "truncated fragment header"))?;
    let sequence = u64::from_be_bytes(ids[0..8].try_into().expect("8 bytes"));
    let fragment = u64::from_be_bytes(ids[8..16].try_into().expect("8 bytes"));
    Ok((sequence, fragment))
}

fn decode_control(framed: &Framed, bounds: &Bounds) -> Result<Control> {
    if !framed.versioned {
        if let Some(control) = decode_message_control(framed, bounds) {
            return control;
        }
    }
    decode_any_control(framed, bounds)
}

fn frame_decoder<'a>(framed: &'a Framed, bounds: &'a Bounds) -> Decoder<'a> {
    Decoder::new(&framed.body)
        .with_backing(&framed.body)
        .with_atom_refs(&framed.refs)
        .with_limits(bounds.limits)
        .with_atom_budget(&bounds.atoms)
}

/// The control messages of messages and rpc answers, read field by field
/// without building the control tuple as a term (no allocation). `None`
/// when the frame is anything else or malformed: the general decoder then
/// reads it and reports what is wrong.
fn decode_message_control(framed: &Framed, bounds: &Bounds) -> Option<Result<Control>> {
    /// The fields before the payload.
    enum Head {
        Send(Option<Pid>, Pid),
        RegSend(Pid, Atom),
        AliasSend(Pid, Ref),
        MonitorPExit(ProcRef, Pid, Ref),
    }
    let mut decoder = frame_decoder(framed, bounds);
    let arity = decoder.small_tuple()?;
    let op = decoder.small_int_term()?;
    let head = match (op, arity) {
        (op::SEND, 3) => {
            decoder.atom_term()?;
            Head::Send(None, decoder.pid_term()?)
        }
        (op::SEND_SENDER, 3) => Head::Send(Some(decoder.pid_term()?), decoder.pid_term()?),
        (op::REG_SEND, 4) => {
            let from = decoder.pid_term()?;
            decoder.atom_term()?;
            Head::RegSend(from, decoder.atom_term()?)
        }
        (op::ALIAS_SEND, 3) => Head::AliasSend(decoder.pid_term()?, decoder.ref_term()?),
        (op::PAYLOAD_MONITOR_P_EXIT, 4) => {
            let from = match decoder.remaining().first() {
                Some(&tag::NEW_PID_EXT | &tag::PID_EXT) => ProcRef::Pid(decoder.pid_term()?),
                _ => ProcRef::Name(decoder.atom_term()?),
            };
            Head::MonitorPExit(from, decoder.pid_term()?, decoder.ref_term()?)
        }
        (op::SPAWN_REPLY, 5) => {
            let req_id = decoder.ref_term()?;
            let to = decoder.pid_term()?;
            let flags = u32::try_from(decoder.small_int_term()?).ok()?;
            let result = decoder.term().ok()?;
            return (decoder.position() == framed.body.len()).then_some(Ok(Control::SpawnReply {
                req_id,
                to,
                flags,
                result,
            }));
        }
        _ => return None,
    };
    let payload = decoder.term().and_then(|term| {
        if decoder.position() != framed.body.len() {
            return Err(Error::decode(
                decoder.position(),
                "trailing bytes after the message",
            ));
        }
        Ok(term)
    });
    Some(payload.map(|payload| match head {
        Head::Send(from, to) => Control::Send {
            from,
            to,
            message: payload,
        },
        Head::RegSend(from, to) => Control::RegSend {
            from,
            to,
            message: payload,
        },
        Head::AliasSend(from, alias) => Control::AliasSend {
            from,
            alias,
            message: payload,
        },
        Head::MonitorPExit(from, to, reference) => Control::MonitorPExit {
            from,
            to,
            reference,
            reason: payload,
        },
    }))
}

fn decode_any_control(framed: &Framed, bounds: &Bounds) -> Result<Control> {
    let mut decoder = frame_decoder(framed, bounds);
    let next = |decoder: &mut Decoder<'_>| {
        if framed.versioned {
            decoder.versioned_term()
        } else {
            decoder.term()
        }
    };
    let control = next(&mut decoder)?;
    let fields = match &control {
        Term::Tuple(fields) if !fields.is_empty() => fields.as_slice(),
        _ => return Err(Error::decode(0, "control message is not a tuple")),
    };
    let op = fields[0]
        .as_i64()
        .ok_or_else(|| Error::decode(0, "control message without an operation code"))?;
    let bad = |what: &str| {
        Error::decode(
            0,
            format!("malformed {what} control message: {control:.TERM_TEXT_IN_ERRORS$}"),
        )
    };
    let pid = |i: usize| fields.get(i).and_then(Term::as_pid);
    let reference = |i: usize| fields.get(i).and_then(Term::as_reference);
    let payload = |decoder: &mut Decoder<'_>| -> Result<Term> {
        let term = next(decoder)?;
        if decoder.position() != framed.body.len() {
            return Err(Error::decode(
                decoder.position(),
                "trailing bytes after the message",
            ));
        }
        Ok(term)
    };

    let parsed = match (op, fields.len()) {
        (op::LINK, 3) => Control::Link {
            from: pid(1).ok_or_else(|| bad("LINK"))?,
            to: pid(2).ok_or_else(|| bad("LINK"))?,
        },
        (op::SEND, 3) | (op::SEND_TT, 4) => Control::Send {
            from: None,
            to: pid(2).ok_or_else(|| bad("SEND"))?,
            message: payload(&mut decoder)?,
        },
        (op::SEND_SENDER, 3) | (op::SEND_SENDER_TT, 4) => Control::Send {
            from: pid(1),
            to: pid(2).ok_or_else(|| bad("SEND_SENDER"))?,
            message: payload(&mut decoder)?,
        },
        (op::REG_SEND, 4) | (op::REG_SEND_TT, 5) => Control::RegSend {
            from: pid(1).ok_or_else(|| bad("REG_SEND"))?,
            to: fields[3].as_atom().ok_or_else(|| bad("REG_SEND"))?,
            message: payload(&mut decoder)?,
        },
        (op::ALIAS_SEND, 3) | (op::ALIAS_SEND_TT, 4) => Control::AliasSend {
            from: pid(1).ok_or_else(|| bad("ALIAS_SEND"))?,
            alias: reference(2).ok_or_else(|| bad("ALIAS_SEND"))?,
            message: payload(&mut decoder)?,
        },
        (op::EXIT, 4) => Control::Exit {
            from: pid(1).ok_or_else(|| bad("EXIT"))?,
            to: pid(2).ok_or_else(|| bad("EXIT"))?,
            reason: fields[3].clone(),
        },
        (op::EXIT_TT, 5) => Control::Exit {
            from: pid(1).ok_or_else(|| bad("EXIT_TT"))?,
            to: pid(2).ok_or_else(|| bad("EXIT_TT"))?,
            reason: fields[4].clone(),
        },
        (op::PAYLOAD_EXIT, 3) | (op::PAYLOAD_EXIT_TT, 4) => Control::Exit {
            from: pid(1).ok_or_else(|| bad("PAYLOAD_EXIT"))?,
            to: pid(2).ok_or_else(|| bad("PAYLOAD_EXIT"))?,
            reason: payload(&mut decoder)?,
        },
        (op::EXIT2, 4) => Control::Exit2 {
            from: pid(1).ok_or_else(|| bad("EXIT2"))?,
            to: pid(2).ok_or_else(|| bad("EXIT2"))?,
            reason: fields[3].clone(),
        },
        (op::EXIT2_TT, 5) => Control::Exit2 {
            from: pid(1).ok_or_else(|| bad("EXIT2_TT"))?,
            to: pid(2).ok_or_else(|| bad("EXIT2_TT"))?,
            reason: fields[4].clone(),
        },
        (op::PAYLOAD_EXIT2, 3) | (op::PAYLOAD_EXIT2_TT, 4) => Control::Exit2 {
            from: pid(1).ok_or_else(|| bad("PAYLOAD_EXIT2"))?,
            to: pid(2).ok_or_else(|| bad("PAYLOAD_EXIT2"))?,
            reason: payload(&mut decoder)?,
        },
        (op::UNLINK_ID, 4) | (op::UNLINK_ID_ACK, 4) => {
            let id = unlink_id(&fields[1]).ok_or_else(|| bad("UNLINK_ID"))?;
            let from = pid(2).ok_or_else(|| bad("UNLINK_ID"))?;
            let to = pid(3).ok_or_else(|| bad("UNLINK_ID"))?;
            if op == op::UNLINK_ID {
                Control::UnlinkId { id, from, to }
            } else {
                Control::UnlinkIdAck { id, from, to }
            }
        }
        (op::MONITOR_P, 4) | (op::DEMONITOR_P, 4) => {
            let from = pid(1).ok_or_else(|| bad("MONITOR_P"))?;
            let to = ProcRef::from_term(&fields[2]).ok_or_else(|| bad("MONITOR_P"))?;
            let reference = reference(3).ok_or_else(|| bad("MONITOR_P"))?;
            if op == op::MONITOR_P {
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
            }
        }
        (op::MONITOR_P_EXIT, 5) => Control::MonitorPExit {
            from: ProcRef::from_term(&fields[1]).ok_or_else(|| bad("MONITOR_P_EXIT"))?,
            to: pid(2).ok_or_else(|| bad("MONITOR_P_EXIT"))?,
            reference: reference(3).ok_or_else(|| bad("MONITOR_P_EXIT"))?,
            reason: fields[4].clone(),
        },
        (op::PAYLOAD_MONITOR_P_EXIT, 4) => Control::MonitorPExit {
            from: ProcRef::from_term(&fields[1]).ok_or_else(|| bad("PAYLOAD_MONITOR_P_EXIT"))?,
            to: pid(2).ok_or_else(|| bad("PAYLOAD_MONITOR_P_EXIT"))?,
            reference: reference(3).ok_or_else(|| bad("PAYLOAD_MONITOR_P_EXIT"))?,
            reason: payload(&mut decoder)?,
        },
        (op::SPAWN_REQUEST, 6) | (op::SPAWN_REQUEST_TT, 7) => {
            let (module, function) = match &fields[4] {
                Term::Tuple(mfa) if mfa.len() == 3 => (
                    mfa[0].as_atom().ok_or_else(|| bad("SPAWN_REQUEST"))?,
                    mfa[1].as_atom().ok_or_else(|| bad("SPAWN_REQUEST"))?,
                ),
                _ => return Err(bad("SPAWN_REQUEST")),
            };
            Control::SpawnRequest {
                req_id: reference(1).ok_or_else(|| bad("SPAWN_REQUEST"))?,
                from: pid(2).ok_or_else(|| bad("SPAWN_REQUEST"))?,
                group_leader: pid(3).ok_or_else(|| bad("SPAWN_REQUEST"))?,
                module,
                function,
                opts: fields[5].clone(),
                args: payload(&mut decoder)?,
            }
        }
        (op::SPAWN_REPLY, 5) | (op::SPAWN_REPLY_TT, 6) => Control::SpawnReply {
            req_id: reference(1).ok_or_else(|| bad("SPAWN_REPLY"))?,
            to: pid(2).ok_or_else(|| bad("SPAWN_REPLY"))?,
            flags: fields[3]
                .as_i64()
                .and_then(|f| u32::try_from(f).ok())
                .ok_or_else(|| bad("SPAWN_REPLY"))?,
            result: fields[4].clone(),
        },
        (op::NODE_LINK, _) | (op::GROUP_LEADER, _) | (op::UNLINK, _) => Control::Ignored,
        _ => {
            return Err(Error::decode(
                0,
                format!("unknown control message {control:.TERM_TEXT_IN_ERRORS$}"),
            ))
        }
    };
    Ok(parsed)
}

fn unlink_id(term: &Term) -> Option<u64> {
    match term {
        Term::Int(id) => u64::try_from(*id).ok(),
        Term::BigInt(big) => big.to_i128().and_then(|v| u64::try_from(v).ok()),
        _ => None,
    }
}

/// How to frame outgoing messages on one connection, fixed by the flags
/// negotiated in the handshake, and the sending half of its atom cache.
pub(crate) struct Outbound {
    exit_payload: bool,
    send_sender: bool,
    /// `None` when the peer did not negotiate distribution headers: frames
    /// then go out as pass-through (`112`) with every atom written in full.
    cache: Option<AtomCache>,
}

impl Outbound {
    pub(crate) fn new(negotiated: u64) -> Outbound {
        Outbound {
            exit_payload: negotiated & flags::EXIT_PAYLOAD != 0,
            send_sender: negotiated & flags::SEND_SENDER != 0,
            cache: (negotiated & flags::DIST_HDR_ATOM_CACHE != 0).then(AtomCache::new),
        }
    }

    /// Appends the frame body (without the 4-byte length) for `control`.
    /// On error (a term that cannot be encoded, a frame of 4 GiB or more)
    /// nothing is appended and the atom cache is as before.
    ///
    /// With distribution headers, every atom of the control message and the
    /// payload goes through the atom cache as erts does it: an atom the peer
    /// already holds costs two bytes and, more to the point, spares the peer
    /// an atom table lookup per atom per message.
    pub(crate) fn encode(&mut self, out: &mut Vec<u8>, control: &Control) -> Result<()> {
        let start = out.len();
        let shape = Shape {
            exit_payload: self.exit_payload,
            send_sender: self.send_sender,
        };
        let result = match &mut self.cache {
            Some(cache) => {
                cache.begin();
                shape.visit(control, &mut CollectAtoms(cache))?;
                cache.write_header(out);
                let refs = |atom: Atom| cache.index_of(atom);
                let written = shape
                    .visit(
                        control,
                        &mut Write {
                            out,
                            pass_through: false,
                            atom_refs: Some(&refs),
                        },
                    )
                    .and_then(|()| fits_frame(out.len() - start));
                if written.is_ok() {
                    cache.commit();
                }
                written
            }
            None => {
                out.push(PASS_THROUGH);
                shape
                    .visit(
                        control,
                        &mut Write {
                            out,
                            pass_through: true,
                            atom_refs: None,
                        },
                    )
                    .and_then(|()| fits_frame(out.len() - start))
            }
        };
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}

/// Frames carry a 32-bit length.
fn fits_frame(len: usize) -> Result<()> {
    if u32::try_from(len).is_err() {
        return Err(Error::Encode {
            path: String::new(),
            reason: format!("message of {len} bytes exceeds the 4 GiB frame limit"),
        });
    }
    Ok(())
}

/// The entries of the atom cache: 8 segments of 256, as the header's
/// segment and internal indexes address them.
const ATOM_CACHE_SIZE: usize = 2048;
/// A header holds at most this many references (its count is one byte).
const MAX_CACHE_REFS: usize = 255;

/// What the peer's atom cache for this connection holds, as far as our
/// frames told it, and the references of the message being encoded.
///
/// Each atom has one slot, picked by hashing its (interned) address. A
/// message refers to an atom in its slot (sending the text only when the
/// slot held another atom); an atom whose slot is taken by another atom of
/// the same message, or that comes after the 255th reference, is written in
/// full. Frames reach the peer in the order they are encoded (both happen
/// under the connection's queue lock), so it applies the updates in the
/// same order.
struct AtomCache {
    slots: Box<[Option<Atom>]>,
    /// Per slot: the message generation that last referred to it, and the
    /// index of its reference in that message.
    marks: Box<[(u32, u8)]>,
    generation: u32,
    refs: Vec<CacheRef>,
}

#[derive(Clone, Copy)]
struct CacheRef {
    atom: Atom,
    slot: u16,
    new: bool,
}

impl AtomCache {
    fn new() -> AtomCache {
        AtomCache {
            slots: vec![None; ATOM_CACHE_SIZE].into_boxed_slice(),
            marks: vec![(0, 0); ATOM_CACHE_SIZE].into_boxed_slice(),
            generation: 0,
            refs: Vec::with_capacity(16),
        }
    }

    fn slot(atom: Atom) -> usize {
        // Fibonacci hashing of the atom's hash word; the top 11 bits index
        // 2048 slots.
        (atom.hash_word().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - 11)) as usize
    }

    fn begin(&mut self) {
        self.refs.clear();
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.marks.fill((0, 0));
            self.generation = 1;
        }
    }

    fn note(&mut self, atom: Atom) {
        // Long atom texts would need the header's long-atoms form; they are
        // rare enough to go in full.
        if self.refs.len() == MAX_CACHE_REFS || atom.as_str().len() > 255 {
            return;
        }
        let slot = Self::slot(atom);
        if self.marks[slot].0 == self.generation {
            return;
        }
        self.marks[slot] = (self.generation, self.refs.len() as u8);
        self.refs.push(CacheRef {
            atom,
            slot: slot as u16,
            new: self.slots[slot] != Some(atom),
        });
    }

    fn index_of(&self, atom: Atom) -> Option<u8> {
        let (generation, index) = self.marks[Self::slot(atom)];
        (generation == self.generation && self.refs.get(usize::from(index))?.atom == atom)
            .then_some(index)
    }

    /// `131 68`, the references and the texts of new entries
    /// ([distribution header](https://www.erlang.org/doc/apps/erts/erl_ext_dist.html#normal-distribution-header)).
    fn write_header(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[VERSION, HEADER, self.refs.len() as u8]);
        if self.refs.is_empty() {
            return;
        }
        // One flag nibble per reference, even ones in the low half; the
        // nibble after the last says "no long atoms" (0).
        let flags_at = out.len();
        out.resize(flags_at + self.refs.len() / 2 + 1, 0);
        for (i, entry) in self.refs.iter().enumerate() {
            let nibble = (u8::from(entry.new) << 3) | (entry.slot >> 8) as u8;
            out[flags_at + i / 2] |= nibble << ((i % 2) * 4);
        }
        for entry in &self.refs {
            out.push(entry.slot as u8);
            if entry.new {
                let text = entry.atom.as_str().as_bytes();
                out.push(text.len() as u8);
                out.extend_from_slice(text);
            }
        }
    }

    /// The message went out: the peer now holds its new entries.
    fn commit(&mut self) {
        for entry in &self.refs {
            self.slots[usize::from(entry.slot)] = Some(entry.atom);
        }
    }
}

/// The flags that decide how a control message is spelt.
#[derive(Clone, Copy)]
struct Shape {
    exit_payload: bool,
    send_sender: bool,
}

/// Receives the parts of a control message in order: the tuple's head,
/// its other elements, then the payload (if any).
trait Parts {
    fn control(&mut self, arity: u8, op: i64);
    /// The head of a tuple inside the control message; its elements follow
    /// as elements.
    fn tuple(&mut self, arity: u8);
    fn element(&mut self, term: &Term) -> Result<()>;
    fn payload(&mut self, term: &Term) -> Result<()>;
}

/// Notes the atoms a message will write, for the atom cache.
struct CollectAtoms<'a>(&'a mut AtomCache);

impl Parts for CollectAtoms<'_> {
    fn control(&mut self, _arity: u8, _op: i64) {}

    fn tuple(&mut self, _arity: u8) {}

    fn element(&mut self, term: &Term) -> Result<()> {
        visit_atoms(term, &mut |atom| self.0.note(atom));
        Ok(())
    }

    fn payload(&mut self, term: &Term) -> Result<()> {
        self.element(term)
    }
}

/// Writes the message: after a distribution header, or pass-through with a
/// version byte before the control message and before the payload.
struct Write<'a> {
    out: &'a mut Vec<u8>,
    pass_through: bool,
    atom_refs: Option<AtomRefs<'a>>,
}

impl Write<'_> {
    fn term(&mut self, term: &Term) -> Result<()> {
        match self.atom_refs {
            Some(refs) => encode_into_cached(term, self.out, refs),
            None => encode_into(term, self.out),
        }
    }
}

impl Parts for Write<'_> {
    fn control(&mut self, arity: u8, op: i64) {
        if self.pass_through {
            self.out.push(VERSION);
        }
        self.out.extend_from_slice(&[104, arity, 97, op as u8]);
    }

    fn tuple(&mut self, arity: u8) {
        self.out.extend_from_slice(&[104, arity]);
    }

    fn element(&mut self, term: &Term) -> Result<()> {
        self.term(term)
    }

    fn payload(&mut self, term: &Term) -> Result<()> {
        if self.pass_through {
            self.out.push(VERSION);
        }
        self.term(term)
    }
}

impl Shape {
    /// Hands the parts of `control` to `parts`, as the negotiated flags
    /// want them spelt.
    fn visit(self, control: &Control, parts: &mut impl Parts) -> Result<()> {
        match control {
            Control::Link { from, to } => {
                parts.control(3, op::LINK);
                parts.element(&Term::Pid(*from))?;
                parts.element(&Term::Pid(*to))?;
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
                if self.exit_payload {
                    parts.control(
                        3,
                        if exit2 {
                            op::PAYLOAD_EXIT2
                        } else {
                            op::PAYLOAD_EXIT
                        },
                    );
                    parts.element(&Term::Pid(*from))?;
                    parts.element(&Term::Pid(*to))?;
                    parts.payload(reason)?;
                } else {
                    parts.control(4, if exit2 { op::EXIT2 } else { op::EXIT });
                    parts.element(&Term::Pid(*from))?;
                    parts.element(&Term::Pid(*to))?;
                    parts.element(reason)?;
                }
            }
            Control::UnlinkId { id, from, to } | Control::UnlinkIdAck { id, from, to } => {
                let ack = matches!(control, Control::UnlinkIdAck { .. });
                parts.control(
                    4,
                    if ack {
                        op::UNLINK_ID_ACK
                    } else {
                        op::UNLINK_ID
                    },
                );
                parts.element(&Term::from(*id))?;
                parts.element(&Term::Pid(*from))?;
                parts.element(&Term::Pid(*to))?;
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
                let demonitor = matches!(control, Control::DemonitorP { .. });
                parts.control(
                    4,
                    if demonitor {
                        op::DEMONITOR_P
                    } else {
                        op::MONITOR_P
                    },
                );
                parts.element(&Term::Pid(*from))?;
                parts.element(&to.to_term())?;
                parts.element(&Term::Ref(*reference))?;
            }
            Control::MonitorPExit {
                from,
                to,
                reference,
                reason,
            } => {
                if self.exit_payload {
                    parts.control(4, op::PAYLOAD_MONITOR_P_EXIT);
                    parts.element(&from.to_term())?;
                    parts.element(&Term::Pid(*to))?;
                    parts.element(&Term::Ref(*reference))?;
                    parts.payload(reason)?;
                } else {
                    parts.control(5, op::MONITOR_P_EXIT);
                    parts.element(&from.to_term())?;
                    parts.element(&Term::Pid(*to))?;
                    parts.element(&Term::Ref(*reference))?;
                    parts.element(reason)?;
                }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(id: u32) -> Pid {
        Pid {
            node: Atom::new("a@b"),
            id,
            serial: 0,
            creation: 1,
        }
    }

    fn roundtrip(mut outbound: Outbound, control: Control) -> Control {
        let mut out = Vec::new();
        outbound.encode(&mut out, &control).expect("encodes");
        let mut inbound = Inbound::new(1 << 20, Bounds::default());
        inbound
            .decode(Bytes::from(out))
            .expect("decodes")
            .expect("complete")
    }

    #[test]
    fn send_roundtrips_with_and_without_header() {
        for negotiated in [flags::SUPPORTED, flags::MANDATORY] {
            let control = Control::Send {
                from: Some(pid(1)),
                to: pid(2),
                message: Term::atom("hi"),
            };
            match roundtrip(Outbound::new(negotiated), control) {
                Control::Send { to, message, .. } => {
                    assert_eq!(to, pid(2));
                    assert!(message.is_atom("hi"));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn atoms_go_through_the_cache() {
        let mut outbound = Outbound::new(flags::SUPPORTED);
        let mut inbound = Inbound::new(1 << 20, Bounds::default());
        let message = Term::Tuple(vec![
            Term::atom("seq"),
            Term::from(1),
            Term::Pid(pid(3)),
            Term::atom("seq"),
        ]);
        let control = Control::RegSend {
            from: pid(1),
            to: Atom::new("sink"),
            message: message.clone(),
        };
        let mut frames = Vec::new();
        for _ in 0..2 {
            let mut out = Vec::new();
            outbound.encode(&mut out, &control).expect("encodes");
            frames.push(out.clone());
            match inbound.decode(Bytes::from(out)).expect("decodes") {
                Some(Control::RegSend {
                    from,
                    to,
                    message: got,
                }) => {
                    assert_eq!((from, to, &got), (pid(1), Atom::new("sink"), &message));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // The second time every reference is to an entry the peer holds: no
        // flag nibble has the new-entry bit, and no text is sent again.
        let second = &frames[1];
        let count = usize::from(second[2]);
        assert!(count >= 1);
        let new_entries = (0..count)
            .filter(|i| (second[3 + i / 2] >> ((i % 2) * 4)) & 0x08 != 0)
            .count();
        assert_eq!(new_entries, 0);
        assert!(second.len() < frames[0].len());
    }

    #[test]
    fn a_failed_encoding_leaves_the_cache_alone() {
        let mut outbound = Outbound::new(flags::SUPPORTED);
        let mut inbound = Inbound::new(1 << 20, Bounds::default());
        let bad = Term::Tuple(vec![Term::atom("fresh"), Term::Float(f64::NAN)]);
        let mut out = vec![1, 2];
        let control = Control::Send {
            from: None,
            to: pid(2),
            message: bad,
        };
        assert!(outbound.encode(&mut out, &control).is_err());
        assert_eq!(out, [1, 2]);
        let control = Control::Send {
            from: None,
            to: pid(2),
            message: Term::atom("fresh"),
        };
        let mut out = Vec::new();
        outbound.encode(&mut out, &control).expect("encodes");
        assert!(matches!(
            inbound.decode(Bytes::from(out)).expect("decodes"),
            Some(Control::Send { message, .. }) if message.is_atom("fresh")
        ));
    }

    #[test]
    fn exit_payload_roundtrips() {
        let control = Control::Exit {
            from: pid(1),
            to: pid(2),
            reason: Term::atom("normal"),
        };
        assert!(matches!(
            roundtrip(Outbound::new(flags::SUPPORTED), control.clone()),
            Control::Exit { reason, .. } if reason.is_atom("normal")
        ));
        assert!(matches!(
            roundtrip(Outbound::new(flags::MANDATORY), control),
            Control::Exit { reason, .. } if reason.is_atom("normal")
        ));
    }

    #[test]
    fn atom_cache_header_and_fragments() {
        // {6, From, [], foo} to 'foo' with atoms foo and bar cached,
        // message {bar, foo} split over three fragments.
        let mut header = vec![VERSION, FRAGMENT_FIRST];
        header.extend_from_slice(&7u64.to_be_bytes());
        header.extend_from_slice(&3u64.to_be_bytes());
        header.push(2); // two atom cache refs
        header.push(0x08 | (0x08 << 4)); // both new, segment 0
        header.push(0); // flags nibble for long atoms: off
        header.extend_from_slice(&[5, 3, b'f', b'o', b'o']);
        header.extend_from_slice(&[6, 3, b'b', b'a', b'r']);
        let mut body = Vec::new();
        body.extend_from_slice(&[104, 4, 97, 6]);
        encode_into(&Term::Pid(pid(9)), &mut body).expect("pid");
        body.extend_from_slice(&[106, 82, 0]);
        body.extend_from_slice(&[104, 2, 82, 1, 82, 0]);
        let split = body.len() - 4;

        let mut first = header.clone();
        first.extend_from_slice(&body[..split]);
        let mut second = vec![VERSION, FRAGMENT_NEXT];
        second.extend_from_slice(&7u64.to_be_bytes());
        second.extend_from_slice(&2u64.to_be_bytes());
        second.extend_from_slice(&body[split..split + 2]);
        let mut third = vec![VERSION, FRAGMENT_NEXT];
        third.extend_from_slice(&7u64.to_be_bytes());
        third.extend_from_slice(&1u64.to_be_bytes());
        third.extend_from_slice(&body[split + 2..]);

        let mut inbound = Inbound::new(1 << 20, Bounds::default());
        assert!(inbound.decode(Bytes::from(first)).expect("first").is_none());
        assert!(inbound
            .decode(Bytes::from(second))
            .expect("second")
            .is_none());
        match inbound.decode(Bytes::from(third)).expect("third") {
            Some(Control::RegSend { to, message, .. }) => {
                assert_eq!(to, Atom::new("foo"));
                assert_eq!(
                    message,
                    Term::Tuple(vec![Term::atom("bar"), Term::atom("foo")])
                );
            }
            other => panic!("unexpected {other:?}"),
        }

        // The cache now holds the atoms: a plain header can refer to them.
        let mut cached = vec![VERSION, HEADER, 1, 0x00, 6];
        cached.extend_from_slice(&[104, 4, 97, 6]);
        encode_into(&Term::Pid(pid(9)), &mut cached).expect("pid");
        cached.extend_from_slice(&[106, 82, 0, 106]);
        match inbound.decode(Bytes::from(cached)).expect("cached") {
            Some(Control::RegSend { to, .. }) => assert_eq!(to, Atom::new("bar")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn malformed_message_controls_are_errors() {
        let mut inbound = Inbound::new(1 << 20, Bounds::default());
        let mut good = vec![VERSION, HEADER, 0, 104, 3, 97, op::SEND as u8, 119, 0];
        encode_into(&Term::Pid(pid(2)), &mut good).expect("pid");
        encode_into(&Term::atom("hi"), &mut good).expect("payload");
        assert!(matches!(
            inbound.decode(Bytes::from(good.clone())),
            Ok(Some(Control::Send { .. }))
        ));

        let mut trailing = good.clone();
        trailing.push(106);
        let err = inbound
            .decode(Bytes::from(trailing))
            .expect_err("trailing byte");
        assert!(err.to_string().contains("trailing bytes"), "{err}");

        let mut not_a_pid = vec![
            VERSION,
            HEADER,
            0,
            104,
            3,
            97,
            op::SEND as u8,
            119,
            0,
            97,
            1,
        ];
        encode_into(&Term::atom("hi"), &mut not_a_pid).expect("payload");
        let err = inbound
            .decode(Bytes::from(not_a_pid))
            .expect_err("to is not a pid");
        assert!(err.to_string().contains("malformed SEND"), "{err}");

        let truncated = &good[..good.len() - 2];
        assert!(inbound.decode(Bytes::copy_from_slice(truncated)).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut inbound = Inbound::new(1 << 20, Bounds::default());
        for frame in [
            vec![],
            vec![1, 2, 3],
            vec![VERSION],
            vec![VERSION, HEADER],
            vec![VERSION, HEADER, 3, 0xFF],
            vec![VERSION, HEADER, 1, 0x00, 9],
            vec![VERSION, FRAGMENT_NEXT, 0, 0],
            vec![PASS_THROUGH, VERSION, 104, 1, 97, 99],
        ] {
            assert!(inbound.decode(Bytes::from(frame)).is_err());
        }
    }
}
