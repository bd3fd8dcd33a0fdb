//! How a node's distribution connections are carried, as BEAM's
//! [`-proto_dist`](https://www.erlang.org/doc/apps/erts/erl_cmd.html#proto_dist)
//! picks it: `inet_tcp` (the default), `inet6_tcp`, `inet_tls`
//! ([Distribution over TLS](https://www.erlang.org/doc/apps/ssl/ssl_distribution.html))
//! or `inet6_tls`.
//!
//! The address family decides where the node listens, how the hosts of
//! peers' names resolve ([`resolve`](crate::resolve)) and at which address
//! their EPMD is asked. TLS puts a session on every TCP connection before
//! the distribution handshake, which then runs inside it with 4-byte
//! length prefixes ([`Framing::Tls`]). Nothing in EPMD tells a TLS node
//! from a plain one, so both sides must be configured alike: a TLS node
//! never falls back to plain TCP, and a plain node that meets a TLS one
//! says so ([`handshake`](crate::handshake)).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::epmd;
use crate::handshake::Framing;
use crate::resolve::{self, Family};
use crate::tls::stream::TlsStream;
use crate::tls::{ClientSide, TlsConfig};
use crate::transport::{self, Cutoff, Listener, Tcp, Transport};
use crate::{Error, Result};

/// Where peers listen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerPorts {
    /// On the port the EPMD of their host (at this EPMD port) gives.
    Epmd(u16),
    /// On this port of every host, asking no EPMD, as BEAM's `-erl_epmd_port` has it.
    Fixed(u16),
}

/// The address family and, for TLS, the configurations of both roles,
/// made once when the node (or client) starts.
#[derive(Clone, Debug)]
pub(crate) struct ProtoDist {
    family: Family,
    tls: Option<Tls>,
}

#[derive(Clone)]
struct Tls {
    client: ClientSide,
    /// `None` for a [`Client`](crate::Client), which never accepts.
    server: Option<Arc<rustls::ServerConfig>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("client", &self.client)
            .field("server", &self.server.is_some())
            .finish()
    }
}

impl ProtoDist {
    /// IPv6 or IPv4, over TLS when `tls` is given. `accepts` says whether
    /// connections will be accepted (then the server role's certificate is
    /// needed up front). Errors are those of the TLS options
    /// ([`Error::InvalidArgument`], [`Error::Io`] for unreadable files).
    pub(crate) fn new(ipv6: bool, tls: Option<&TlsConfig>, accepts: bool) -> Result<ProtoDist> {
        let family = if ipv6 { Family::Inet6 } else { Family::Inet };
        let tls = match tls {
            None => None,
            Some(config) => Some(Tls {
                client: config.client()?,
                server: if accepts {
                    Some(config.server()?)
                } else {
                    None
                },
            }),
        };
        Ok(ProtoDist { family, tls })
    }

    /// BEAM's name for it, for the log.
    pub(crate) fn name(&self) -> &'static str {
        match (self.family, self.tls.is_some()) {
            (Family::Inet, false) => "inet_tcp",
            (Family::Inet6, false) => "inet6_tcp",
            (Family::Inet, true) => "inet_tls",
            (Family::Inet6, true) => "inet6_tls",
        }
    }

    /// How the handshake's messages are framed.
    pub(crate) fn framing(&self) -> Framing {
        if self.tls.is_some() {
            Framing::Tls
        } else {
            Framing::Tcp
        }
    }

    /// Listens on `port` (0: any) of every address of the family.
    pub(crate) fn listen(&self, port: u16) -> std::io::Result<Listener> {
        Listener::bind(port, self.family)
    }

    /// Where `peer` (`alive@host`) listens, found as BEAM finds it: the
    /// host's addresses in our family, and the port from the EPMD at the
    /// first of them (or the one port of `ports`), by `deadline`.
    pub(crate) fn locate(
        &self,
        peer: &str,
        ports: PeerPorts,
        deadline: Instant,
        cutoff: Option<&Cutoff>,
    ) -> Result<Vec<SocketAddr>> {
        let (alive, host) = peer
            .split_once('@')
            .ok_or_else(|| Error::invalid(format!("{peer} is not a node name (name@host)")))?;
        let epmd_port = match ports {
            PeerPorts::Fixed(port) => return self.addresses(peer, host, port, deadline),
            PeerPorts::Epmd(port) => port,
        };
        let mut addrs = self.addresses(peer, host, epmd_port, deadline)?;
        let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
        let info = epmd::port_please_at(host, Some(&ips), epmd_port, alive, deadline, cutoff)
            .map_err(|err| match err {
                Error::NodeNotFound { reason, .. } => Error::NodeNotFound {
                    node: peer.to_string(),
                    reason,
                },
                other => other,
            })?;
        for addr in &mut addrs {
            addr.set_port(info.port);
        }
        Ok(addrs)
    }

    /// The addresses of `host` in our family, with `port`, by `deadline`;
    /// `node` is the node looked for, for the error.
    pub(crate) fn addresses(
        &self,
        node: &str,
        host: &str,
        port: u16,
        deadline: Instant,
    ) -> Result<Vec<SocketAddr>> {
        resolve::socket_addresses(node, host, port, self.family, deadline)
    }

    /// Connects to `peer` at the first of `addrs` that accepts, by
    /// `deadline`: TCP, then for TLS the client side of the TLS handshake.
    /// The transport's read and write timeouts are the time left, for the
    /// distribution handshake that follows. `cutoff` gets the socket before
    /// the connect begins.
    pub(crate) fn connect(
        &self,
        peer: &str,
        addrs: &[SocketAddr],
        deadline: Instant,
        cutoff: Option<&Cutoff>,
    ) -> Result<Box<dyn Transport>> {
        let mut last_err = None;
        for addr in addrs {
            if Instant::now() >= deadline {
                return Err(Error::timeout(format!("connecting to {peer}")));
            }
            log::debug!(target: "erldp::node", "connecting to {peer} at {addr}");
            match transport::connect(addr, deadline, cutoff) {
                Ok(tcp) => return self.secure(peer, addr, tcp, deadline),
                Err(err) => {
                    last_err = Some(Error::connection(
                        peer,
                        format!("cannot connect to {addr}: {err}"),
                    ))
                }
            }
        }
        Err(last_err.unwrap_or_else(|| Error::NodeNotFound {
            node: peer.to_string(),
            reason: "its host has no address".into(),
        }))
    }

    fn secure(
        &self,
        peer: &str,
        addr: &SocketAddr,
        tcp: Tcp,
        deadline: Instant,
    ) -> Result<Box<dyn Transport>> {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        tcp.set_read_timeout(Some(left))?;
        tcp.set_write_timeout(Some(left))?;
        let Some(tls) = &self.tls else {
            return Ok(Box::new(tcp));
        };
        let host = peer.split_once('@').map_or(peer, |(_, host)| host);
        let stream = TlsStream::connect(tcp, &tls.client, host, peer, deadline)?;
        log::debug!(target: "erldp::node", "TLS with {peer} at {addr}: {}", stream.describe());
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        stream.set_read_timeout(Some(left))?;
        stream.set_write_timeout(Some(left))?;
        Ok(Box::new(stream))
    }

    /// Takes a connection the listener accepted: for TLS, the server side
    /// of the TLS handshake, on the caller's thread, by `deadline`.
    pub(crate) fn accept(&self, tcp: Tcp, deadline: Instant) -> Result<Box<dyn Transport>> {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        tcp.set_read_timeout(Some(left))?;
        tcp.set_write_timeout(Some(left))?;
        let from = tcp.peer();
        let server = match &self.tls {
            None => return Ok(Box::new(tcp)),
            Some(Tls {
                server: Some(server),
                ..
            }) => server,
            Some(_) => {
                return Err(Error::connection(
                    &from,
                    "refused: no TLS server options to accept with",
                ))
            }
        };
        let stream = TlsStream::accept(tcp, server, &from, deadline)?;
        log::debug!(target: "erldp::node", "TLS with {from}: {}", stream.describe());
        Ok(Box::new(stream))
    }
}
