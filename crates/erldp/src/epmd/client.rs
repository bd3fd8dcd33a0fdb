//! The client side of EPMD: looking a node up (`PORT_PLEASE2_REQ`),
//! listing the names (`NAMES_REQ`), and registering ours (`ALIVE2_REQ`),
//! each request on a connection of its own, within a deadline.

use std::fmt;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::{
    check_name, is_timeout, malformed, read_exact_by, server, time_left, write_all_by, NodeInfo,
    ALIVE2_REQ, ALIVE2_RESP, ALIVE2_X_RESP, DEFAULT_PORT, HIGHEST_VERSION, LOWEST_VERSION,
    NAMES_REQ, NODE_TYPE_HIDDEN, NODE_TYPE_NORMAL, PORT2_RESP, PORT_PLEASE2_REQ, PROTOCOL_TCP,
};
use crate::deadline;
use crate::error::{Error, Result};
use crate::random;
use crate::resolve;
use crate::transport::{self, Cutoff};

/// A names listing is a few dozen bytes per node; anything far beyond that
/// is not an EPMD talking, and must not make us allocate without bound.
const MAX_NAMES_REPLY: usize = 1 << 20;

/// The EPMD port the BEAM would use: `$ERL_EPMD_PORT` when it is set, else
/// [`DEFAULT_PORT`].
///
/// Unlike a silent fallback, a value that is not a port number is an error:
/// talking to another EPMD than the BEAM nodes of the cluster use would make
/// every lookup fail in a confusing way.
pub fn port_from_env() -> Result<u16> {
    match std::env::var("ERL_EPMD_PORT") {
        Ok(text) => parse_port_setting(&text),
        Err(std::env::VarError::NotPresent) => Ok(DEFAULT_PORT),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Error::invalid("ERL_EPMD_PORT is not valid Unicode"))
        }
    }
}

/// The port `$ERL_EPMD_PORT` names; empty means unset.
fn parse_port_setting(text: &str) -> Result<u16> {
    match text.trim() {
        "" => Ok(DEFAULT_PORT),
        port => match port.parse::<u16>() {
            Ok(port) if port != 0 => Ok(port),
            _ => Err(Error::invalid(format!(
                "ERL_EPMD_PORT={text:?} is not a TCP port number (1..=65535)"
            ))),
        },
    }
}

/// Asks the EPMD at `host:epmd_port` on which port the node `name` (the part
/// before the `@`) listens.
///
/// Errors: [`Error::NodeNotFound`] when the name is not registered there,
/// when no EPMD answers at `host:epmd_port`, or when `host` does not
/// resolve; [`Error::Timeout`] when the whole exchange takes longer than
/// `timeout`; [`Error::Connection`] when EPMD answers with something that is
/// not a `PORT2_RESP`.
pub fn port_please(host: &str, epmd_port: u16, name: &str, timeout: Duration) -> Result<NodeInfo> {
    port_please_at(host, None, epmd_port, name, deadline::after(timeout), None)
}

/// [`port_please`] at `addrs`, the addresses of `host` already resolved
/// the way the node resolves its peers' hosts (an IPv6 node asks EPMD over
/// IPv6, as BEAM's `inet6_tcp` does); `host` names it in messages.
/// The exchange ends by `deadline`, the connect's. `cutoff` gets the
/// socket, so that a node closing cuts the look-up short.
pub(crate) fn port_please_at(
    host: &str,
    addrs: Option<&[IpAddr]>,
    epmd_port: u16,
    name: &str,
    deadline: Instant,
    cutoff: Option<&Cutoff>,
) -> Result<NodeInfo> {
    check_name(name)?;
    let epmd = Endpoint {
        host,
        addrs,
        port: epmd_port,
        cutoff,
    };
    let node = format!("{name}@{host}");
    let mut request = vec![PORT_PLEASE2_REQ];
    request.extend_from_slice(name.as_bytes());
    let reply = epmd.ask(&request, deadline, |stream| {
        let mut head = [0; 2];
        read_exact_by(stream, &mut head, deadline)?;
        match head {
            [PORT2_RESP, 0] => read_port2_body(stream, deadline).map(Some),
            [PORT2_RESP, _] => Ok(None),
            [tag, _] => Err(malformed(format!(
                "reply tag {tag} instead of {PORT2_RESP} (PORT2_RESP)"
            ))),
        }
    });
    match reply {
        Ok((_, Some(info))) => {
            log::debug!("EPMD at {epmd}: {name} listens on port {}", info.port);
            Ok(info)
        }
        // With no EPMD running, a node in EpmdMode::Auto starts its own, which
        // knows only the nodes started after it: say so, or the message
        // reads as if the node were simply not running.
        Ok((stream, None)) if server::is_embedded(&stream) => Err(Error::NodeNotFound {
            node,
            reason: format!(
                "the name {name} is not registered in EPMD at {epmd}, which is the EPMD this \
                 program started itself because none was running (epmd: auto): only nodes \
                 started after it have registered there; start epmd (or the node) before this \
                 program, or give the node's port (epmd: none)"
            ),
        }),
        Ok((_, None)) => Err(Error::NodeNotFound {
            node,
            reason: format!("the name {name} is not registered in EPMD at {epmd}"),
        }),
        Err(failure) => Err(failure.into_error(
            &epmd,
            || format!("asking EPMD at {epmd} for the port of {name}"),
            Some(node),
        )),
    }
}

/// Lists the names registered in the EPMD at `host:epmd_port`, with their
/// distribution ports, in the order EPMD gives them.
///
/// Errors: [`Error::Connection`] when `host` does not resolve, no EPMD
/// answers or the reply is malformed; [`Error::Timeout`] when the listing
/// takes longer than `timeout`.
pub fn names(host: &str, epmd_port: u16, timeout: Duration) -> Result<Vec<(String, u16)>> {
    let deadline = deadline::after(timeout);
    let epmd = Endpoint {
        host,
        addrs: None,
        port: epmd_port,
        cutoff: None,
    };
    let reply = epmd.ask(&[NAMES_REQ], deadline, |stream| {
        let reply = read_to_end_by(stream, MAX_NAMES_REPLY, deadline)?;
        // The reply starts with the port EPMD listens on; erl_epmd uses it
        // only as a sanity check, and so do we: the lines are what matters.
        match reply.get(4..) {
            Some(lines) => Ok(parse_names(lines)),
            None => Err(malformed("the reply is shorter than its 4-byte header")),
        }
    });
    reply.map(|(_, names)| names).map_err(|failure| {
        failure.into_error(
            &epmd,
            || format!("listing the names registered in EPMD at {epmd}"),
            None,
        )
    })
}

/// Whether an EPMD answers on `127.0.0.1:epmd_port` within `timeout`.
///
/// It is asked for its names and must give back its own port number, so a
/// program that merely accepts connections on that port does not count.
pub fn alive(epmd_port: u16, timeout: Duration) -> bool {
    let deadline = deadline::after(timeout);
    let epmd = Endpoint::local(epmd_port);
    let reply = epmd.ask(&[NAMES_REQ], deadline, |stream| {
        let mut header = [0; 4];
        read_exact_by(stream, &mut header, deadline)?;
        Ok(u32::from_be_bytes(header))
    });
    matches!(reply, Ok((_, port)) if port == u32::from(epmd_port))
}

/// A node name registered in the local EPMD.
///
/// EPMD keeps the name for as long as the registration connection is open,
/// so this value must live as long as the node: dropping it closes the
/// connection, and EPMD forgets the name.
#[derive(Debug)]
pub struct Registration {
    /// Held open, never read or written after the reply: EPMD drops a
    /// registration when anything more arrives on it.
    _stream: TcpStream,
    name: String,
    creation: u32,
}

impl Registration {
    /// The creation (incarnation number) EPMD assigned; never 0.
    pub fn creation(&self) -> u32 {
        self.creation
    }

    /// The registered name (the part of the node name before the `@`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Registers `name` (the part of the node name before the `@`) with
/// distribution port `listen_port` in the EPMD on `127.0.0.1:epmd_port`.
/// EPMD accepts registrations from its own host only.
///
/// The node is registered as hidden ([`NODE_TYPE_HIDDEN`]) or visible
/// ([`NODE_TYPE_NORMAL`]), speaking distribution versions 5 to 6.
///
/// Errors: [`Error::NameTaken`] when the name is already registered,
/// [`Error::InvalidArgument`] when it is not a valid node name;
/// [`Error::Connection`] when no EPMD answers
/// or it replies with garbage; [`Error::Timeout`] when it does not reply
/// within `timeout`.
pub fn register(
    epmd_port: u16,
    name: &str,
    listen_port: u16,
    hidden: bool,
    timeout: Duration,
) -> Result<Registration> {
    check_name(name)?;
    let deadline = deadline::after(timeout);
    let epmd = Endpoint::local(epmd_port);
    let info = NodeInfo {
        port: listen_port,
        node_type: if hidden {
            NODE_TYPE_HIDDEN
        } else {
            NODE_TYPE_NORMAL
        },
        protocol: PROTOCOL_TCP,
        highest_version: HIGHEST_VERSION,
        lowest_version: LOWEST_VERSION,
        name: name.to_owned(),
        extra: Vec::new(),
    };
    let mut request = vec![ALIVE2_REQ];
    info.encode_into(&mut request);

    let reply = epmd.ask(&request, deadline, |stream| {
        let mut tag = [0; 1];
        read_exact_by(stream, &mut tag, deadline)?;
        match tag[0] {
            ALIVE2_X_RESP => {
                let mut reply = [0; 5];
                read_exact_by(stream, &mut reply, deadline)?;
                Ok((reply[0], u32::from_be_bytes([reply[1], reply[2], reply[3], reply[4]])))
            }
            ALIVE2_RESP => {
                let mut reply = [0; 3];
                read_exact_by(stream, &mut reply, deadline)?;
                Ok((reply[0], u32::from(u16::from_be_bytes([reply[1], reply[2]]))))
            }
            other => Err(malformed(format!(
                "reply tag {other} instead of {ALIVE2_X_RESP} (ALIVE2_X_RESP) or {ALIVE2_RESP} (ALIVE2_RESP)"
            ))),
        }
    });
    let (stream, (result, creation)) = reply.map_err(|failure| {
        failure.into_error(
            &epmd,
            || format!("registering {name} in EPMD at {epmd}"),
            None,
        )
    })?;
    if result != 0 {
        // EPMD gives no reason; the name was checked above, so a taken name
        // is what is left (erl_epmd draws the same conclusion).
        return Err(Error::NameTaken {
            name: name.to_string(),
            reason: format!("already registered in EPMD at {epmd} (result code {result})"),
        });
    }
    // Creation 0 means "unknown" in pids and references built from it, so a
    // node must never use it, whatever an EPMD says.
    let creation = if creation == 0 {
        random::nonzero_u32()
    } else {
        creation
    };
    Ok(Registration {
        _stream: stream,
        name: name.to_owned(),
        creation,
    })
}

/// Reads the rest of a successful `PORT2_RESP`, after `[119, 0]`.
fn read_port2_body(stream: &mut TcpStream, deadline: Instant) -> io::Result<NodeInfo> {
    let mut fixed = [0; 10];
    read_exact_by(stream, &mut fixed, deadline)?;
    let [p0, p1, node_type, protocol, h0, h1, l0, l1, n0, n1] = fixed;
    let mut name = vec![0; usize::from(u16::from_be_bytes([n0, n1]))];
    read_exact_by(stream, &mut name, deadline)?;
    let mut elen = [0; 2];
    read_exact_by(stream, &mut elen, deadline)?;
    let mut extra = vec![0; usize::from(u16::from_be_bytes(elen))];
    read_exact_by(stream, &mut extra, deadline)?;
    Ok(NodeInfo {
        port: u16::from_be_bytes([p0, p1]),
        node_type,
        protocol,
        highest_version: u16::from_be_bytes([h0, h1]),
        lowest_version: u16::from_be_bytes([l0, l1]),
        name: String::from_utf8_lossy(&name).into_owned(),
        extra,
    })
}

/// Parses the `name <Name> at port <Port>\n` lines of a `NAMES_RESP`.
/// Lines that do not have that form are skipped, as `erl_epmd` does.
fn parse_names(lines: &[u8]) -> Vec<(String, u16)> {
    // Only lines ended by a newline are complete; EPMD ends every one.
    let complete = match lines.iter().rposition(|&b| b == b'\n') {
        Some(end) => &lines[..end],
        None => return Vec::new(),
    };
    complete
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let line = std::str::from_utf8(line).ok()?;
            let (name, port) = line.strip_prefix("name ")?.rsplit_once(" at port ")?;
            Some((name.to_owned(), port.parse().ok()?))
        })
        .collect()
}

/// An EPMD address as the caller gave it, for connecting and for messages.
struct Endpoint<'a> {
    host: &'a str,
    /// The host's addresses, when the caller resolved it.
    addrs: Option<&'a [IpAddr]>,
    port: u16,
    cutoff: Option<&'a Cutoff>,
}

impl fmt::Display for Endpoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Why a request to an EPMD failed.
enum RequestFailure {
    /// The host name did not resolve.
    Unresolved(io::Error),
    /// Nothing accepted the connection, or it was refused or reset before
    /// the reply was complete: there is no (working) EPMD there.
    NoAnswer(io::Error),
    /// The deadline passed.
    TimedOut,
    /// An EPMD answered, but the reply was cut short or malformed.
    BadReply(io::Error),
}

impl RequestFailure {
    fn from_io(err: io::Error) -> RequestFailure {
        use io::ErrorKind::*;
        if is_timeout(&err) {
            RequestFailure::TimedOut
        } else if matches!(
            err.kind(),
            ConnectionRefused | ConnectionReset | ConnectionAborted | NotConnected | BrokenPipe
        ) {
            RequestFailure::NoAnswer(err)
        } else {
            RequestFailure::BadReply(err)
        }
    }

    /// The crate's error for this failure. `operation` names the request in
    /// a timeout; `node` is the node looked up, when a missing EPMD means
    /// that node cannot be found rather than a connection failure.
    fn into_error(
        self,
        epmd: &Endpoint<'_>,
        operation: impl FnOnce() -> String,
        node: Option<String>,
    ) -> Error {
        let reason = match self {
            RequestFailure::Unresolved(err) => {
                format!("host {} cannot be resolved ({err})", epmd.host)
            }
            RequestFailure::NoAnswer(err) => format!("no EPMD answers at {epmd} ({err})"),
            RequestFailure::TimedOut => return Error::timeout(operation()),
            RequestFailure::BadReply(err) => {
                let reason = if err.kind() == io::ErrorKind::UnexpectedEof {
                    "closed the connection before the reply was complete".to_owned()
                } else {
                    format!("sent a bad reply ({err})")
                };
                return Error::connection(format!("EPMD at {epmd}"), reason);
            }
        };
        match node {
            Some(node) => Error::NodeNotFound { node, reason },
            None => Error::connection(format!("EPMD at {epmd}"), reason),
        }
    }
}

impl Endpoint<'_> {
    /// The EPMD of this host, where nodes register.
    fn local(port: u16) -> Endpoint<'static> {
        Endpoint {
            host: "127.0.0.1",
            addrs: None,
            port,
            cutoff: None,
        }
    }

    /// Connects, sends `request` and reads the reply with `read_reply`, all
    /// by `deadline`. The connection comes back too, for registrations.
    fn ask<T>(
        &self,
        request: &[u8],
        deadline: Instant,
        read_reply: impl FnOnce(&mut TcpStream) -> io::Result<T>,
    ) -> Result<(TcpStream, T), RequestFailure> {
        let mut stream = self.connect(deadline)?;
        send_request(&mut stream, request, deadline)
            .and_then(|()| read_reply(&mut stream))
            .map(|reply| (stream, reply))
            .map_err(RequestFailure::from_io)
    }

    /// Connects to the first address of the host that accepts: those the
    /// caller resolved in their order, else IPv4 addresses first (EPMD and
    /// BEAM nodes listen on IPv4 by default, and "localhost" often resolves
    /// to `::1` first).
    fn connect(&self, deadline: Instant) -> Result<TcpStream, RequestFailure> {
        let addrs: Vec<SocketAddr> = match self.addrs {
            Some(ips) => ips
                .iter()
                .map(|&ip| SocketAddr::new(ip, self.port))
                .collect(),
            None => match resolve::lookup(self.host, self.port, deadline) {
                Ok(mut addrs) => {
                    addrs.sort_by_key(SocketAddr::is_ipv6);
                    addrs
                }
                Err(err) if err.kind() == io::ErrorKind::TimedOut => {
                    return Err(RequestFailure::TimedOut)
                }
                Err(err) => return Err(RequestFailure::Unresolved(err)),
            },
        };
        if addrs.is_empty() {
            return Err(RequestFailure::Unresolved(io::Error::new(
                io::ErrorKind::NotFound,
                "the resolver returned no address",
            )));
        }
        let mut first_error = None;
        for addr in addrs {
            time_left(deadline).map_err(|_| RequestFailure::TimedOut)?;
            match transport::connect_until(&addr, deadline, self.cutoff) {
                Ok(stream) => {
                    // Requests are one small write each; do not let Nagle
                    // hold them back.
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Err(err) if is_timeout(&err) => return Err(RequestFailure::TimedOut),
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        Err(first_error.map_or(RequestFailure::TimedOut, RequestFailure::NoAnswer))
    }
}

/// Sends `request` with its 2-byte length prefix, in one write.
fn send_request(stream: &mut TcpStream, request: &[u8], deadline: Instant) -> io::Result<()> {
    let len = u16::try_from(request.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "EPMD request longer than 65535 bytes",
        )
    })?;
    let mut packet = Vec::with_capacity(2 + request.len());
    packet.extend_from_slice(&len.to_be_bytes());
    packet.extend_from_slice(request);
    write_all_by(stream, &packet, deadline)
}

/// Reads until the peer closes, at most `limit` bytes, giving up at
/// `deadline`.
fn read_to_end_by(stream: &mut TcpStream, limit: usize, deadline: Instant) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        stream.set_read_timeout(Some(time_left(deadline)?))?;
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) if out.len() + n > limit => {
                return Err(malformed(format!("the reply is longer than {limit} bytes")))
            }
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lines_are_parsed_and_garbage_is_skipped() {
        let reply = b"name foo at port 4000\nname with space at port 5\nbogus line\nname bad at port 70000\nname x at port 9\nname partial at port 1";
        assert_eq!(
            parse_names(reply),
            vec![
                ("foo".to_owned(), 4000),
                ("with space".to_owned(), 5),
                ("x".to_owned(), 9)
            ]
        );
        assert!(parse_names(b"").is_empty());
        assert!(parse_names(b"\xff\xfe\n").is_empty());
    }

    #[test]
    fn erl_epmd_port_settings_are_read_or_refused() {
        assert_eq!(parse_port_setting("").unwrap(), DEFAULT_PORT);
        assert_eq!(parse_port_setting(" 4370\n").unwrap(), 4370);
        for bad in ["0", "65536", "-1", "epmd", "43 69"] {
            let err = parse_port_setting(bad).unwrap_err().to_string();
            assert!(err.contains("ERL_EPMD_PORT"), "{err}");
        }
    }

    #[test]
    fn endpoints_bracket_ipv6_literals() {
        assert_eq!(
            Endpoint {
                host: "::1",
                addrs: None,
                port: 4369,
                cutoff: None,
            }
            .to_string(),
            "[::1]:4369"
        );
        assert_eq!(
            Endpoint {
                host: "localhost",
                addrs: None,
                port: 1,
                cutoff: None,
            }
            .to_string(),
            "localhost:1"
        );
    }
}
