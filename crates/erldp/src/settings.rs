//! The settings a [`NodeBuilder`](crate::NodeBuilder) and a
//! [`ClientBuilder`](crate::ClientBuilder) share: what both need to reach a
//! peer and introduce themselves in the
//! [handshake](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#distribution-handshake).
//! Their defaults, what each setting becomes when connecting, and both
//! builders' setters of them (each with its builder's own name and doc) are
//! written here once.

use std::time::Duration;

use crate::cookie::Secret;
use crate::proto_dist::ProtoDist;
use crate::protocol::{flags, identity};
use crate::tls::TlsConfig;
use crate::{epmd, Result};

/// Its `Debug` leaves the cookie out (a [`Secret`]), so that no builder's `Debug` prints it.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) cookie: Option<Secret>,
    pub(crate) hidden: bool,
    pub(crate) epmd_port: Option<u16>,
    pub(crate) net_ticktime: Duration,
    pub(crate) setup_timeout: Duration,
    pub(crate) tls: Option<TlsConfig>,
    pub(crate) ipv6: bool,
}

impl Default for Settings {
    /// Hidden, as a C node is; `net_ticktime` and `net_setuptime` as
    /// kernel's defaults; the cookie and EPMD port of the environment.
    fn default() -> Settings {
        Settings {
            cookie: None,
            hidden: true,
            epmd_port: None,
            net_ticktime: Duration::from_secs(60),
            setup_timeout: Duration::from_secs(7),
            tls: None,
            ipv6: false,
        }
    }
}

impl Settings {
    /// The cookie given, else `~/.erlang.cookie`.
    pub(crate) fn cookie(&self) -> Result<String> {
        identity::cookie(self.cookie.as_ref().map(Secret::reveal))
    }

    /// The port given, else `$ERL_EPMD_PORT`, else EPMD's own.
    pub(crate) fn epmd_port(&self) -> Result<u16> {
        match self.epmd_port {
            Some(port) => Ok(port),
            None => epmd::port_from_env(),
        }
    }

    /// The flags we offer: all we speak, and `PUBLISHED` when visible.
    pub(crate) fn flags(&self) -> u64 {
        if self.hidden {
            flags::SUPPORTED
        } else {
            flags::SUPPORTED | flags::PUBLISHED
        }
    }

    /// How connections are carried; `accepts` as [`ProtoDist::new`] has it.
    pub(crate) fn proto_dist(&self, accepts: bool) -> Result<ProtoDist> {
        ProtoDist::new(self.ipv6, self.tls.as_ref(), accepts)
    }
}

/// The setters both builders have for the settings, each with its builder's
/// own name and doc, from one table that says once what a setter takes and
/// what the setting becomes. Used as `shared_setters!(NodeBuilder)` in the
/// `impl` of [`NodeBuilder`](crate::NodeBuilder), and likewise in
/// [`ClientBuilder`](crate::ClientBuilder)'s.
macro_rules! shared_setters {
    ($builder:ident) => {
        $crate::settings::setters!($builder;
            /// The cookie (default: `$HOME/.erlang.cookie`, created like `erl` does).
            NodeBuilder::cookie
            /// The cookie (default: `$HOME/.erlang.cookie`).
            ClientBuilder::cookie
            (cookie: impl Into<String>) { cookie = Some($crate::cookie::Secret::new(cookie)) }

            /// Hidden (the default, like a C node) or visible: a visible node
            /// appears in `nodes()` of the nodes it connects to.
            NodeBuilder::hidden
            /// Hidden (the default) or visible to the peer's `nodes()`.
            ClientBuilder::hidden
            (hidden: bool) { hidden = hidden }

            /// The EPMD port (default: `$ERL_EPMD_PORT`, else 4369).
            NodeBuilder::epmd_port
            /// The EPMD port on the peer's host (default: `$ERL_EPMD_PORT`, else 4369).
            ClientBuilder::epmd_port
            (port: u16) { epmd_port = Some(port) }

            /// Like `-kernel net_ticktime`: a peer silent this long is considered
            /// down, and we tick every quarter of it (default 60 s).
            NodeBuilder::net_ticktime
            /// Like `-kernel net_ticktime`: while waiting for an answer we tick
            /// every quarter of it, and give up on a peer silent for all of it
            /// (default 60 s).
            ClientBuilder::net_ticktime
            (ticktime: std::time::Duration) { net_ticktime = ticktime }

            /// How long connecting (EPMD lookup, TCP, handshake) may take in all
            /// (default 7 s, like `net_setuptime`); also how long a peer connecting
            /// to us may take over its handshake before it is cut off.
            NodeBuilder::setup_timeout
            /// How long connecting (EPMD lookup, TCP, handshake) may take (default 7 s).
            ClientBuilder::timeout
            (timeout: std::time::Duration) { setup_timeout = timeout }

            /// TLS distribution, as BEAM nodes started with `-proto_dist inet_tls`
            /// (and `-ssl_dist_optfile`) run it: every connection, both ways, is
            /// TLS from its first byte, checked as `config` says (see
            /// [`TlsConfig`](crate::tls::TlsConfig)). Such a node never falls back to plain TCP; its
            /// certificate and key are read when it starts. Default: plain TCP.
            NodeBuilder::tls
            /// TLS distribution, to a node started with `-proto_dist inet_tls`:
            /// the client role of `config` (see
            /// [`NodeBuilder::tls`](crate::NodeBuilder::tls)). Default: plain TCP.
            ClientBuilder::tls
            (config: $crate::tls::TlsConfig) { tls = Some(config) }

            /// IPv6 distribution, as BEAM nodes started with `-proto_dist
            /// inet6_tcp` (or `inet6_tls`, with [`tls`](Self::tls)) run it: the
            /// node listens on every IPv6 address (IPv4 connections are taken too),
            /// and reaches peers at the IPv6 addresses of their hosts, asking EPMD
            /// there; this machine's own host name is `::1` when the resolver knows
            /// no IPv6 address for it, as on BEAM. Default: IPv4.
            NodeBuilder::ipv6
            /// IPv6 distribution, to a node started with `-proto_dist inet6_tcp`
            /// (see [`NodeBuilder::ipv6`](crate::NodeBuilder::ipv6)). Default: IPv4.
            ClientBuilder::ipv6
            (ipv6: bool) { ipv6 = ipv6 }
        );
    };
}

/// Writes `$builder`'s setter of each row of the table of [`shared_setters`].
macro_rules! setters {
    ($builder:ident; $(
        $(#[$node_doc:meta])* NodeBuilder::$node:ident
        $(#[$client_doc:meta])* ClientBuilder::$client:ident
        ($arg:ident: $type:ty) { $field:ident = $value:expr }
    )*) => {$(
        $crate::settings::setters!(@$builder [$(#[$node_doc])* $node] [$(#[$client_doc])* $client]
            ($arg: $type) { $field = $value });
    )*};
    (@NodeBuilder [$($node:tt)*] [$($client:tt)*] $($setter:tt)*) => {
        $crate::settings::setters!(@setter $($node)* $($setter)*);
    };
    (@ClientBuilder [$($node:tt)*] [$($client:tt)*] $($setter:tt)*) => {
        $crate::settings::setters!(@setter $($client)* $($setter)*);
    };
    (@setter $(#[$doc:meta])* $name:ident($arg:ident: $type:ty) { $field:ident = $value:expr }) => {
        $(#[$doc])*
        pub fn $name(mut self, $arg: $type) -> Self {
            self.settings.$field = $value;
            self
        }
    };
}

pub(crate) use {setters, shared_setters};
