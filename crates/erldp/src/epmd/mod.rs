//! EPMD, the Erlang Port Mapper Daemon: the client side, and an embedded
//! server ([`EpmdServer`], [`ensure_running`]).
//!
//! Implements the [EPMD protocol] of the distribution protocol guide:
//! `ALIVE2_REQ` (register a node and keep the connection open for its
//! lifetime), `PORT_PLEASE2_REQ` (find a node's distribution port) and
//! `NAMES_REQ` (list the registered names). Every request is a 2-byte
//! big-endian length followed by the request; every call here opens its own
//! connection, as EPMD closes it after one reply.
//!
//! All calls block with a deadline: connecting, writing and each read get
//! the time that is left, so a silent or slow EPMD cannot hold a caller
//! longer than its timeout. Host name resolution is the exception: it goes
//! through the system resolver, which has no timeout.
//!
//! A node registers itself on start ([`EpmdMode`](crate::EpmdMode)); the
//! functions here are for looking around, as `epmd -names` does:
//!
//! ```
//! use std::time::Duration;
//! use erldp::epmd::{self, EpmdServer};
//! use erldp::{EpmdMode, Node};
//!
//! // An EPMD of our own on a free port, so the example needs no other.
//! let server = EpmdServer::start(0)?;
//! let node = Node::builder("lookup@localhost")
//!     .cookie("secret")
//!     .epmd(EpmdMode::External)
//!     .epmd_port(server.port())
//!     .start()?;
//!
//! let timeout = Duration::from_secs(2);
//! let names = epmd::names("localhost", server.port(), timeout)?;
//! assert_eq!(names, vec![("lookup".to_string(), node.port())]);
//! let info = epmd::port_please("localhost", server.port(), "lookup", timeout)?;
//! assert_eq!((info.port, info.node_type), (node.port(), epmd::NODE_TYPE_HIDDEN));
//! assert!(matches!(
//!     epmd::port_please("localhost", server.port(), "nobody", timeout),
//!     Err(erldp::Error::NodeNotFound { .. })
//! ));
//! # Ok::<(), erldp::Error>(())
//! ```
//!
//! [EPMD protocol]: https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#epmd-protocol

mod client;
mod server;

pub(crate) use client::port_please_at;
pub use client::{alive, names, port_from_env, port_please, register, Registration};
pub(crate) use server::lock_for_fork;
pub use server::{ensure_running, ensure_running_with, EpmdServer, ServerLimits};

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The port EPMD listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 4369;

/// `NodeType` of a normal, visible Erlang node (appears in `nodes()`).
pub const NODE_TYPE_NORMAL: u8 = 77;
/// `NodeType` of a hidden node (a C-node, or a node started with `-hidden`).
pub const NODE_TYPE_HIDDEN: u8 = 72;

/// `Protocol` value for TCP/IPv4, the only one defined.
const PROTOCOL_TCP: u8 = 0;
/// Distribution versions we announce: 6 is OTP 23+, 5 is older.
const HIGHEST_VERSION: u16 = 6;
const LOWEST_VERSION: u16 = 5;

const ALIVE2_X_RESP: u8 = 118;
const PORT2_RESP: u8 = 119;
const ALIVE2_REQ: u8 = 120;
const ALIVE2_RESP: u8 = 121;
const PORT_PLEASE2_REQ: u8 = 122;
const NAMES_REQ: u8 = 110;
const DUMP_REQ: u8 = 100;
const KILL_REQ: u8 = 107;
const STOP_REQ: u8 = 115;

/// EPMD refuses names longer than 255 characters.
const MAX_NAME_CHARS: usize = 255;
/// What EPMD knows about a registered node (the body of a `PORT2_RESP`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's distribution listen port.
    pub port: u16,
    /// [`NODE_TYPE_NORMAL`] or [`NODE_TYPE_HIDDEN`].
    pub node_type: u8,
    /// 0 = TCP/IPv4.
    pub protocol: u8,
    /// Highest distribution protocol version the node speaks.
    pub highest_version: u16,
    /// Lowest distribution protocol version the node speaks.
    pub lowest_version: u16,
    /// The name part of the node name (before the `@`).
    pub name: String,
    /// Opaque extra data the node registered with (usually empty).
    pub extra: Vec<u8>,
}

impl NodeInfo {
    /// Appends the fields shared by `ALIVE2_REQ` and `PORT2_RESP`, from
    /// `PortNo` to `Extra`. The caller has checked that the name and the
    /// extra data fit their 16-bit lengths.
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.port.to_be_bytes());
        out.push(self.node_type);
        out.push(self.protocol);
        out.extend_from_slice(&self.highest_version.to_be_bytes());
        out.extend_from_slice(&self.lowest_version.to_be_bytes());
        out.extend_from_slice(&len16(self.name.len()).to_be_bytes());
        out.extend_from_slice(self.name.as_bytes());
        out.extend_from_slice(&len16(self.extra.len()).to_be_bytes());
        out.extend_from_slice(&self.extra);
    }
}

/// A length that the protocol carries in 16 bits; callers only pass lengths
/// that were checked (names) or read from 16-bit fields (extra data).
fn len16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

/// Rejects names EPMD would refuse or misread, so that EPMD's only error
/// code can be read as "name taken".
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid("a node name must not be empty"));
    }
    if name.contains('@') {
        return Err(Error::invalid(format!(
            "EPMD knows node names without the host part; got {name:?}, use the part before the @"
        )));
    }
    if name.contains('\0') {
        return Err(Error::invalid(format!(
            "node name {name:?} contains a NUL character"
        )));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid(format!(
            "node name {name:?} is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(())
}

fn malformed(reason: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason.into())
}

/// Whether an I/O error means a socket timeout fired. Unix reports an
/// expired `SO_RCVTIMEO` as `WouldBlock`, Windows as `TimedOut`.
fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Time left until `deadline`, or a `TimedOut` error when none is.
fn time_left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::ErrorKind::TimedOut.into())
    } else {
        Ok(left)
    }
}

/// `write_all` that gives up at `deadline`.
fn write_all_by(stream: &mut TcpStream, bytes: &[u8], deadline: Instant) -> io::Result<()> {
    stream.set_write_timeout(Some(time_left(deadline)?))?;
    stream.write_all(bytes)
}

/// `read_exact` that gives up at `deadline`, however the peer trickles its
/// bytes in: every read waits only for the time that is left.
fn read_exact_by(stream: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        stream.set_read_timeout(Some(time_left(deadline)?))?;
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_checked_before_asking_epmd() {
        assert!(check_name("ok_name").is_ok());
        assert!(check_name("ñandú").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a@b").is_err());
        assert!(check_name("a\0b").is_err());
        assert!(check_name(&"x".repeat(256)).is_err());
        assert!(check_name(&"é".repeat(255)).is_ok());
    }

    #[test]
    fn node_info_encodes_like_alive2_req() {
        let info = NodeInfo {
            port: 0x1234,
            node_type: NODE_TYPE_HIDDEN,
            protocol: 0,
            highest_version: 6,
            lowest_version: 5,
            name: "ab".to_owned(),
            extra: vec![9],
        };
        let mut out = Vec::new();
        info.encode_into(&mut out);
        assert_eq!(
            out,
            [0x12, 0x34, 72, 0, 0, 6, 0, 5, 0, 2, b'a', b'b', 0, 1, 9]
        );
    }
}
