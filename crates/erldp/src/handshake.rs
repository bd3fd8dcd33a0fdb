//! The distribution handshake, both sides.
//!
//! Implements [Distribution Handshake](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#distribution-handshake):
//! version 6 (`N` name and challenge messages) as initiator and acceptor, and
//! on the accepting side also the version 5 `n` name message followed by the
//! `c` complement that OTP 23/24 nodes send when they did not ask EPMD first.
//! Messages carry a 2-byte length prefix over TCP until the connection is up,
//! and a 4-byte one inside TLS ([`Framing`]).
//!
//! Both sides run over anything that reads and writes bytes: a
//! [`Transport`](crate::transport::Transport) through
//! [`Io`](crate::transport::Io), TLS included.

use std::io::{Read, Write};

use md5::{Digest, Md5};

use crate::protocol::flags;
use crate::protocol::identity::valid_node_name;
use crate::term::Atom;
use crate::{random, Error, Result};

/// The longest node name a peer may send, in bytes: a node name is an atom,
/// and `dist_util:recv_name/1` makes it one with `list_to_atom/1` of its
/// bytes, which fails past 255 characters. Checked before anything else is
/// done with the name.
pub(crate) const MAX_NODE_NAME: usize = 255;

/// How handshake messages are framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// A 2-byte length, as `inet_tcp_dist` sets `{packet, 2}` for the handshake.
    Tcp,
    /// A 4-byte length: `inet_tls_dist` runs the handshake with `{packet, 4}`.
    Tls,
}

/// The longest handshake message accepted, whatever the framing: a name
/// message is 15 bytes and a node name of at most [`MAX_NODE_NAME`] bytes,
/// far below this. Checked before anything is allocated for a message.
const MAX_MESSAGE: usize = u16::MAX as usize;

/// Our side of a handshake.
pub(crate) struct Local<'a> {
    /// Our full node name, `name@host`.
    pub name: &'a str,
    /// Flags we offer.
    pub flags: u64,
    /// Our incarnation (never 0).
    pub creation: u32,
    /// The cookie expected in both directions.
    pub cookie: &'a str,
}

/// What the handshake learned about the peer.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    /// The peer's full node name.
    pub name: Atom,
    /// Flags both sides support: what the connection may use.
    pub flags: u64,
    /// The peer's incarnation.
    pub creation: u32,
}

/// How an acceptor answers an incoming name; chosen by the node, which knows
/// which connections exist or are being set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Go on.
    Ok,
    /// Go on; our own attempt towards this peer gives way.
    OkSimultaneous,
    /// Stop: our own attempt towards this peer wins.
    Nok,
    /// Stop: the connection is refused.
    NotAllowed,
    /// We already have a connection; the initiator decides whether it is stale.
    Alive,
}

/// How an initiator's attempt ended when it did not produce a connection
/// but was not an error either: the peer is connecting to us at the same
/// time and its attempt wins.
pub(crate) enum Outcome {
    Connected(Peer),
    LostSimultaneous,
}

/// Runs the initiating side on a connected stream. `still_wanted` answers
/// the acceptor's `alive` status: false when, meanwhile, a connection the
/// peer started has taken this attempt's place.
pub(crate) fn initiate(
    stream: &mut (impl Read + Write),
    framing: Framing,
    local: &Local<'_>,
    expected: &str,
    still_wanted: impl FnOnce() -> bool,
) -> Result<Outcome> {
    let fail = |reason: String| Error::connection(expected, reason);

    send(stream, framing, &n_message(local, None), expected)?;

    let status = recv(stream, framing, expected)?;
    match status.as_slice() {
        [b's', rest @ ..] => match rest {
            b"ok" | b"ok_simultaneous" => {}
            b"nok" => return Ok(Outcome::LostSimultaneous),
            b"alive" => {
                if !still_wanted() {
                    let _ = send(stream, framing, b"sfalse", expected);
                    return Ok(Outcome::LostSimultaneous);
                }
                send(stream, framing, b"strue", expected)?
            }
            b"not_allowed" => {
                return Err(fail(format!(
                    "the peer refused the connection (not_allowed): it lets no node named {} \
                     in. A node refuses its own name, so the address may be this node's own \
                     (with dist_port, one host holds one node); or the peer runs another node \
                     of this name, or leaves it out of net_kernel:allow/1",
                    local.name
                )))
            }
            other => {
                return Err(fail(format!(
                    "unexpected handshake status {:?}",
                    String::from_utf8_lossy(other)
                )))
            }
        },
        _ => return Err(fail("malformed handshake status message".into())),
    }

    let challenge = recv(stream, framing, expected)?;
    let parsed = parse_challenge(&challenge).map_err(fail)?;
    if parsed.name != expected {
        return Err(fail(format!(
            "the node answering is {}, not {expected}",
            parsed.name
        )));
    }
    let peer_flags = flags::expand(parsed.flags);
    check_mandatory(peer_flags, expected)?;

    let our_challenge = random::u32();
    let mut reply = Vec::with_capacity(21);
    reply.push(b'r');
    reply.extend_from_slice(&our_challenge.to_be_bytes());
    reply.extend_from_slice(&digest(parsed.challenge, local.cookie));
    send(stream, framing, &reply, expected)?;

    let ack = match recv(stream, framing, expected) {
        Ok(ack) => ack,
        Err(Error::Connection { .. }) => {
            return Err(Error::Auth {
                node: expected.to_string(),
            })
        }
        Err(other) => return Err(other),
    };
    match ack.as_slice() {
        [b'a', theirs @ ..] if theirs.len() == 16 => {
            if !constant_time_eq(theirs, &digest(our_challenge, local.cookie)) {
                return Err(Error::Auth {
                    node: expected.to_string(),
                });
            }
        }
        _ => return Err(fail("malformed challenge acknowledgement".into())),
    }

    Ok(Outcome::Connected(Peer {
        name: Atom::new(&parsed.name),
        flags: local.flags & peer_flags,
        creation: parsed.creation,
    }))
}

/// Runs the accepting side on a freshly accepted stream from `peer_addr`.
/// `admit` is asked once the peer's name is known; `proved`, with the
/// name and what `admit` answered, once the peer has proved the cookie and
/// before it is told that we have too, which makes the connection up on its
/// side: an error from `proved` ends the handshake there.
pub(crate) fn accept(
    stream: &mut (impl Read + Write),
    framing: Framing,
    peer_addr: &str,
    local: &Local<'_>,
    admit: impl FnOnce(&str) -> Admission,
    proved: impl FnOnce(&str, Admission) -> Result<()>,
) -> Result<Peer> {
    let first = recv(stream, framing, peer_addr)?;
    let hello = parse_name(&first).map_err(|reason| Error::connection(peer_addr, reason))?;
    let peer_name = hello.name.clone();
    let fail = |reason: String| Error::connection(&peer_name, reason);

    let mut peer_flags = flags::expand(hello.flags);
    let asks_name = peer_flags & flags::NAME_ME != 0;
    // With NAME_ME the peer sends its host alone, and gets a name on it.
    let name_me = asks_name.then(|| format!("erldp_dyn_{:08x}@{}", random::u32(), hello.name));
    if !valid_node_name(name_me.as_deref().unwrap_or(&peer_name)) {
        let _ = send(stream, framing, b"snot_allowed", peer_addr);
        return Err(Error::connection(
            peer_addr,
            format!(
                "the peer sent an invalid node {}: {:?}",
                if asks_name { "host" } else { "name" },
                hello.name
            ),
        ));
    }
    // A version 5 name message carries only the low 32 flag bits; V4_NC
    // arrives later in the complement and is checked then.
    let known = if hello.old {
        peer_flags | flags::V4_NC
    } else {
        peer_flags
    };
    if let Err(err) = check_mandatory(known, &peer_name) {
        let _ = send(stream, framing, b"snot_allowed", &peer_name);
        return Err(err);
    }

    let mut assigned_name = None;
    let admission;
    if let Some(name) = name_me {
        let creation = random::nonzero_u32();
        let mut status = b"snamed:".to_vec();
        status.extend_from_slice(&(name.len() as u16).to_be_bytes());
        status.extend_from_slice(name.as_bytes());
        status.extend_from_slice(&creation.to_be_bytes());
        if admit(&name) != Admission::Ok {
            let _ = send(stream, framing, b"snot_allowed", &name);
            return Err(Error::connection(&name, "refused a dynamically named peer"));
        }
        send(stream, framing, &status, &name)?;
        assigned_name = Some((name, creation));
        admission = Admission::Ok;
    } else {
        admission = admit(&peer_name);
        match admission {
            Admission::Ok => send(stream, framing, b"sok", &peer_name)?,
            Admission::OkSimultaneous => send(stream, framing, b"sok_simultaneous", &peer_name)?,
            Admission::Nok => {
                let _ = send(stream, framing, b"snok", &peer_name);
                return Err(fail("simultaneous connect: our own attempt goes on".into()));
            }
            Admission::NotAllowed => {
                let _ = send(stream, framing, b"snot_allowed", &peer_name);
                return Err(fail("connection refused (not_allowed)".into()));
            }
            Admission::Alive => {
                send(stream, framing, b"salive", &peer_name)?;
                let answer = recv(stream, framing, &peer_name)?;
                if answer.as_slice() != b"strue" {
                    return Err(fail(
                        "the peer withdrew: it already has a connection to us".into(),
                    ));
                }
            }
        }
    }
    let (peer_name, mut peer_creation) = match assigned_name {
        Some((name, creation)) => (name, creation),
        None => (peer_name, hello.creation),
    };
    let fail = |reason: String| Error::connection(&peer_name, reason);

    let our_challenge = random::u32();
    let challenge = n_message(local, Some(our_challenge));
    send(stream, framing, &challenge, &peer_name)?;

    let mut reply = recv(stream, framing, &peer_name)?;
    if hello.old {
        match reply.as_slice() {
            [b'c', rest @ ..] if rest.len() >= 8 => {
                let mut fields = Fields(rest);
                let high = u64::from(fields.u32());
                peer_creation = fields.u32();
                peer_flags |= high << 32;
            }
            _ => {
                return Err(fail(
                    "expected the complement message of a version 5 handshake".into(),
                ))
            }
        }
        check_mandatory(peer_flags, &peer_name)?;
        reply = recv(stream, framing, &peer_name)?;
    }

    let (their_challenge, their_digest) = match reply.as_slice() {
        [b'r', rest @ ..] if rest.len() == 20 => {
            let mut fields = Fields(rest);
            (fields.u32(), fields.rest())
        }
        _ => return Err(fail("malformed challenge reply".into())),
    };
    if !constant_time_eq(their_digest, &digest(our_challenge, local.cookie)) {
        return Err(Error::Auth { node: peer_name });
    }
    proved(&peer_name, admission)?;

    let mut ack = Vec::with_capacity(17);
    ack.push(b'a');
    ack.extend_from_slice(&digest(their_challenge, local.cookie));
    send(stream, framing, &ack, &peer_name)?;

    Ok(Peer {
        name: Atom::new(&peer_name),
        flags: local.flags & peer_flags,
        creation: peer_creation,
    })
}

/// A peer's send_name or challenge message.
struct Introduction {
    /// The version 5 form of send_name (`n`): only the low 32 flag bits,
    /// and no creation.
    old: bool,
    flags: u64,
    /// The challenge of a challenge message (0 in send_name).
    challenge: u32,
    creation: u32,
    name: String,
}

fn parse_name(msg: &[u8]) -> Result<Introduction, String> {
    match msg {
        [b'N', rest @ ..] if rest.len() >= 14 => n_form(rest, false),
        [b'n', rest @ ..] if rest.len() >= 6 => {
            let mut fields = Fields(rest);
            let version = fields.u16();
            if version != 5 {
                return Err(format!("unsupported distribution version {version}"));
            }
            let flags = u64::from(fields.u32());
            let name = node_name(fields.rest())?;
            Ok(Introduction {
                old: true,
                flags,
                challenge: 0,
                creation: 0,
                name: name.to_string(),
            })
        }
        _ => Err("malformed send_name message (is this an Erlang node?)".into()),
    }
}

fn parse_challenge(msg: &[u8]) -> Result<Introduction, String> {
    match msg {
        [b'N', rest @ ..] if rest.len() >= 18 => n_form(rest, true),
        [b'n', ..] => Err(
            "the peer only speaks distribution version 5 (OTP 22 or older), which is not supported"
                .into(),
        ),
        _ => Err("malformed challenge message".into()),
    }
}

/// The `N` form of send_name, or with `challenge` of challenge, after its
/// tag (as [`n_message`] writes it): flags, [challenge,] creation, then the
/// node name after its 2-byte length. `rest` holds at least the fixed part.
fn n_form(rest: &[u8], challenge: bool) -> Result<Introduction, String> {
    let mut fields = Fields(rest);
    let flags = fields.u64();
    let (challenge, message) = if challenge {
        (fields.u32(), "challenge")
    } else {
        (0, "send_name")
    };
    let creation = fields.u32();
    let len = usize::from(fields.u16());
    let name = fields
        .rest()
        .get(..len)
        .ok_or_else(|| format!("truncated name in {message}"))?;
    Ok(Introduction {
        old: false,
        flags,
        challenge,
        creation,
        name: node_name(name)?.to_string(),
    })
}

/// A peer's node name from a handshake message: at most [`MAX_NODE_NAME`]
/// bytes of UTF-8.
fn node_name(bytes: &[u8]) -> Result<&str, String> {
    if bytes.len() > MAX_NODE_NAME {
        return Err(format!(
            "node name of {} bytes is longer than {MAX_NODE_NAME}",
            bytes.len()
        ));
    }
    std::str::from_utf8(bytes).map_err(|_| "node name is not UTF-8".into())
}

/// The `N` form of send_name (`challenge` none) or of challenge: flags,
/// [challenge,] creation, then our name after its 2-byte length.
fn n_message(local: &Local<'_>, challenge: Option<u32>) -> Vec<u8> {
    let mut message = Vec::with_capacity(19 + local.name.len());
    message.push(b'N');
    message.extend_from_slice(&local.flags.to_be_bytes());
    if let Some(challenge) = challenge {
        message.extend_from_slice(&challenge.to_be_bytes());
    }
    message.extend_from_slice(&local.creation.to_be_bytes());
    message.extend_from_slice(&(local.name.len() as u16).to_be_bytes());
    message.extend_from_slice(local.name.as_bytes());
    message
}

/// The fixed-size big-endian fields of a handshake message, read front to
/// back from a slice whose length the caller has checked against them.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (field, rest) = self.0.split_first_chunk().expect("length checked");
        self.0 = rest;
        *field
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.take())
    }

    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take())
    }

    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take())
    }

    fn rest(self) -> &'a [u8] {
        self.0
    }
}

fn check_mandatory(peer_flags: u64, node: &str) -> Result<()> {
    let missing = flags::missing_mandatory(peer_flags);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::connection(
            node,
            format!(
                "the peer lacks mandatory distribution capabilities: {}",
                missing.join(", ")
            ),
        ))
    }
}

/// The MD5 of the cookie followed by the challenge in decimal, as the
/// protocol defines `gen_digest/2`.
pub(crate) fn digest(challenge: u32, cookie: &str) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(cookie.as_bytes());
    md5.update(challenge.to_string().as_bytes());
    md5.finalize().into()
}

/// Compares without an early exit, so the time taken tells an attacker
/// nothing about how much of a digest was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn send(stream: &mut (impl Read + Write), framing: Framing, msg: &[u8], node: &str) -> Result<()> {
    let mut framed = Vec::with_capacity(msg.len() + 4);
    match framing {
        Framing::Tcp => framed.extend_from_slice(&(msg.len() as u16).to_be_bytes()),
        Framing::Tls => framed.extend_from_slice(&(msg.len() as u32).to_be_bytes()),
    }
    framed.extend_from_slice(msg);
    stream
        .write_all(&framed)
        .and_then(|()| stream.flush())
        .map_err(|err| io_failure(node, "sending a handshake message", err))
}

/// Why a plain node's handshake with a TLS node failed.
const TLS_PEER: &str = "it runs TLS distribution (-proto_dist inet_tls), this node plain TCP";

/// Whether `err` is a plain node's handshake meeting a TLS node: worth a warning where other
/// failed handshakes of peers connecting to us are not (a peer that goes away, a port scan).
pub(crate) fn met_tls(err: &Error) -> bool {
    matches!(err, Error::Connection { reason, .. } if reason.ends_with(TLS_PEER))
}

fn recv(stream: &mut (impl Read + Write), framing: Framing, node: &str) -> Result<Vec<u8>> {
    let mut prefix = [0u8; 4];
    let prefix = match framing {
        Framing::Tcp => &mut prefix[..2],
        Framing::Tls => &mut prefix[..],
    };
    stream
        .read_exact(prefix)
        .map_err(|err| io_failure(node, "waiting for a handshake message", err))?;
    // A TLS record, version 3.x, where a length should be: of type handshake (22), a
    // ClientHello from a TLS node connecting to us; of type alert (21), a TLS node's answer
    // to our name message.
    if framing == Framing::Tcp && matches!(prefix, [0x15 | 0x16, 0x03]) {
        let what = if prefix[0] == 0x16 {
            "began a TLS handshake"
        } else {
            "answered with a TLS alert"
        };
        return Err(Error::connection(
            node,
            format!("the peer {what}: {TLS_PEER}"),
        ));
    }
    let len = prefix
        .iter()
        .fold(0usize, |len, &byte| len << 8 | usize::from(byte));
    if len > MAX_MESSAGE {
        return Err(Error::connection(
            node,
            format!("a handshake message of {len} bytes, more than the {MAX_MESSAGE} allowed"),
        ));
    }
    let mut msg = vec![0u8; len];
    stream
        .read_exact(&mut msg)
        .map_err(|err| io_failure(node, "reading a handshake message", err))?;
    Ok(msg)
}

fn io_failure(node: &str, doing: &str, err: std::io::Error) -> Error {
    match err.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            Error::timeout(format!("handshake with {node}: no answer while {doing}"))
        }
        std::io::ErrorKind::UnexpectedEof => Error::connection(
            node,
            format!("the peer closed the connection while {doing}"),
        ),
        _ => Error::connection(node, format!("{doing}: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mandatory_matches_the_issue() {
        assert_eq!(flags::MANDATORY, 0x4_0307_0F94);
    }

    #[test]
    fn digest_is_md5_of_cookie_and_decimal_challenge() {
        let expected: [u8; 16] = Md5::digest(b"secret123456").into();
        assert_eq!(digest(123456, "secret"), expected);
    }

    #[test]
    fn parses_both_name_formats() {
        let mut msg = vec![b'N'];
        msg.extend_from_slice(&flags::MANDATORY.to_be_bytes());
        msg.extend_from_slice(&7u32.to_be_bytes());
        msg.extend_from_slice(&3u16.to_be_bytes());
        msg.extend_from_slice(b"a@b");
        let parsed = parse_name(&msg).expect("valid");
        assert_eq!(
            (parsed.old, parsed.creation, parsed.name.as_str()),
            (false, 7, "a@b")
        );

        let mut old = vec![b'n', 0, 5];
        old.extend_from_slice(&(flags::MANDATORY as u32).to_be_bytes());
        old.extend_from_slice(b"x@y");
        let parsed = parse_name(&old).expect("valid");
        assert!(parsed.old);
        assert_eq!(parsed.name, "x@y");

        assert!(parse_name(b"N").is_err());
        let mut long = vec![b'N'];
        long.extend_from_slice(&flags::MANDATORY.to_be_bytes());
        long.extend_from_slice(&7u32.to_be_bytes());
        long.extend_from_slice(&260u16.to_be_bytes());
        long.extend_from_slice(format!("{}@b", "a".repeat(258)).as_bytes());
        let err = parse_name(&long).err().expect("too long");
        assert!(err.contains("260 bytes is longer than 255"), "{err}");
        assert!(parse_name(&[b'n', 0, 4, 0, 0, 0, 0]).is_err());
    }
}
