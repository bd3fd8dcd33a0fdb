//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`; not
//! part of the API): the parts of the wire code that a peer's bytes reach
//! before anything else looks at them, with a fixed local identity.
//!
//! The ETF decoder, term text and the EPMD client and server are public
//! and fuzzed through their public API; only what is internal is here.

use std::net::TcpStream;

use bytes::Bytes;

use crate::handshake::{self, Admission, Framing, Local, Outcome};
use crate::protocol::flags;
use crate::protocol::header::{Bounds, Inbound};
use crate::Result;

const LOCAL: Local<'static> = Local {
    name: "fuzz@localhost",
    flags: flags::SUPPORTED,
    creation: 0x0102_0304,
    cookie: "FUZZCOOKIE",
};

/// The accepting side of a handshake on `stream`, admitting the peer with
/// the admission `choice` picks (modulo the five there are).
pub fn handshake_accept(stream: &mut TcpStream, choice: u8) -> Result<()> {
    let admission = match choice % 5 {
        0 => Admission::Ok,
        1 => Admission::OkSimultaneous,
        2 => Admission::Nok,
        3 => Admission::NotAllowed,
        _ => Admission::Alive,
    };
    handshake::accept(
        stream,
        Framing::Tcp,
        "fuzzing peer",
        &LOCAL,
        |_| admission,
        |_, _| Ok(()),
    )
    .map(drop)
}

/// The initiating side of a handshake on `stream`, towards `peer`;
/// `still_wanted` answers an `alive` status.
pub fn handshake_initiate(stream: &mut TcpStream, peer: &str, still_wanted: bool) -> Result<()> {
    match handshake::initiate(stream, Framing::Tcp, &LOCAL, peer, || still_wanted)? {
        Outcome::Connected(_) | Outcome::LostSimultaneous => Ok(()),
    }
}

/// The frames of one connection after its handshake, decoded as its reader
/// decodes them (atom cache, fragments, control messages), with the
/// default limits.
pub struct Frames {
    inbound: Inbound,
}

impl Frames {
    /// A connection's reading state, accepting frames up to `max_message`
    /// bytes.
    pub fn new(max_message: usize) -> Frames {
        Frames {
            inbound: Inbound::new(Bounds {
                max_message,
                ..Bounds::default()
            }),
        }
    }

    /// Decodes one frame (without its length prefix; not a tick). Whether
    /// it completed a control message is all that is returned.
    pub fn decode(&mut self, frame: Bytes) -> Result<bool> {
        self.inbound.decode(frame).map(|control| control.is_some())
    }
}
