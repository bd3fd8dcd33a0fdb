//! The one module that touches distribution sockets: connecting with a
//! timeout, listening and accepting, reading into a buffer's spare
//! capacity, writing without blocking, and shutting down.
//!
//! Everything above it — the [handshake](crate::handshake), a connection's
//! reader and writer threads, a [`Client`](crate::Client) — works on a
//! [`Transport`]. Plain TCP (IPv4 or IPv6) is [`Tcp`]; a TLS session over
//! it is [`TlsStream`](crate::tls::stream::TlsStream), which
//! [`proto_dist`](crate::proto_dist) puts on a [`Tcp`]'s socket. Every
//! method takes `&self` because a connection's reader and writer threads
//! share one transport, and a TLS session is one state machine that both
//! must go through (behind a lock of its own), where a TCP socket can
//! simply be used from two threads at once.
//! ([Distribution over TLS](https://www.erlang.org/doc/apps/ssl/ssl_distribution.html)
//! runs the whole distribution protocol, handshake included, inside TLS.)

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::resolve::Family;

/// A connected byte stream to a peer node.
pub(crate) trait Transport: Send + Sync + 'static {
    /// Reads what has arrived into the spare capacity of `buf` (which the
    /// caller reserves: how a buffer grows is its concern) and extends its
    /// length by that much; `Ok(0)` when the peer closed. Blocks up to the read timeout, then fails with
    /// `WouldBlock` or `TimedOut`.
    fn read_into(&self, buf: &mut BytesMut) -> io::Result<usize>;

    /// Reads into `buf`, like [`Read::read`].
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;

    /// Writes some of `data`, blocking until the socket takes at least a
    /// byte (or the write timeout passes), like [`Write::write`].
    fn write(&self, data: &[u8]) -> io::Result<usize>;

    /// Writes as much of `data` as the socket takes without blocking; `0`
    /// when it takes nothing right now. A transport that cannot write
    /// without blocking (a TLS session mid-record) may always answer `0`:
    /// the connection's writer thread then writes the frame. A transport
    /// that transforms what it writes (TLS) may take all of `data` and keep
    /// part of what it became above the socket: [`unsent`](Self::unsent)
    /// then says so until a [`flush`](Self::flush) or a later write sends it.
    fn try_write(&self, data: &[u8]) -> io::Result<usize>;

    /// Whether [`write_vectored_until`](Self::write_vectored_until) writes
    /// from the caller's memory. A transport that transforms what it writes
    /// (TLS) copies it in any case, and says no.
    fn writes_in_place(&self) -> bool {
        false
    }

    /// Writes `slices` in order, waiting for the socket to take them until
    /// `deadline`, and returns how much it wrote: all of it unless the
    /// deadline passed. Only for a transport that
    /// [`writes_in_place`](Self::writes_in_place); others write nothing.
    fn write_vectored_until(&self, slices: &[IoSlice<'_>], deadline: Instant) -> io::Result<usize> {
        let _ = (slices, deadline);
        Ok(0)
    }

    /// Whether a [`try_write`](Self::try_write) left data above the socket
    /// that only [`flush`](Self::flush) or the next write sends.
    fn unsent(&self) -> bool {
        false
    }

    /// Sends on what earlier writes left buffered above the socket,
    /// blocking up to the write timeout.
    fn flush(&self) -> io::Result<()>;

    /// How long a read may block (`None`: for ever).
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;

    /// How long a blocking write may block (`None`: for ever).
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;

    /// Shuts one or both directions down, waking a thread blocked on it.
    /// Failures are ignored: the stream is going away anyway.
    fn shutdown(&self, how: Shutdown);

    /// The peer's address, for messages about a peer whose name is not
    /// known yet.
    fn peer(&self) -> String;

    /// The address of our end of the connection.
    fn local_ip(&self) -> io::Result<std::net::IpAddr>;
}

/// A transport as [`Read`] and [`Write`], for code that reads and writes
/// whole messages (the handshake, a writer thread's `write_all`).
pub(crate) struct Io<'a>(pub &'a dyn Transport);

impl Read for Io<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Io<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// A transport as [`Read`] and [`Write`] with one deadline for the whole
/// exchange, for the handshake: every read and write may block only for
/// what is left of it. A timeout per read would let a peer that sends a
/// byte now and then hold the exchange (a thread and a socket) for ever.
pub(crate) struct Timed<'a> {
    transport: &'a dyn Transport,
    deadline: Instant,
}

impl<'a> Timed<'a> {
    pub(crate) fn new(transport: &'a dyn Transport, deadline: Instant) -> Timed<'a> {
        Timed {
            transport,
            deadline,
        }
    }

    /// What is left until the deadline; `TimedOut` once it has passed.
    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the deadline of the exchange passed",
            ));
        }
        Ok(left)
    }
}

impl Read for Timed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.transport.set_read_timeout(Some(self.left()?))?;
        self.transport.read(buf)
    }
}

impl Write for Timed<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.transport.set_write_timeout(Some(self.left()?))?;
        self.transport.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.transport.flush()
    }
}

/// A TCP connection, with Nagle's algorithm off: distribution frames are
/// written whole, and a small request must not wait for an acknowledgement.
#[derive(Debug)]
pub(crate) struct Tcp(TcpStream);

/// For the TLS handshake to read, without blocking, what a peer sent before it reset the
/// connection.
impl AsRawFd for Tcp {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

impl Tcp {
    pub(crate) fn new(stream: TcpStream) -> io::Result<Tcp> {
        stream.set_nodelay(true)?;
        Ok(Tcp(stream))
    }

    /// The socket, for a [`Cutoff`] to hold.
    pub(crate) fn socket(&self) -> &TcpStream {
        &self.0
    }

    /// The socket, for a TLS session to take over.
    pub(crate) fn into_socket(self) -> TcpStream {
        self.0
    }

    /// Waits until the socket takes more bytes (or says why it cannot:
    /// the write that follows reports it); false when `deadline` passed.
    fn wait_writable(&self, deadline: Instant) -> io::Result<bool> {
        wait_for(self.0.as_raw_fd(), libc::POLLOUT, deadline)
    }
}

/// Connects to `addr`, giving up at `deadline` or when `cutoff` is cut.
pub(crate) fn connect(
    addr: &SocketAddr,
    deadline: Instant,
    cutoff: Option<&Cutoff>,
) -> io::Result<Tcp> {
    Tcp::new(connect_until(addr, deadline, cutoff)?)
}

/// Connects to `addr` by `deadline`, as `TcpStream::connect_timeout` does,
/// but on a socket made first, so that `cutoff` can shut it down while the
/// connect waits (a peer's host that drops our SYNs) and after.
pub(crate) fn connect_until(
    addr: &SocketAddr,
    deadline: Instant,
    cutoff: Option<&Cutoff>,
) -> io::Result<TcpStream> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let kind = libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    // SAFETY: socket has no memory preconditions.
    let fd = unsafe { libc::socket(domain, kind, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a new socket that nothing else owns.
    let stream = TcpStream::from(unsafe { OwnedFd::from_raw_fd(fd) });
    if let Some(cutoff) = cutoff {
        cutoff.add(&stream)?;
    }
    let (address, len) = sockaddr(addr);
    // SAFETY: address is a sockaddr of the family and length given.
    if unsafe { libc::connect(fd, (&address as *const libc::sockaddr_storage).cast(), len) } < 0 {
        let err = io::Error::last_os_error();
        if !matches!(err.raw_os_error(), Some(libc::EINPROGRESS | libc::EINTR)) {
            return Err(err);
        }
        if !wait_for(fd, libc::POLLOUT, deadline)? {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection timed out",
            ));
        }
        if let Some(err) = stream.take_error()? {
            return Err(err);
        }
    }
    if cutoff.is_some_and(Cutoff::is_cut) {
        return Err(io::Error::new(io::ErrorKind::Interrupted, "cut short"));
    }
    // A connect cut short may leave no error behind, and no peer.
    stream.peer_addr()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// `addr` as the C library takes it.
fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data, for which all zeros is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is larger than sockaddr_in and aligned for it.
            let sin = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            // SAFETY: sockaddr_storage is larger than sockaddr_in6 and aligned for it.
            let sin6 = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_flowinfo = v6.flowinfo();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            sin6.sin6_scope_id = v6.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Waits until `fd` is ready for `events` (or in error, which the next
/// call on it reports); false when `deadline` passed.
fn wait_for(fd: std::os::fd::RawFd, events: libc::c_short, deadline: Instant) -> io::Result<bool> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let mut poll = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        let millis = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut poll, 1, millis) } {
            0 => {}
            n if n > 0 => return Ok(true),
            _ => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
}

impl Transport for Tcp {
    fn read_into(&self, buf: &mut BytesMut) -> io::Result<usize> {
        if buf.capacity() == buf.len() {
            // Zero bytes read would look like the peer closing.
            buf.reserve(4096);
        }
        let spare = buf.spare_capacity_mut();
        // SAFETY: recv writes at most `spare.len()` bytes into the buffer's
        // spare capacity, which is valid for writes of that length.
        let n = unsafe {
            libc::recv(
                self.0.as_raw_fd(),
                spare.as_mut_ptr().cast(),
                spare.len(),
                0,
            )
        };
        let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
        // SAFETY: the kernel initialised exactly `n` bytes after the length.
        unsafe { buf.set_len(buf.len() + n) };
        Ok(n)
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.0).read(buf)
    }

    fn write(&self, data: &[u8]) -> io::Result<usize> {
        (&self.0).write(data)
    }

    fn try_write(&self, data: &[u8]) -> io::Result<usize> {
        // SAFETY: sends from a live buffer of `data.len()` bytes. No SIGPIPE:
        // the host program (Ruby, Node, a C program) may not ignore it.
        let sent = unsafe {
            libc::send(
                self.0.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        match usize::try_from(sent) {
            Ok(sent) => Ok(sent),
            Err(_) => {
                let err = io::Error::last_os_error();
                match err.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                    _ => Err(err),
                }
            }
        }
    }

    fn writes_in_place(&self) -> bool {
        true
    }

    fn write_vectored_until(&self, slices: &[IoSlice<'_>], deadline: Instant) -> io::Result<usize> {
        let mut rest: Vec<IoSlice<'_>> = slices.to_vec();
        let mut rest = &mut rest[..];
        let mut written = 0;
        while !rest.is_empty() {
            // SAFETY: a zeroed msghdr is valid (no name, no control data);
            // IoSlice is ABI-compatible with iovec, and the slices live
            // through the call. No SIGPIPE: the host program may not ignore
            // it. Without blocking, so that the deadline holds.
            let sent = unsafe {
                let mut message: libc::msghdr = std::mem::zeroed();
                message.msg_iov = rest.as_mut_ptr().cast();
                message.msg_iovlen = rest.len().min(libc::UIO_MAXIOV as usize) as _;
                libc::sendmsg(
                    self.0.as_raw_fd(),
                    &message,
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            match usize::try_from(sent) {
                Ok(sent) => {
                    written += sent;
                    IoSlice::advance_slices(&mut rest, sent);
                }
                Err(_) => {
                    let err = io::Error::last_os_error();
                    match err.kind() {
                        io::ErrorKind::Interrupted => {}
                        io::ErrorKind::WouldBlock => {
                            if !self.wait_writable(deadline)? {
                                break;
                            }
                        }
                        _ => return Err(err),
                    }
                }
            }
        }
        Ok(written)
    }

    fn flush(&self) -> io::Result<()> {
        Ok(())
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.set_write_timeout(timeout)
    }

    fn shutdown(&self, how: Shutdown) {
        let _ = self.0.shutdown(how);
    }

    fn peer(&self) -> String {
        self.0.peer_addr().map_or_else(
            |_| "incoming connection".to_string(),
            |addr| addr.to_string(),
        )
    }

    fn local_ip(&self) -> io::Result<std::net::IpAddr> {
        Ok(self.0.local_addr()?.ip())
    }
}

/// The socket a node accepts connections on.
pub(crate) struct Listener(TcpListener);

impl Listener {
    /// Listens on `port` (0: a free port) of every address of `family`:
    /// every IPv4 address, as BEAM nodes do unless started with
    /// `-proto_dist inet6_tcp`; every IPv6 address for an IPv6 node, which,
    /// like BEAM's `inet6_tcp` listener, takes IPv4 connections too.
    pub(crate) fn bind(port: u16, family: Family) -> io::Result<Listener> {
        match family {
            Family::Inet => TcpListener::bind(("0.0.0.0", port)).map(Listener),
            Family::Inet6 => listen_ipv6(port, false).map(Listener),
        }
    }

    /// The port it listens on.
    pub(crate) fn port(&self) -> io::Result<u16> {
        Ok(self.0.local_addr()?.port())
    }

    /// Waits for the next connection.
    pub(crate) fn accept(&self) -> io::Result<Tcp> {
        let (stream, _) = self.0.accept()?;
        Tcp::new(stream)
    }

    /// What stops [`accept`](Self::accept) from another thread.
    pub(crate) fn stopper(&self) -> io::Result<ListenerStop> {
        let own = self.0.try_clone()?;
        Ok(ListenerStop(crate::sync::Mutex::new(Some(own))))
    }
}

/// Listens on `port` of every IPv6 address; `v6_only` leaves the IPv4
/// addresses (as IPv4-mapped ones) to another socket, which may then bind
/// the same port on IPv4. Set either way, whatever the system's default
/// (`net.ipv6.bindv6only`).
pub(crate) fn listen_ipv6(port: u16, v6_only: bool) -> io::Result<TcpListener> {
    fn check(rc: libc::c_int) -> io::Result<()> {
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
    fn set(fd: libc::c_int, level: libc::c_int, option: libc::c_int, on: bool) -> io::Result<()> {
        let value = libc::c_int::from(on);
        // SAFETY: the option value is a live c_int of the size given.
        check(unsafe {
            libc::setsockopt(
                fd,
                level,
                option,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        })
    }
    // SAFETY: socket has no memory preconditions.
    let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    check(fd)?;
    // SAFETY: fd is a new socket that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // As std's TcpListener::bind: a port in TIME_WAIT can be bound again.
    set(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, true)?;
    set(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, v6_only)?;
    let (addr, len) = sockaddr(&(std::net::Ipv6Addr::UNSPECIFIED, port).into());
    // SAFETY: addr is a sockaddr_in6 of the length given.
    check(unsafe { libc::bind(fd, (&addr as *const libc::sockaddr_storage).cast(), len) })?;
    // SAFETY: fd is a bound socket.
    check(unsafe { libc::listen(fd, libc::SOMAXCONN) })?;
    Ok(TcpListener::from(socket))
}

/// Stops a [`Listener`] that another thread blocks in `accept` on.
///
/// It holds a descriptor of its own for the listening socket: shutting
/// down the accepting thread's descriptor instead would race with that
/// thread closing it, after which the number may name another file.
/// Stopping closes that descriptor too: a closed node that the program
/// (or a binding's garbage collector) still holds keeps no socket open.
pub(crate) struct ListenerStop(crate::sync::Mutex<Option<TcpListener>>);

impl ListenerStop {
    /// Shuts the socket down: a blocked `accept` returns with an error,
    /// and so does every later one.
    pub(crate) fn stop(&self) {
        if let Some(own) = self.0.lock().take() {
            // SAFETY: the descriptor is ours, open until `own` drops below.
            unsafe {
                libc::shutdown(own.as_raw_fd(), libc::SHUT_RDWR);
            }
        }
    }
}

/// The sockets one thread uses for a piece of work (an EPMD look-up, a
/// connect, a handshake), which another thread may cut short: each is shut
/// down, which ends a blocked connect, read or write, and so does every
/// later one. Each holds a descriptor of its own, as [`ListenerStop`] does.
#[derive(Default)]
pub(crate) struct Cutoff {
    sockets: crate::sync::Mutex<(bool, Vec<TcpStream>)>,
}

impl Cutoff {
    /// Adds `socket`; one added after [`cut`](Self::cut) is shut down at
    /// once and the work told so.
    pub(crate) fn add(&self, socket: &TcpStream) -> io::Result<()> {
        let own = socket.try_clone()?;
        let mut sockets = self.sockets.lock();
        if sockets.0 {
            let _ = own.shutdown(Shutdown::Both);
            return Err(io::Error::new(io::ErrorKind::Interrupted, "cut short"));
        }
        sockets.1.push(own);
        Ok(())
    }

    /// Shuts down every socket added, and every one added later.
    pub(crate) fn cut(&self) {
        let mut sockets = self.sockets.lock();
        sockets.0 = true;
        for socket in sockets.1.drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    pub(crate) fn is_cut(&self) -> bool {
        self.sockets.lock().0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn a_stopped_listener_wakes_its_accepting_thread() {
        let listener = Listener::bind(0, Family::Inet).expect("bind");
        let stop = listener.stopper().expect("stopper");
        let accepting = thread::spawn(move || listener.accept().map(|_| ()));
        stop.stop();
        assert!(accepting.join().expect("joined").is_err());
    }

    #[test]
    fn reads_into_spare_capacity_and_writes_without_blocking() {
        let listener = Listener::bind(0, Family::Inet).expect("bind");
        let port = listener.port().expect("port");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let client =
            connect(&addr, Instant::now() + Duration::from_secs(5), None).expect("connect");
        let server = listener.accept().expect("accept");
        assert_eq!(client.try_write(b"hello").expect("write"), 5);
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(b">");
        let mut got = 0;
        while got < 5 {
            let n = server.read_into(&mut buf).expect("read");
            assert!(n > 0, "the peer is still open");
            got += n;
        }
        assert_eq!(&buf[..], b">hello");
        client.shutdown(Shutdown::Both);
        assert_eq!(server.read_into(&mut buf).expect("eof"), 0);
    }

    #[test]
    fn connects_over_both_families_and_reports_a_refusal() {
        let deadline = Instant::now() + Duration::from_secs(30);
        let v4 = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = v4.local_addr().expect("address");
        let stream = connect_until(&addr, deadline, None).expect("connect over IPv4");
        assert_eq!(stream.peer_addr().expect("peer"), addr);
        let v6 = listen_ipv6(0, true).expect("listen on IPv6");
        let addr: SocketAddr = (
            std::net::Ipv6Addr::LOCALHOST,
            v6.local_addr().expect("address").port(),
        )
            .into();
        let stream = connect_until(&addr, deadline, None).expect("connect over IPv6");
        assert_eq!(stream.peer_addr().expect("peer"), addr);
        let closed = v4.local_addr().expect("address");
        drop(v4);
        let refused = connect_until(&closed, deadline, None).expect_err("nobody listens");
        assert_eq!(
            refused.kind(),
            io::ErrorKind::ConnectionRefused,
            "{refused}"
        );
    }

    /// A listener whose accept queue is full drops the SYNs of further
    /// connects, which then wait: the cutoff ends such a connect.
    #[test]
    fn a_cutoff_ends_a_connect_that_waits() {
        // SAFETY: socket has no memory preconditions.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0, "socket");
        // SAFETY: fd is a new socket that nothing else owns.
        let listener = TcpListener::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let (address, len) = sockaddr(&([127, 0, 0, 1], 0).into());
        // SAFETY: address is a sockaddr_in of the length given; fd is a socket.
        unsafe {
            assert_eq!(
                libc::bind(fd, (&address as *const libc::sockaddr_storage).cast(), len),
                0
            );
            assert_eq!(libc::listen(fd, 0), 0);
        }
        let addr = listener.local_addr().expect("address");
        let mut queued = Vec::new();
        loop {
            let deadline = Instant::now() + Duration::from_millis(300);
            match connect_until(&addr, deadline, None) {
                Ok(stream) => queued.push(stream),
                Err(err) if err.kind() == io::ErrorKind::TimedOut => break,
                Err(err) => panic!("filling the accept queue: {err}"),
            }
            assert!(queued.len() < 100, "the accept queue never filled");
        }
        let cutoff = std::sync::Arc::new(Cutoff::default());
        let connecting = {
            let cutoff = std::sync::Arc::clone(&cutoff);
            thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(3600);
                connect_until(&addr, deadline, Some(&cutoff))
            })
        };
        // Most likely cut while the connect waits; cut before it began, it
        // ends all the same.
        thread::sleep(Duration::from_millis(100));
        cutoff.cut();
        // Not cut, it would fail too, but only when the SYNs run out (about
        // two minutes), and then as timed out.
        let err = connecting.join().expect("joined").expect_err("connected");
        assert_ne!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert!(cutoff.add(&queued[0]).is_err(), "added after the cut");
    }
}
