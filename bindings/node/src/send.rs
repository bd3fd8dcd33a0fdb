//! `send` and `sendEncoded`, for the node and its mailboxes alike: one
//! implementation of handing a message to the lane of its destination's
//! node (see `lanes.rs`).

use erldp::{Dest, Mailbox, Node, Term};
use napi::{Env, Result};

use crate::convert::{self, from_js};
use crate::error;
use crate::js::{Js, Value};
use crate::node::Context;

/// A message to send: converted by the addon, or ETF that the package
/// wrote (lib/etf.js), which the core decodes.
pub(crate) enum Outgoing {
    Term(Term),
    Etf(Vec<u8>),
}

/// What sends: the node, from its own pid, or a mailbox.
pub(crate) trait Sender: Clone + Send + 'static {
    fn send_outgoing(&self, dest: &Dest, message: Outgoing) -> erldp::Result<()>;
    fn is_closed(&self) -> bool;
}

impl Sender for Node {
    fn send_outgoing(&self, dest: &Dest, message: Outgoing) -> erldp::Result<()> {
        match message {
            Outgoing::Term(term) => self.send(dest, term),
            Outgoing::Etf(etf) => self.send_encoded(dest, &etf),
        }
    }

    fn is_closed(&self) -> bool {
        Node::is_closed(self)
    }
}

impl Sender for Mailbox {
    fn send_outgoing(&self, dest: &Dest, message: Outgoing) -> erldp::Result<()> {
        match message {
            Outgoing::Term(term) => self.send(dest, term),
            Outgoing::Etf(etf) => self.send_encoded(dest, &etf),
        }
    }

    fn is_closed(&self) -> bool {
        Mailbox::is_closed(self)
    }
}

/// `send(dest, message)` of a node or a mailbox, like `!`: a closed sender
/// throws `ECLOSED` here; a message to a node that cannot be reached is
/// dropped on the lane.
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
    let (dest, message) = convert::encoded_message(js, cx, etf, split, end)?;
    hand_over(js, cx, sender, dest, Outgoing::Etf(message))
}

fn hand_over(
    js: Js,
    cx: &Context,
    sender: &impl Sender,
    dest: Dest,
    message: Outgoing,
) -> Result<()> {
    if sender.is_closed() {
        return Err(error::throw(js, &erldp::Error::Closed));
    }
    let sender = sender.clone();
    cx.run(dest.node(), move || {
        let _ = sender.send_outgoing(&dest, message);
    });
    Ok(())
}
