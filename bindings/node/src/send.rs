//! `send` and `sendEncoded`, for the node and its mailboxes alike: one
//! implementation of handing a message to the lane of its destination's
//! node (see `lanes.rs`).

use erldp::{Dest, Mailbox, Node, Term};
use napi::{Env, Result};

use crate::convert::{self, from_js};
use crate::error;
use crate::js::{Js, Value};
use crate::mailbox::Ticket;
use crate::node::Context;

/// A message to send: converted by the addon, or ETF that the package
/// wrote (lib/etf.js), which the core decodes.
pub(crate) enum Outgoing {
    Term(Term),
    Etf(Vec<u8>),
}

/// What sends: the node, from its own pid, or a mailbox. The core gives
/// both the same three methods; an implementation names them, and
/// [`Outgoing::send`] picks between the two sends for either.
pub(crate) trait Sender: Clone + Send + 'static {
    const SEND: fn(&Self, &Dest, Term) -> erldp::Result<()>;
    const SEND_ENCODED: fn(&Self, &Dest, &[u8]) -> erldp::Result<()>;
    const IS_CLOSED: fn(&Self) -> bool;
}

impl Sender for Node {
    const SEND: fn(&Self, &Dest, Term) -> erldp::Result<()> = Node::send;
    const SEND_ENCODED: fn(&Self, &Dest, &[u8]) -> erldp::Result<()> = Node::send_encoded;
    const IS_CLOSED: fn(&Self) -> bool = Node::is_closed;
}

impl Sender for Mailbox {
    const SEND: fn(&Self, &Dest, Term) -> erldp::Result<()> = Mailbox::send;
    const SEND_ENCODED: fn(&Self, &Dest, &[u8]) -> erldp::Result<()> = Mailbox::send_encoded;
    const IS_CLOSED: fn(&Self) -> bool = Mailbox::is_closed;
}

impl Outgoing {
    fn send<S: Sender>(self, sender: &S, dest: &Dest) -> erldp::Result<()> {
        match self {
            Outgoing::Term(term) => S::SEND(sender, dest, term),
            Outgoing::Etf(etf) => S::SEND_ENCODED(sender, dest, &etf),
        }
    }
}

/// `send(dest, message)` of a node or a mailbox, like `!`: a closed sender
/// throws `ECLOSED` here; a message to a node that cannot be reached is
/// dropped on the lane. A mailbox's `ticket` is held until the lane has
/// sent the message.
pub(crate) fn send<S: Sender>(
    env: Env,
    cx: &Context,
    sender: &S,
    dest: Value,
    message: Value,
    ticket: Option<Ticket>,
) -> Result<()> {
    let js = Js::new(env.raw());
    let dest = convert::dest_from_js(js, dest)?;
    let message = Outgoing::Term(from_js(js, message)?);
    hand_over(js, cx, sender, dest, message, ticket)
}

/// [`send`] for a destination and message that the package wrote as ETF
/// into `etf` (see `convert::encoded_message`).
pub(crate) fn send_encoded<S: Sender>(
    env: Env,
    cx: &Context,
    sender: &S,
    etf: Value,
    split: u32,
    end: u32,
    ticket: Option<Ticket>,
) -> Result<()> {
    let js = Js::new(env.raw());
    let (dest, message) = convert::encoded_message(js, cx, etf, split, end)?;
    hand_over(js, cx, sender, dest, Outgoing::Etf(message), ticket)
}

fn hand_over<S: Sender>(
    js: Js,
    cx: &Context,
    sender: &S,
    dest: Dest,
    message: Outgoing,
    ticket: Option<Ticket>,
) -> Result<()> {
    if S::IS_CLOSED(sender) {
        return Err(error::throw(js, &erldp::Error::Closed));
    }
    let sender = sender.clone();
    cx.run(dest.node(), move || {
        let _ = message.send(&sender, &dest);
        drop(ticket);
    });
    Ok(())
}
