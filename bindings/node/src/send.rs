//! `send` and `sendEncoded`, for the node and its mailboxes alike: one
//! implementation of handing a message to the lane of its destination's
//! node (see `lanes.rs`).

use erldp::{Dest, Mailbox, Node, Term};
use napi::Result;

use crate::error;
use crate::js::Js;
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

/// Sends `message` to `dest` like `!`: a closed sender throws `ECLOSED`
/// here; a message to a node that cannot be reached is dropped on the lane.
pub(crate) fn send(
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
