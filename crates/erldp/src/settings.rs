//! The settings a [`NodeBuilder`](crate::NodeBuilder) and a
//! [`ClientBuilder`](crate::ClientBuilder) share: what both need to reach a
//! peer and introduce themselves in the
//! [handshake](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#distribution-handshake).
//! Their defaults, and what each setting becomes when connecting, are
//! written here once; each builder documents its setters in its own terms.

use std::time::Duration;

use crate::cookie::Secret;
use crate::proto_dist::{PeerPorts, ProtoDist};
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
    /// The one port every peer listens on, when EPMD is not asked.
    pub(crate) dist_port: Option<u16>,
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
            setup_timeout: crate::deadline::DEFAULT_SETUP,
            tls: None,
            ipv6: false,
            dist_port: None,
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

    /// Where peers listen: on the `dist_port` given, else where the EPMD of
    /// their host says.
    pub(crate) fn peer_ports(&self) -> Result<PeerPorts> {
        match self.dist_port {
            Some(port) => Ok(PeerPorts::Fixed(port)),
            None => Ok(PeerPorts::Epmd(self.epmd_port()?)),
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
