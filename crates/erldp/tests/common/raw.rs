//! Just enough of the distribution protocol to play a peer that BEAM cannot
//! be: handshake messages and the initiator's side of a version 6 handshake
//! ([distribution handshake]), then frames with an empty atom cache header
//! ([protocol between connected nodes]).
//!
//! [distribution handshake]: https://www.erlang.org/doc/apps/erts/erl_dist_protocol#distribution-handshake
//! [protocol between connected nodes]: https://www.erlang.org/doc/apps/erts/erl_dist_protocol#protocol-between-connected-nodes

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use erldp::{Node, Term};
use erldp_testkit::random_name;
use md5::{Digest, Md5};

/// The creation of the peers this module plays.
pub const CREATION: u32 = 1;

/// Process `id` of the raw peer `name`.
pub fn pid(name: &str, id: u32) -> erldp::Pid {
    erldp::Pid {
        node: erldp::Atom::new(name),
        id,
        serial: 0,
        creation: CREATION,
    }
}

/// How long a handshake read may wait before the node counts as hung.
const HANDSHAKE_READ: Duration = Duration::from_secs(30);

/// `body` after its length in `width` big-endian bytes, as it goes on the
/// wire: 2 for a handshake message, 4 for a frame.
fn prefixed(width: usize, body: &[u8]) -> Vec<u8> {
    let len = (body.len() as u64).to_be_bytes();
    [&len[len.len() - width..], body].concat()
}

/// A handshake message with its 2-byte length, as it goes on the wire.
pub fn framed(message: &[u8]) -> Vec<u8> {
    prefixed(2, message)
}

/// Sends one handshake message.
pub fn send(stream: &mut TcpStream, message: &[u8]) {
    stream
        .write_all(&framed(message))
        .expect("writing a handshake message");
}

/// Reads one handshake message.
pub fn recv(stream: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .expect("reading a handshake message");
    let mut message = vec![0; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut message)
        .expect("reading a handshake message");
    message
}

/// The MD5 digest of `cookie` and `challenge` that proves knowing the cookie.
pub fn digest(challenge: u32, cookie: &str) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(cookie.as_bytes());
    md5.update(challenge.to_string().as_bytes());
    md5.finalize().into()
}

/// A version 6 name message (`N`) for `name`, with `flags` and `creation`.
pub fn name_message(flags: u64, creation: u32, name: &str) -> Vec<u8> {
    let mut hello = vec![b'N'];
    hello.extend_from_slice(&flags.to_be_bytes());
    hello.extend_from_slice(&creation.to_be_bytes());
    hello.extend_from_slice(&(name.len() as u16).to_be_bytes());
    hello.extend_from_slice(name.as_bytes());
    hello
}

/// The challenge a version 6 challenge message (`N`) carries.
pub fn challenge_of(message: &[u8]) -> u32 {
    u32::from_be_bytes(message[9..13].try_into().expect("4 bytes"))
}

/// The challenge reply (`r`): our challenge and the digest of theirs.
pub fn challenge_reply(ours: u32, theirs: u32, cookie: &str) -> Vec<u8> {
    let mut reply = vec![b'r'];
    reply.extend_from_slice(&ours.to_be_bytes());
    reply.extend_from_slice(&digest(theirs, cookie));
    reply
}

/// A TCP connection to `node`'s listen port; a read that waits longer than
/// a handshake may fails.
pub fn connection(node: &Node) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", node.port())).expect("connecting");
    stream
        .set_read_timeout(Some(HANDSHAKE_READ))
        .expect("read timeout");
    stream
}

/// Connects to `node` and sends the name message of a new peer `name`.
pub fn start_handshake(node: &Node, name: &str) -> TcpStream {
    let mut stream = connection(node);
    send(
        &mut stream,
        &name_message(erldp::flags::SUPPORTED, CREATION, name),
    );
    stream
}

/// Completes a version 6 handshake with `node` as a new peer that knows
/// `cookie` and offers `flags`; returns the socket, on which the node may
/// already be writing, and the peer's name.
pub fn handshake(node: &Node, cookie: &str, flags: u64) -> (TcpStream, String) {
    const OURS: u32 = 7;
    let name = format!("{}@{}", random_name("raw"), node.host());
    let mut stream = connection(node);
    send(&mut stream, &name_message(flags, CREATION, &name));
    assert_eq!(recv(&mut stream), b"sok");
    let theirs = challenge_of(&recv(&mut stream));
    send(&mut stream, &challenge_reply(OURS, theirs, cookie));
    let ack = recv(&mut stream);
    assert_eq!(ack[0], b'a', "the challenge ack");
    assert_eq!(ack[1..], digest(OURS, cookie), "the node's digest");
    (stream, name)
}

/// [`handshake`] with every flag we support, once the node has taken the
/// connection into use (until then an rpc to the peer would connect anew).
/// Nothing reads what the node writes.
pub fn connect_unread(node: &Node, cookie: &str) -> (TcpStream, String) {
    let (stream, name) = handshake(node, cookie, erldp::flags::SUPPORTED);
    let deadline = Instant::now() + HANDSHAKE_READ;
    while !node.nodes().iter().any(|peer| peer.as_str() == name) {
        assert!(Instant::now() < deadline, "{name} never came up");
        thread::sleep(Duration::from_millis(10));
    }
    stream.set_read_timeout(None).expect("read timeout");
    (stream, name)
}

/// [`connect_unread`], with what the node writes read and dropped, so
/// that it never waits to write. Ticks go unanswered: the tests end long
/// before one is missed.
pub fn connect(node: &Node, cookie: &str) -> (TcpStream, String) {
    let (stream, name) = connect_unread(node, cookie);
    let mut reader = stream.try_clone().expect("clone");
    thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
    });
    (stream, name)
}

/// `frame` with its 4-byte length in front, as it goes on the wire.
pub fn length_prefixed(frame: &[u8]) -> Vec<u8> {
    prefixed(4, frame)
}

/// Writes one frame (a 4-byte length, then `frame`).
pub fn write_frame(stream: &mut TcpStream, frame: &[u8]) {
    stream
        .write_all(&length_prefixed(frame))
        .expect("writing a frame");
}

/// Reads the next frame that is not a tick.
pub fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
    loop {
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).expect("frame length");
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 {
            continue;
        }
        let mut frame = vec![0u8; len];
        stream.read_exact(&mut frame).expect("frame");
        return frame;
    }
}

/// A frame holding `control`, and `message` after it when there is one,
/// with an empty atom cache header.
pub fn control_frame(control: &Term, message: Option<&Term>) -> Vec<u8> {
    let mut frame = vec![131, 68, 0];
    frame.extend_from_slice(&erldp::term::encode(control).expect("control encodes")[1..]);
    if let Some(message) = message {
        frame.extend_from_slice(&erldp::term::encode(message).expect("message encodes")[1..]);
    }
    frame
}

/// The signal `{Op, From, To, Last}` from process `from` to `to` (a
/// `MONITOR_P` with its reference last, an `EXIT2` with its reason, ...).
pub fn signal(op: i64, from: erldp::Pid, to: erldp::Pid, last: Term) -> Term {
    Term::tuple(vec![op.into(), from.into(), to.into(), last])
}

/// Sends `control`, and `message` after it when there is one, in a frame
/// with an empty atom cache header.
pub fn send_control(stream: &mut TcpStream, control: &Term, message: Option<&Term>) {
    write_frame(stream, &control_frame(control, message));
}

/// The first of `fragments` fragments of message `sequence`, with
/// `refs` new atom cache entries and a little of a control message.
pub fn send_first_fragment(stream: &mut TcpStream, sequence: u64, fragments: u64, refs: usize) {
    let mut frame = vec![131, 69];
    frame.extend_from_slice(&sequence.to_be_bytes());
    frame.extend_from_slice(&fragments.to_be_bytes());
    frame.push(refs as u8);
    if refs > 0 {
        // New entries, short atoms: the flag nibble 8 | segment 0.
        frame.extend(std::iter::repeat_n(0x88u8, refs / 2 + 1));
        for i in 0..refs {
            frame.push(i as u8);
            let atom = format!("a{i}");
            frame.push(atom.len() as u8);
            frame.extend_from_slice(atom.as_bytes());
        }
    }
    frame.extend_from_slice(&[104, 4, 97, 6]);
    write_frame(stream, &frame);
}

/// Whether the node closes `stream` (EOF or reset) within `within`; false
/// when it is still open then.
pub fn closed_by_node(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).expect("timeout");
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(err) => {
                return !matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    }
}
