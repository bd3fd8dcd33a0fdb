//! `erldp_message`: what `erldp_receive` returns.

use std::sync::OnceLock;

use erldp::term::encode;
use erldp::{Message, MessageKind, Term};

use crate::ffi::{self, Out};
use crate::status::{erldp_status, Outcome};
use crate::term::{self, erldp_term};

/// What a received message is.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum erldp_msg_kind {
    /// Not a message: `erldp_message_kind` was given NULL.
    ERLDP_MSG_INVALID = 0,
    /// An ordinary message sent to the mailbox.
    ERLDP_MSG_MESSAGE = 1,
    /// An exit signal: a linked process ended, or someone called `exit/2`.
    /// The term is `{'EXIT', From, Reason}`.
    ERLDP_MSG_EXIT = 2,
    /// A monitored process ended (or could not be monitored). The term is
    /// `{'DOWN', Ref, process, Pid | {Name, Node}, Reason}`.
    ERLDP_MSG_DOWN = 3,
    /// The connection to a monitored node went down (`erldp_monitor_node`,
    /// `erldp_monitor_nodes`). The term is `{nodedown, Node}`.
    ERLDP_MSG_NODE_DOWN = 4,
    /// A node connected (`erldp_monitor_nodes`). The term is
    /// `{nodeup, Node}`.
    ERLDP_MSG_NODE_UP = 5,
}

/// A message or signal taken from a mailbox. Its parts are ETF, borrowed
/// from the message until `erldp_message_free`.
///
/// It holds the term as the connection's reader decoded it (its large
/// binaries share the frame they arrived in), for `erldp_message_decoded`;
/// the ETF of `erldp_message_term` is written from it on first asking only,
/// so that a program that reads the tree pays for no encoding. So are the
/// sender, reason and reference: most programs never ask for them.
pub struct erldp_message {
    kind: erldp_msg_kind,
    term: Term,
    etf: OnceLock<Vec<u8>>,
    from: Part,
    reason: Part,
    reference: Part,
}

impl ffi::Handle for erldp_message {
    const ARG: &'static str = "msg";
    const NOUN: &'static str = "message";
}

/// The ETF of `term`, written into `cell` on the first asking.
fn lazily<'a>(cell: &'a OnceLock<Vec<u8>>, term: &Term) -> Outcome<&'a Vec<u8>> {
    Ok(match cell.get() {
        Some(etf) => etf,
        // Two threads asking at once both encode; one result stays.
        None => {
            let encoded = encode(term)?;
            cell.get_or_init(|| encoded)
        }
    })
}

/// A part that a message may lack, as ETF on the first asking.
struct Part {
    term: Option<Term>,
    etf: OnceLock<Vec<u8>>,
}

impl Part {
    fn new(term: Option<Term>) -> Part {
        Part {
            term,
            etf: OnceLock::new(),
        }
    }

    fn etf(&self) -> Outcome<Option<&Vec<u8>>> {
        self.term
            .as_ref()
            .map(|term| lazily(&self.etf, term))
            .transpose()
    }
}

impl erldp_message {
    pub(crate) fn boxed(message: Message) -> Outcome<*mut erldp_message> {
        let kind = match message.kind {
            MessageKind::Message => erldp_msg_kind::ERLDP_MSG_MESSAGE,
            MessageKind::Exit => erldp_msg_kind::ERLDP_MSG_EXIT,
            MessageKind::Down => erldp_msg_kind::ERLDP_MSG_DOWN,
            MessageKind::NodeDown => erldp_msg_kind::ERLDP_MSG_NODE_DOWN,
            MessageKind::NodeUp => erldp_msg_kind::ERLDP_MSG_NODE_UP,
        };
        Ok(Box::into_raw(Box::new(erldp_message {
            kind,
            term: message.term,
            etf: OnceLock::new(),
            from: Part::new(message.from.map(Term::Pid)),
            reason: Part::new(message.reason),
            reference: Part::new(message.reference.map(Term::Ref)),
        })))
    }
}

/// Frees a message. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn erldp_message_free(msg: *mut erldp_message) {
    // SAFETY: NULL or a message the library allocated (the pointer contract).
    unsafe { ffi::release(msg, drop) }
}

/// What the message is; `ERLDP_MSG_INVALID` for NULL.
#[no_mangle]
pub unsafe extern "C" fn erldp_message_kind(msg: *const erldp_message) -> erldp_msg_kind {
    // SAFETY: NULL or a live message (the pointer contract).
    unsafe { ffi::get(msg, erldp_msg_kind::ERLDP_MSG_INVALID, |msg| msg.kind) }
}

/// The term as an Erlang process would find it in its mailbox (ETF): the
/// message itself, or the `'EXIT'`/`'DOWN'`/`nodedown` tuple of a signal.
///
/// The ETF is written on the first call; `erldp_message_decoded` gives the
/// term without it.
#[no_mangle]
pub unsafe extern "C" fn erldp_message_term(
    msg: *const erldp_message,
    data: *mut *const u8,
    len: *mut usize,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        ffi::part(
            msg,
            "term",
            |msg| lazily(&msg.etf, &msg.term).map(Some),
            data,
            len,
        )
    }
}

/// The term of `erldp_message_term` as a tree to read with the
/// `erldp_term_get_*` calls, borrowed until `erldp_message_free` (do not
/// `erldp_term_free` it): the tree the connection decoded the message into,
/// so reading it costs neither an encoding nor a decoding, and a large binary
/// in it is the bytes that arrived, not a copy.
#[no_mangle]
pub unsafe extern "C" fn erldp_message_decoded(
    msg: *const erldp_message,
    out: *mut *const erldp_term,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe { ffi::read(msg, Out(out, "out"), |msg| Ok(term::to_handle(&msg.term))) }
}

/// The sender's pid (ETF), when known: always for exit signals, for
/// messages that Erlang sent to a registered name, not for messages sent
/// to a pid (the protocol does not carry it). `ERLDP_ERR_NOT_FOUND` when
/// unknown.
#[no_mangle]
pub unsafe extern "C" fn erldp_message_from(
    msg: *const erldp_message,
    data: *mut *const u8,
    len: *mut usize,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe { ffi::part(msg, "sender", |msg| msg.from.etf(), data, len) }
}

/// The exit reason (ETF) of an exit, down or node-down signal;
/// `ERLDP_ERR_NOT_FOUND` for an ordinary message.
#[no_mangle]
pub unsafe extern "C" fn erldp_message_reason(
    msg: *const erldp_message,
    data: *mut *const u8,
    len: *mut usize,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe { ffi::part(msg, "reason", |msg| msg.reason.etf(), data, len) }
}

/// The monitor reference (ETF) of a down signal, as `erldp_monitor`
/// returned it; `ERLDP_ERR_NOT_FOUND` for other kinds.
#[no_mangle]
pub unsafe extern "C" fn erldp_message_ref(
    msg: *const erldp_message,
    data: *mut *const u8,
    len: *mut usize,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        ffi::part(
            msg,
            "monitor reference",
            |msg| msg.reference.etf(),
            data,
            len,
        )
    }
}
