//! A TLS session over a TCP socket, as a [`Transport`]: one reader and any number of writers
//! use it at once.
//!
//! A distribution connection has a reader thread and writers (the writer thread and senders
//! writing directly), but a TLS session is one state machine: records must be decrypted in
//! the order they arrive and encrypted in the order they are sent. So the session sits behind
//! a lock that is never held across a socket call:
//!
//! - Reading takes ciphertext from the socket without the lock, then decrypts it under the
//!   lock. Ciphertext the session has no room for yet waits in the reader's own buffer.
//! - Writing encrypts under the lock into the outbox and writes that to the socket after
//!   releasing it, holding only the outbox, which keeps records on the wire in the order they
//!   were encrypted.
//!
//! So a writer blocked on a full socket never stops the reader from draining the other
//! direction. Records the reader makes (the answer to a TLS 1.3 key update that asks for one)
//! go out through the outbox too; when a writer holds it, they go out with that writer's next
//! write, ahead of what it encrypts then.

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rustls::{ClientConnection, Connection, ServerConnection};

use super::{explain, ClientSide, Role};
use crate::sync::{Mutex, MutexGuard};
use crate::transport::{Tcp, Timed, Transport};
use crate::{Error, Result};

/// The most ciphertext read from the socket at once: a few full TLS records.
const READ_CHUNK: usize = 64 << 10;

/// An established TLS session over a TCP socket.
pub(crate) struct TlsStream {
    socket: TcpStream,
    /// For explaining a failure that arrives after the handshake: in TLS 1.3 a server checks
    /// the client's certificate after the client has finished, and says so with an alert.
    role: Role,
    has_cert: bool,
    session: Mutex<Connection>,
    /// Ciphertext on its way to the socket; held by whoever writes it.
    outbox: Mutex<Outbox>,
    /// A `try_write` left ciphertext in the outbox that is not on the socket yet.
    unsent: AtomicBool,
    /// The reader left records in the session because a writer held the outbox: the writer
    /// sends them once it is done.
    stranded: AtomicBool,
    /// Ciphertext read from the socket and not yet taken by the session.
    inbox: Mutex<Inbox>,
    /// How long one read may wait in all, as [`Transport::set_read_timeout`] set it.
    read_timeout: Mutex<Option<Duration>>,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("peer", &self.socket.peer_addr().ok())
            .field("version", &self.protocol_version())
            .finish_non_exhaustive()
    }
}

/// Encrypted bytes: `buf[sent..]` are still to be written.
#[derive(Default)]
struct Outbox {
    buf: Vec<u8>,
    sent: usize,
}

impl Outbox {
    fn is_empty(&self) -> bool {
        self.sent == self.buf.len()
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.sent = 0;
    }
}

struct Inbox {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// A read shortened the socket's timeout to what was left of its own.
    shortened: bool,
}

impl Inbox {
    fn new() -> Inbox {
        Inbox {
            buf: vec![0; READ_CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            shortened: false,
        }
    }
}

impl TlsStream {
    /// Runs the client side of the TLS handshake on a connected socket, by `deadline`.
    /// `host` is the host part of the peer's node name: the server's certificate must name
    /// it, and it is sent as SNI. `peer` names the peer in errors.
    pub(crate) fn connect(
        tcp: Tcp,
        client: &ClientSide,
        host: &str,
        peer: &str,
        deadline: Instant,
    ) -> Result<TlsStream> {
        let name = client.server_name(host)?;
        let conn = ClientConnection::new(Arc::clone(&client.config), name)
            .map_err(|err| Error::connection(peer, format!("TLS: {err}")))?;
        let mut conn = Connection::from(conn);
        let mut timed = Timed::new(&tcp, deadline);
        let fd = tcp.as_raw_fd();
        handshake(
            &mut conn,
            &mut timed,
            fd,
            Role::Client,
            client.has_cert,
            peer,
        )?;
        Ok(TlsStream::new(
            tcp.into_socket(),
            conn,
            Role::Client,
            client.has_cert,
        ))
    }

    /// Runs the server side of the TLS handshake on an accepted socket, by `deadline`;
    /// `peer` names the peer in errors.
    pub(crate) fn accept(
        tcp: Tcp,
        config: &Arc<rustls::ServerConfig>,
        peer: &str,
        deadline: Instant,
    ) -> Result<TlsStream> {
        let conn = ServerConnection::new(Arc::clone(config))
            .map_err(|err| Error::connection(peer, format!("TLS: {err}")))?;
        let mut conn = Connection::from(conn);
        let mut timed = Timed::new(&tcp, deadline);
        let fd = tcp.as_raw_fd();
        handshake(&mut conn, &mut timed, fd, Role::Server, true, peer)?;
        Ok(TlsStream::new(tcp.into_socket(), conn, Role::Server, true))
    }

    fn new(socket: TcpStream, mut session: Connection, role: Role, has_cert: bool) -> TlsStream {
        // Writers drain the session right after each write, so nothing accumulates in it.
        session.set_buffer_limit(None);
        let read_timeout = socket.read_timeout().ok().flatten();
        TlsStream {
            socket,
            role,
            has_cert,
            session: Mutex::new(session),
            outbox: Mutex::new(Outbox::default()),
            unsent: AtomicBool::new(false),
            stranded: AtomicBool::new(false),
            inbox: Mutex::new(Inbox::new()),
            read_timeout: Mutex::new(read_timeout),
        }
    }

    /// The negotiated TLS version and cipher suite, for the log.
    pub(crate) fn describe(&self) -> String {
        let session = self.session.lock();
        let version = session
            .protocol_version()
            .map_or_else(|| "?".to_string(), |v| format!("{v:?}"));
        let suite = session
            .negotiated_cipher_suite()
            .map_or_else(|| "?".to_string(), |s| format!("{:?}", s.suite()));
        format!("{version} with {suite}")
    }

    /// The negotiated TLS version.
    pub(crate) fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.session.lock().protocol_version()
    }

    /// A TLS failure after the handshake, as an I/O error that names its cause.
    fn failure(&self, err: &rustls::Error) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            explain(err, self.role, self.has_cert),
        )
    }

    /// `err` from a socket call, or, when the peer reset the connection after saying why, what
    /// it said (see [`last_words`]). A reader at work reads that itself.
    fn gone(&self, err: io::Error) -> io::Error {
        if !peer_gone(&err) {
            return err;
        }
        let Some(mut inbox) = self.inbox.try_lock() else {
            return err;
        };
        let mut session = self.session.lock();
        match last_words(&mut session, self.socket.as_raw_fd(), &mut inbox) {
            Some(tls) => self.failure(&tls),
            None => err,
        }
    }

    /// Encrypts `data` into the outbox, after whatever the session has queued.
    fn encrypt(&self, outbox: &mut Outbox, data: &[u8]) -> io::Result<()> {
        let mut session = self.session.lock();
        if outbox.is_empty() {
            outbox.clear();
        }
        session.writer().write_all(data)?;
        drain(&mut session, &mut outbox.buf)
    }

    /// Writes the outbox to the socket, blocking up to the write timeout, and then what the
    /// reader left in the session meanwhile.
    fn send(&self, outbox: &mut MutexGuard<'_, Outbox>) -> io::Result<()> {
        loop {
            (&self.socket)
                .write_all(&outbox.buf[outbox.sent..])
                .map_err(|err| self.gone(err))?;
            outbox.clear();
            self.unsent.store(false, Ordering::Release);
            if !self.stranded.swap(false, Ordering::AcqRel) {
                return Ok(());
            }
            drain(&mut self.session.lock(), &mut outbox.buf)?;
        }
    }

    /// Sends what the reader made the session queue: now when no writer holds the outbox,
    /// else with that writer's next write.
    fn send_queued(&self) -> io::Result<()> {
        self.stranded.store(true, Ordering::Release);
        match self.outbox.try_lock() {
            Some(mut outbox) if outbox.is_empty() => {
                if self.stranded.swap(false, Ordering::AcqRel) {
                    drain(&mut self.session.lock(), &mut outbox.buf)?;
                    self.send(&mut outbox)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Decrypts until `take` gets plaintext (or the end of the stream), reading the socket
    /// when the session has nothing: `take` answers `WouldBlock` when it found nothing.
    fn read_with(
        &self,
        mut take: impl FnMut(&mut rustls::Reader<'_>) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let mut inbox = self.inbox.lock();
        let mut waiting_since = None;
        loop {
            let (taken, queued) = {
                let mut session = self.session.lock();
                let taken = match take(&mut session.reader()) {
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        if inbox.start < inbox.end {
                            let p = &mut *inbox;
                            let read = session.read_tls(&mut &p.buf[p.start..p.end])?;
                            p.start += read;
                            session
                                .process_new_packets()
                                .map_err(|err| self.failure(&err))?;
                            None
                        } else {
                            Some(Ok(None))
                        }
                    }
                    // A peer that closes without close_notify has still closed: frames are
                    // length-prefixed, so a cut one shows on its own.
                    Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => Some(Ok(Some(0))),
                    other => Some(other.map(Some)),
                };
                (taken, session.wants_write())
            };
            if queued {
                self.send_queued()?;
            }
            match taken {
                Some(Ok(Some(n))) => return Ok(n),
                Some(Err(err)) => return Err(err),
                None => {}
                Some(Ok(None)) => {
                    // Nothing decrypted and nothing pending: wait for the socket, unlocked.
                    let n = self.read_socket(&mut inbox, &mut waiting_since)?;
                    let p = &mut *inbox;
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

    /// Reads ciphertext from the socket into the inbox. A record can take several socket
    /// reads, and the read timeout bounds them together: each after the first
    /// (`waiting_since` says when that one began) waits only for what is left of it. Else a
    /// peer sending a record a byte at a time, each within the timeout, would hold a read,
    /// and the handshake deadline that a read timeout carries, for as long as it liked.
    fn read_socket(
        &self,
        inbox: &mut Inbox,
        waiting_since: &mut Option<Instant>,
    ) -> io::Result<usize> {
        match *waiting_since {
            None => {
                if inbox.shortened {
                    self.socket.set_read_timeout(*self.read_timeout.lock())?;
                    inbox.shortened = false;
                }
                *waiting_since = Some(Instant::now());
            }
            Some(since) => {
                if let Some(timeout) = *self.read_timeout.lock() {
                    let left = timeout.saturating_sub(since.elapsed());
                    if left.is_zero() {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no whole TLS record arrived within the read timeout",
                        ));
                    }
                    self.socket.set_read_timeout(Some(left))?;
                    inbox.shortened = true;
                }
            }
        }
        (&self.socket).read(&mut inbox.buf)
    }

    /// Sends close_notify when no writer is busy, so that the peer sees a clean end.
    fn close_notify(&self) {
        if let Some(mut outbox) = self.outbox.try_lock() {
            let queued = {
                let mut session = self.session.lock();
                session.send_close_notify();
                if outbox.is_empty() {
                    outbox.clear();
                }
                drain(&mut session, &mut outbox.buf)
            };
            if queued.is_ok() {
                let _ = self.send(&mut outbox);
            }
        }
    }
}

/// Moves every record the session has queued into `out`.
fn drain(session: &mut Connection, out: &mut Vec<u8>) -> io::Result<()> {
    while session.wants_write() {
        session.write_tls(out)?;
    }
    Ok(())
}

/// Whether a socket call failed because the peer closed or reset the connection.
fn peer_gone(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}

/// The failure the peer announced before it reset the connection, if it did: the TLS error
/// the session reports once it has what is left in `inbox` and in the socket's receive queue,
/// read without blocking (Linux keeps what arrived before a reset readable).
///
/// A TLS 1.3 server checks the client's certificate after the client's Finished, so the
/// client takes the handshake for done and writes while the server sends its alert and
/// closes; the write then fails with a reset or a broken pipe, and the alert, which names the
/// cause, waits unread. Called only after a socket call failed, so the data path never pays
/// for it; the receive does not block, so the session lock it runs under is still never held
/// across a wait on the socket.
fn last_words(session: &mut Connection, fd: RawFd, inbox: &mut Inbox) -> Option<rustls::Error> {
    loop {
        while inbox.start < inbox.end {
            let read = session
                .read_tls(&mut &inbox.buf[inbox.start..inbox.end])
                .ok()?;
            if read == 0 {
                return None;
            }
            inbox.start += read;
            if let Err(err) = session.process_new_packets() {
                return Some(err);
            }
        }
        // SAFETY: receives into a live buffer of `inbox.buf.len()` bytes.
        let n = unsafe {
            libc::recv(
                fd,
                inbox.buf.as_mut_ptr().cast(),
                inbox.buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        // Nothing more (or only the reset itself): the peer said nothing we have not seen.
        let n = usize::try_from(n).ok().filter(|&n| n > 0)?;
        inbox.start = 0;
        inbox.end = n;
    }
}

/// What the peer said before it reset the connection during the handshake, when `err` is
/// that reset (see [`last_words`]).
fn said_before_reset(conn: &mut Connection, fd: RawFd, err: &io::Error) -> Option<rustls::Error> {
    if peer_gone(err) {
        last_words(conn, fd, &mut Inbox::new())
    } else {
        None
    }
}

/// Runs the TLS handshake to completion on the blocking socket. Through [`Timed`], every
/// read and write waits only for what is left until the setup deadline: rustls reads as
/// long as the handshake wants bytes, and a per-read timeout would let a peer that sends
/// one now and then hold the handshake for ever.
fn handshake(
    conn: &mut Connection,
    socket: &mut Timed<'_>,
    fd: RawFd,
    role: Role,
    have_cert: bool,
    peer: &str,
) -> Result<()> {
    while conn.is_handshaking() {
        if let Err(err) = conn.complete_io(socket) {
            // rustls reports its own failures inside io::Error; an alert for the peer may be
            // queued, which tells it why.
            let said = said_before_reset(conn, fd, &err);
            let reason = match said.as_ref().or_else(|| {
                err.get_ref()
                    .and_then(|e| e.downcast_ref::<rustls::Error>())
            }) {
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
            let reason = match said_before_reset(conn, fd, &err) {
                Some(tls) => explain(&tls, role, have_cert),
                None => format!("TLS handshake: sending the last records: {err}"),
            };
            Error::connection(peer, reason)
        })
}

impl Transport for TlsStream {
    fn read_into(&self, buf: &mut BytesMut) -> io::Result<usize> {
        if buf.capacity() == buf.len() {
            // Zero bytes read would look like the peer closing.
            buf.reserve(4096);
        }
        self.read_with(|reader| {
            let room = buf.capacity() - buf.len();
            let mut copied = 0;
            while copied < room {
                let chunk = match reader.fill_buf() {
                    Ok(chunk) => chunk,
                    Err(err) if copied > 0 && err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(err) => return Err(err),
                };
                if chunk.is_empty() {
                    break;
                }
                let n = chunk.len().min(room - copied);
                buf.extend_from_slice(&chunk[..n]);
                reader.consume(n);
                copied += n;
            }
            Ok(copied)
        })
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.read_with(|reader| reader.read(buf))
    }

    fn write(&self, data: &[u8]) -> io::Result<usize> {
        let mut outbox = self.outbox.lock();
        self.encrypt(&mut outbox, data)?;
        self.send(&mut outbox)?;
        Ok(data.len())
    }

    fn try_write(&self, data: &[u8]) -> io::Result<usize> {
        // A writer at work, or ciphertext it has yet to send, goes first: the writer thread
        // then writes this too.
        let Some(mut outbox) = self.outbox.try_lock() else {
            return Ok(0);
        };
        if !outbox.is_empty() || self.stranded.load(Ordering::Acquire) {
            return Ok(0);
        }
        self.encrypt(&mut outbox, data)?;
        let pending = &outbox.buf[outbox.sent..];
        // SAFETY: sends from a live buffer of `pending.len()` bytes. No SIGPIPE: the host
        // program (Ruby, Node, a C program) may not ignore it.
        let sent = unsafe {
            libc::send(
                self.socket.as_raw_fd(),
                pending.as_ptr().cast(),
                pending.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        match usize::try_from(sent) {
            Ok(sent) => outbox.sent += sent,
            Err(_) => {
                let err = io::Error::last_os_error();
                if !matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) {
                    return Err(self.gone(err));
                }
            }
        }
        if outbox.is_empty() {
            outbox.clear();
        } else {
            self.unsent.store(true, Ordering::Release);
        }
        Ok(data.len())
    }

    fn unsent(&self) -> bool {
        self.unsent.load(Ordering::Acquire)
    }

    fn flush(&self) -> io::Result<()> {
        let mut outbox = self.outbox.lock();
        if outbox.is_empty() && !self.stranded.load(Ordering::Acquire) {
            return Ok(());
        }
        if self.stranded.swap(false, Ordering::AcqRel) {
            drain(&mut self.session.lock(), &mut outbox.buf)?;
        }
        self.send(&mut outbox)
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        *self.read_timeout.lock() = timeout;
        self.socket.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_write_timeout(timeout)
    }

    fn shutdown(&self, how: Shutdown) {
        if how != Shutdown::Read {
            self.close_notify();
        }
        let _ = self.socket.shutdown(how);
    }

    fn peer(&self) -> String {
        self.socket.peer_addr().map_or_else(
            |_| "incoming connection".to_string(),
            |addr| addr.to_string(),
        )
    }

    fn local_ip(&self) -> io::Result<std::net::IpAddr> {
        Ok(self.socket.local_addr()?.ip())
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use erldp_testkit::{Otp, TlsFiles};

    use super::*;
    use crate::tls::tests::node_config;
    use crate::transport::{self, Io};

    /// Both ends of a TLS connection over loopback, both ours.
    fn pair(files: &TlsFiles) -> (TlsStream, TlsStream) {
        let config = node_config(files);
        let server = config.server().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let deadline = || Instant::now() + Duration::from_secs(30);
        let accepting = thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            let tcp = Tcp::new(socket).unwrap();
            TlsStream::accept(tcp, &server, "test client", deadline()).unwrap()
        });
        let tcp =
            transport::connect(&addr, Instant::now() + Duration::from_secs(30), None).unwrap();
        let client = TlsStream::connect(
            tcp,
            &config.client().unwrap(),
            "localhost",
            "test",
            deadline(),
        )
        .unwrap();
        (client, accepting.join().unwrap())
    }

    /// Closes `socket` with a reset (SO_LINGER 0), which on loopback reaches the peer before
    /// this returns.
    fn reset(socket: TcpStream) {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: sets an option of a live socket from a value of the size given.
        let set = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                std::ptr::from_ref(&linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(set, 0, "SO_LINGER: {}", io::Error::last_os_error());
    }

    /// A server that answers the connection with a fatal alert and resets it before reading
    /// a byte: the client's first write (its hello) fails, and the alert that waits in its
    /// receive queue names the cause.
    #[test]
    fn the_handshake_reports_the_alert_sent_before_a_reset() {
        let files = TlsFiles::generate(&Otp::System);
        let config = node_config(&files);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = transport::connect(
            &listener.local_addr().unwrap(),
            Instant::now() + Duration::from_secs(30),
            None,
        )
        .unwrap();
        let (mut socket, _) = listener.accept().unwrap();
        // A plaintext record: alert (21), TLS 1.2 framing, 2 bytes: fatal (2), unknown_ca (48).
        socket.write_all(&[21, 3, 3, 0, 2, 2, 48]).unwrap();
        reset(socket);
        let err = TlsStream::connect(
            tcp,
            &config.client().unwrap(),
            "localhost",
            "the refusing server",
            Instant::now() + Duration::from_secs(30),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("the refusing server")
                && err.contains("does not trust our certificate")
                && err.contains("unknown_ca"),
            "{err}"
        );
    }

    /// A TLS 1.3 server refuses the client's certificate after the client's Finished, with
    /// an alert, and resets the connection: the client took the handshake for done, so its
    /// first write meets the reset, and reports the alert.
    #[test]
    fn a_write_reports_the_alert_sent_before_a_reset() {
        let files = TlsFiles::generate(&Otp::System);
        let config = node_config(&files);
        let server = config.server().unwrap();
        let client = config
            .clone()
            .client_cert(files.path("unknown_ca.pem"), files.path("unknown_ca.key"))
            .client()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (go, client_done) = std::sync::mpsc::channel::<()>();
        let refusing = thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut conn = ServerConnection::new(server).unwrap();
            // The client's hello in, our flight out.
            while !conn.wants_write() {
                conn.read_tls(&mut socket).unwrap();
                conn.process_new_packets().unwrap();
            }
            while conn.wants_write() {
                conn.write_tls(&mut socket).unwrap();
            }
            // Judged only once the client has written its whole flight and returned.
            client_done.recv().unwrap();
            let refused = loop {
                assert!(
                    conn.read_tls(&mut socket).unwrap() > 0,
                    "the client is open"
                );
                if let Err(err) = conn.process_new_packets() {
                    break err;
                }
            };
            while conn.wants_write() {
                conn.write_tls(&mut socket).unwrap();
            }
            reset(socket);
            refused
        });
        let tcp =
            transport::connect(&addr, Instant::now() + Duration::from_secs(30), None).unwrap();
        let stream = TlsStream::connect(
            tcp,
            &client,
            "localhost",
            "the refusing server",
            Instant::now() + Duration::from_secs(30),
        )
        .expect("in TLS 1.3 the client does not wait for the server's verdict");
        assert_eq!(
            stream.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        go.send(()).unwrap();
        let refused = refusing.join().unwrap();
        assert!(
            matches!(refused, rustls::Error::InvalidCertificate(_)),
            "{refused:?}"
        );
        let err = stream
            .write(b"a distribution handshake message")
            .unwrap_err();
        assert!(
            err.to_string().contains("does not trust our certificate"),
            "{err}"
        );
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
                    Io(&*writer).write_all(chunk).unwrap();
                }
                Vec::new()
            }));
            let reader = Arc::clone(stream);
            threads.push(thread::spawn(move || {
                let mut got = BytesMut::with_capacity(LEN);
                while got.len() < LEN {
                    got.reserve(READ_CHUNK);
                    assert!(reader.read_into(&mut got).unwrap() > 0, "the peer is open");
                }
                got.to_vec()
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

    /// A `try_write` that the socket cannot take whole keeps the rest until a flush, and
    /// later writes go behind it.
    #[test]
    fn what_try_write_could_not_send_goes_first_on_flush() {
        let files = TlsFiles::generate(&Otp::System);
        let (client, server) = pair(&files);
        let chunk = pattern(64 << 10, 3);
        let mut taken = 0;
        while !client.unsent() {
            assert_eq!(client.try_write(&chunk).unwrap(), chunk.len());
            taken += chunk.len();
            assert!(taken < 1 << 30, "the socket never filled up");
        }
        assert_eq!(
            client.try_write(b"later").unwrap(),
            0,
            "the backlog goes first"
        );
        let server = Arc::new(server);
        let reader = Arc::clone(&server);
        let reading = thread::spawn(move || {
            let mut got = BytesMut::with_capacity(taken + 5);
            while got.len() < taken + 5 {
                got.reserve(READ_CHUNK);
                assert!(reader.read_into(&mut got).unwrap() > 0);
            }
            got.to_vec()
        });
        client.flush().unwrap();
        assert!(!client.unsent());
        Io(&client).write_all(b"later").unwrap();
        let got = reading.join().unwrap();
        let mut expected = Vec::new();
        for _ in 0..taken / chunk.len() {
            expected.extend_from_slice(&chunk);
        }
        expected.extend_from_slice(b"later");
        assert!(got == expected, "the bytes arrived in order");
    }

    #[test]
    fn shutdown_wakes_a_blocked_reader_and_the_peer_sees_the_end() {
        let files = TlsFiles::generate(&Otp::System);
        let (client, server) = pair(&files);
        let client = Arc::new(client);
        let reader = Arc::clone(&client);
        let blocked = thread::spawn(move || reader.read(&mut [0u8; 16]));
        // The reader may or may not be blocked yet; either way it must end.
        client.shutdown(Shutdown::Both);
        let woken = blocked.join().unwrap();
        assert!(!matches!(woken, Ok(n) if n > 0), "{woken:?}");
        // The server got close_notify: a clean end of stream.
        assert_eq!(server.read(&mut [0u8; 16]).unwrap(), 0);
    }
}
