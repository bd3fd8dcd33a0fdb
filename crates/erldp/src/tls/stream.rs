//! A TLS session over a TCP socket that one reader and any number of writers use at once.
//!
//! A distribution connection has a reader thread and writers (the writer thread and senders
//! writing directly), but a TLS session is one state machine: records must be decrypted in
//! the order they arrive and encrypted in the order they are sent. So the session sits behind
//! a lock that is never held across a socket call:
//!
//! - Reading takes ciphertext from the socket without the lock, then decrypts it under the
//!   lock. Ciphertext the session has no room for yet waits in the reader's own buffer.
//! - Writing encrypts under the lock into a buffer and writes that to the socket after
//!   releasing it, holding only `send_order`, which keeps records on the wire in the order
//!   they were encrypted.
//!
//! So a writer blocked on a full socket never stops the reader from draining the other
//! direction. Records the reader must send (a TLS 1.3 key update answer) go out under
//! `send_order` too; no BEAM or rustls peer asks for one on its own.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;

use parking_lot::Mutex;
use rustls::{ClientConnection, Connection, ServerConnection};

use super::{explain, ClientSide, Role};
use crate::{Error, Result};

/// The most ciphertext read from the socket at once: a few full TLS records.
const READ_CHUNK: usize = 64 << 10;

/// An established TLS session: `Read` and `Write` are implemented for `&TlsStream`, as for
/// `&TcpStream`, so that threads can share it.
pub(crate) struct TlsStream {
    socket: TcpStream,
    /// For explaining a failure that arrives after the handshake: in TLS 1.3 a server checks
    /// the client's certificate after the client has finished, and says so with an alert.
    role: Role,
    has_cert: bool,
    session: Mutex<Connection>,
    send_order: Mutex<()>,
    /// Ciphertext read from the socket and not yet taken by the session.
    pending: Mutex<Pending>,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("peer", &self.socket.peer_addr().ok())
            .field("version", &self.protocol_version())
            .finish_non_exhaustive()
    }
}

struct Pending {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl TlsStream {
    /// Runs the client side of the TLS handshake on a connected socket. `host` is the host
    /// part of the peer's node name: the server's certificate must name it, and it is sent as
    /// SNI. `peer` names the peer in errors.
    pub(crate) fn connect(
        mut socket: TcpStream,
        client: &ClientSide,
        host: &str,
        peer: &str,
    ) -> Result<TlsStream> {
        let name = client.server_name(host)?;
        let conn = ClientConnection::new(Arc::clone(&client.config), name)
            .map_err(|err| Error::connection(peer, format!("TLS: {err}")))?;
        let mut conn = Connection::from(conn);
        handshake(&mut conn, &mut socket, Role::Client, client.has_cert, peer)?;
        Ok(TlsStream::new(socket, conn, Role::Client, client.has_cert))
    }

    /// Runs the server side of the TLS handshake on an accepted socket.
    pub(crate) fn accept(
        mut socket: TcpStream,
        config: &Arc<rustls::ServerConfig>,
    ) -> Result<TlsStream> {
        let peer = socket
            .peer_addr()
            .map_or_else(|_| "incoming connection".to_string(), |a| a.to_string());
        let conn = ServerConnection::new(Arc::clone(config))
            .map_err(|err| Error::connection(&peer, format!("TLS: {err}")))?;
        let mut conn = Connection::from(conn);
        handshake(&mut conn, &mut socket, Role::Server, true, &peer)?;
        Ok(TlsStream::new(socket, conn, Role::Server, true))
    }

    fn new(socket: TcpStream, mut session: Connection, role: Role, has_cert: bool) -> TlsStream {
        // Writers drain the session right after each write, so nothing accumulates in it.
        session.set_buffer_limit(None);
        TlsStream {
            socket,
            role,
            has_cert,
            session: Mutex::new(session),
            send_order: Mutex::new(()),
            pending: Mutex::new(Pending {
                buf: vec![0; READ_CHUNK].into_boxed_slice(),
                start: 0,
                end: 0,
            }),
        }
    }

    /// The TCP socket under the session, for its options (timeouts, nodelay) and addresses.
    pub(crate) fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// The negotiated TLS version, for tests and logs.
    pub(crate) fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.session.lock().protocol_version()
    }

    /// The host name a client sent as SNI (server side), for tests and logs.
    pub(crate) fn sni(&self) -> Option<String> {
        match &*self.session.lock() {
            Connection::Server(server) => server.server_name().map(str::to_string),
            Connection::Client(_) => None,
        }
    }

    /// The negotiated cipher suite, for tests and logs.
    pub(crate) fn cipher_suite(&self) -> Option<rustls::CipherSuite> {
        self.session
            .lock()
            .negotiated_cipher_suite()
            .map(|suite| suite.suite())
    }

    /// Sends close_notify (best effort) and shuts the socket down, which also wakes a reader
    /// blocked on it.
    pub(crate) fn shutdown(&self) {
        if let Some(_order) = self.send_order.try_lock() {
            let mut out = Vec::new();
            {
                let mut session = self.session.lock();
                session.send_close_notify();
                let _ = drain(&mut session, &mut out);
            }
            let _ = (&self.socket).write_all(&out);
        }
        let _ = self.socket.shutdown(Shutdown::Both);
    }

    /// A TLS failure after the handshake, as an I/O error that names its cause.
    fn failure(&self, err: &rustls::Error) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            explain(err, self.role, self.has_cert),
        )
    }

    /// Encrypts and sends what the session has queued (records the reader caused).
    fn send_queued(&self) -> io::Result<()> {
        let _order = self.send_order.lock();
        let mut out = Vec::new();
        drain(&mut self.session.lock(), &mut out)?;
        (&self.socket).write_all(&out)
    }
}

/// Moves every record the session has queued into `out`.
fn drain(session: &mut Connection, out: &mut Vec<u8>) -> io::Result<()> {
    while session.wants_write() {
        session.write_tls(out)?;
    }
    Ok(())
}

/// Runs the TLS handshake to completion on the blocking socket (its timeouts bound it).
fn handshake(
    conn: &mut Connection,
    socket: &mut TcpStream,
    role: Role,
    have_cert: bool,
    peer: &str,
) -> Result<()> {
    while conn.is_handshaking() {
        if let Err(err) = conn.complete_io(socket) {
            // rustls reports its own failures inside io::Error; an alert for the peer may be
            // queued, which tells it why.
            let reason = match err
                .get_ref()
                .and_then(|e| e.downcast_ref::<rustls::Error>())
            {
                Some(tls) => {
                    let mut out = Vec::new();
                    if drain(conn, &mut out).is_ok() {
                        let _ = socket.write_all(&out);
                    }
                    explain(tls, role, have_cert)
                }
                None => match err.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                        return Err(Error::timeout(format!(
                            "TLS handshake with {peer}: no answer in time"
                        )))
                    }
                    io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted => {
                        "the peer closed the connection during the TLS handshake \
                         (is it a TLS node, -proto_dist inet_tls? does it accept our certificate?)"
                            .to_string()
                    }
                    _ => format!("TLS handshake: {err}"),
                },
            };
            return Err(Error::connection(peer, reason));
        }
    }
    // complete_io leaves records of the last flight unsent only when the socket failed.
    let mut out = Vec::new();
    drain(conn, &mut out)
        .and_then(|()| socket.write_all(&out))
        .map_err(|err| {
            Error::connection(
                peer,
                format!("TLS handshake: sending the last records: {err}"),
            )
        })
}

impl Read for &TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut pending = self.pending.lock();
        loop {
            let reply = {
                let mut session = self.session.lock();
                match session.reader().read(buf) {
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        if pending.start < pending.end {
                            let p = &mut *pending;
                            let taken = session.read_tls(&mut &p.buf[p.start..p.end])?;
                            p.start += taken;
                            session
                                .process_new_packets()
                                .map_err(|err| self.failure(&err))?;
                            None
                        } else {
                            Some(Ok(None))
                        }
                    }
                    other => Some(other.map(Some)),
                }
            };
            if self.session.lock().wants_write() {
                self.send_queued()?;
            }
            match reply {
                Some(Ok(Some(n))) => return Ok(n),
                Some(Err(err)) => return Err(err),
                None => {}
                Some(Ok(None)) => {
                    // Nothing decrypted and nothing pending: wait for the socket, unlocked.
                    let p = &mut *pending;
                    let n = (&self.socket).read(&mut p.buf)?;
                    p.start = 0;
                    p.end = n;
                    if n == 0 {
                        let mut session = self.session.lock();
                        session.read_tls(&mut &[][..])?;
                        session
                            .process_new_packets()
                            .map_err(|err| self.failure(&err))?;
                    }
                }
            }
        }
    }
}

impl Write for &TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let _order = self.send_order.lock();
        let mut out = Vec::with_capacity(buf.len() + 64);
        {
            let mut session = self.session.lock();
            session.writer().write_all(buf)?;
            drain(&mut session, &mut out)?;
        }
        (&self.socket).write_all(&out)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use erldp_testkit::{Otp, TlsFiles};

    use super::*;
    use crate::tls::TlsConfig;

    /// Both ends of a TLS connection over loopback, both ours.
    fn pair(files: &TlsFiles) -> (TlsStream, TlsStream) {
        let config = TlsConfig::new(
            files.path("node.pem"),
            files.path("node.key"),
            files.path("ca.pem"),
        );
        let server = config.server().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepting = thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            TlsStream::accept(socket, &server).unwrap()
        });
        let socket = TcpStream::connect(addr).unwrap();
        let client =
            TlsStream::connect(socket, &config.client().unwrap(), "localhost", "test").unwrap();
        (client, accepting.join().unwrap())
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// Each side writes far more than the socket buffers hold while reading what the other
    /// writes: with the session locked across socket calls, both writers would block on full
    /// sockets while their readers wait for the lock.
    #[test]
    fn both_directions_flow_at_once_through_one_session() {
        const LEN: usize = 16 << 20;
        let files = TlsFiles::generate(&Otp::System);
        let (client, server) = pair(&files);
        let (client, server) = (Arc::new(client), Arc::new(server));
        let mut threads = Vec::new();
        for (stream, seed) in [(&client, 1u8), (&server, 2u8)] {
            let writer = Arc::clone(stream);
            threads.push(thread::spawn(move || {
                let data = pattern(LEN, seed);
                for chunk in data.chunks(100_003) {
                    (&*writer).write_all(chunk).unwrap();
                }
                Vec::new()
            }));
            let reader = Arc::clone(stream);
            threads.push(thread::spawn(move || {
                let mut got = vec![0u8; LEN];
                (&*reader).read_exact(&mut got).unwrap();
                got
            }));
        }
        let results: Vec<Vec<u8>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(
            results[1] == pattern(LEN, 2),
            "the client read what the server wrote"
        );
        assert!(
            results[3] == pattern(LEN, 1),
            "the server read what the client wrote"
        );
    }

    #[test]
    fn shutdown_wakes_a_blocked_reader_and_the_peer_sees_the_end() {
        let files = TlsFiles::generate(&Otp::System);
        let (client, server) = pair(&files);
        let client = Arc::new(client);
        let reader = Arc::clone(&client);
        let blocked = thread::spawn(move || (&*reader).read(&mut [0u8; 16]));
        // The reader may or may not be blocked yet; either way it must end.
        client.socket().set_nodelay(true).unwrap();
        client.shutdown();
        let woken = blocked.join().unwrap();
        assert!(!matches!(woken, Ok(n) if n > 0), "{woken:?}");
        // The server got close_notify: a clean end of stream.
        assert_eq!((&server).read(&mut [0u8; 16]).unwrap(), 0);
    }
}
