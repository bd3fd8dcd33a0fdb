//! `send` and `sendEncoded`, for the node and its mailboxes alike: one
//! implementation of handing a message to the core, from the JavaScript
//! thread itself when that cannot wait, else on the lane of its
//! destination's node (see `lanes.rs`).

use std::borrow::Cow;

use erldp::{Atom, Dest, Mailbox, Node, Term};
use napi::{Env, Result};

use crate::convert::{self, from_js};
use crate::error;
use crate::js::{Js, Value};
use crate::node::Context;

/// A message to send: converted by the addon, or ETF that the package
/// wrote (lib/etf.js), which the core decodes. A direct send reads the ETF
/// where the package wrote it; the lane gets a copy.
pub(crate) enum Outgoing<'a> {
    Term(Term),
    Etf(Cow<'a, [u8]>),
}

impl Outgoing<'_> {
    fn into_owned(self) -> Outgoing<'static> {
        match self {
            Outgoing::Term(term) => Outgoing::Term(term),
            Outgoing::Etf(etf) => Outgoing::Etf(Cow::Owned(etf.into_owned())),
        }
    }
}

/// What sends: the node, from its own pid, or a mailbox.
pub(crate) trait Sender: Clone + Send + 'static {
    fn send_outgoing(&self, dest: &Dest, message: Outgoing<'_>) -> erldp::Result<()>;
    fn is_closed(&self) -> bool;
    fn node(&self) -> &Node;
}

impl Sender for Node {
    fn send_outgoing(&self, dest: &Dest, message: Outgoing<'_>) -> erldp::Result<()> {
        match message {
            Outgoing::Term(term) => self.send(dest, term),
            Outgoing::Etf(etf) => self.send_encoded(dest, &etf),
        }
    }

    fn is_closed(&self) -> bool {
        Node::is_closed(self)
    }

    fn node(&self) -> &Node {
        self
    }
}

impl Sender for Mailbox {
    fn send_outgoing(&self, dest: &Dest, message: Outgoing<'_>) -> erldp::Result<()> {
        match message {
            Outgoing::Term(term) => self.send(dest, term),
            Outgoing::Etf(etf) => self.send_encoded(dest, &etf),
        }
    }

    fn is_closed(&self) -> bool {
        Mailbox::is_closed(self)
    }

    fn node(&self) -> &Node {
        Mailbox::node(self)
    }
}

/// `send(dest, message)` of a node or a mailbox, like `!`: a closed sender
/// throws `ECLOSED` here; a message to a node that cannot be reached is
/// dropped.
pub(crate) fn send(
    env: Env,
    cx: &Context,
    sender: &impl Sender,
    dest: Value,
    message: Value,
) -> Result<()> {
    let js = Js::new(env.raw());
    let dest = convert::dest_from_js(js, dest)?;
    let message = Outgoing::Term(from_js(js, message)?);
    hand_over(js, cx, sender, dest, message)
}

/// [`send`] for a destination and message that the package wrote as ETF
/// into `etf` (see `convert::encoded_message`).
pub(crate) fn send_encoded(
    env: Env,
    cx: &Context,
    sender: &impl Sender,
    etf: Value,
    split: u32,
    end: u32,
) -> Result<()> {
    let js = Js::new(env.raw());
    convert::encoded_message(js, cx, etf, split, end, |dest, message| {
        hand_over(js, cx, sender, dest, Outgoing::Etf(Cow::Borrowed(message)))
    })
}

/// Sends `message` right here when that cannot wait, else stages it for the
/// lane of its destination's node. Either way a send that fails is dropped,
/// as Erlang's `!` to a node that cannot be reached is.
fn hand_over(
    js: Js,
    cx: &Context,
    sender: &impl Sender,
    dest: Dest,
    message: Outgoing<'_>,
) -> Result<()> {
    if sender.is_closed() {
        return Err(error::throw(js, &erldp::Error::Closed));
    }
    if direct(cx, sender.node(), dest.node(), &message) {
        let _ = sender.send_outgoing(&dest, message);
        return Ok(());
    }
    let (sender, message) = (sender.clone(), message.into_owned());
    cx.run(dest.node(), move || {
        let _ = sender.send_outgoing(&dest, message);
    });
    Ok(())
}

/// Whether `message` may be sent to `peer` from the JavaScript thread: our
/// own node, or a connection that is up with room for it
/// (`Node::send_would_wait`), for a message that the core does not write
/// from the caller's memory while it waits for the socket (a binary of
/// 64 KiB or more, or as much ETF), and only once every call handed to the
/// peer's lane before has run, so that messages to one peer keep their
/// order. The hand-over to a lane (a copy, a closure, a wake-up) costs more
/// than such a send.
///
/// What is checked can change before the send: a connection that frees up
/// meanwhile only means the lane took one message that need not have; one
/// that another thread (the core's own traffic) fills to its limit
/// meanwhile keeps this thread up to the send timeout; one that goes down
/// meanwhile is connected again from here, as the lane would have.
fn direct(cx: &Context, node: &Node, peer: Atom, message: &Outgoing<'_>) -> bool {
    if peer == cx.name {
        return true;
    }
    !cx.lanes.pending(peer)
        && !node.send_would_wait(peer)
        && match message {
            Outgoing::Term(term) => !node.send_writes_in_place(term),
            Outgoing::Etf(etf) => !node.send_encoded_writes_in_place(etf),
        }
}
