//! Host names to addresses of one family, the way BEAM's `inet:getaddr/2` finds them for
//! `inet_tcp` and `inet6_tcp` distribution (`erl_epmd:address_please/3` calls it for the
//! host part of a node name; see `inet:gethostbyname_tm/4` in kernel).
//!
//! BEAM asks its resolver for addresses of the family alone, and when that finds none and the
//! name is this machine's own host name, it answers with the loopback address of the family
//! (`inet:gethostbyname_self/2`, "as if /etc/hosts had a line for it"). That is why an
//! `-sname x -proto_dist inet6_tcp` node is reached at `::1` on a machine whose host name has
//! only an IPv4 address: its EPMD registration and its listener are found there.
//!
//! We are more lenient than BEAM in two ways. For IPv4, a host that has IPv6 addresses only
//! (and is not this machine) resolves to those, since a peer there can only be an IPv6 one.
//! For IPv6, an IPv4 literal (`x@127.0.0.1`) becomes the IPv4-mapped address
//! (`::ffff:a.b.c.d`), which a dual-stack listener answers, where `inet:getaddr("127.0.0.1",
//! inet6)` says `nxdomain` and BEAM's `inet6_tcp` answers `pang`. A node with IPv6
//! distribution never falls back to IPv4 otherwise.
//!
//! Every question to the system resolver is asked here, on a thread of its own and for no
//! longer than the asker's deadline ([`lookup`]): addresses, and this host's fully qualified
//! name ([`fully_qualified_hostname`]) that long node names without a host take.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use crate::limits::MAX_HOST_LOOKUPS;
use crate::{deadline, host, Error, Result};

/// Look-ups under way: each holds a thread until the resolver answers.
static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

/// The address family of a distribution protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// IPv4, `inet_tcp` and `inet_tls`.
    Inet,
    /// IPv6, `inet6_tcp` and `inet6_tls`.
    Inet6,
}

impl Family {
    fn loopback(self) -> IpAddr {
        match self {
            Family::Inet => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Family::Inet6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        }
    }

    fn holds(self, addr: &IpAddr) -> bool {
        matches!(
            (self, addr),
            (Family::Inet, IpAddr::V4(_)) | (Family::Inet6, IpAddr::V6(_))
        )
    }
}

/// What the system resolver answers for `host` (with `port`), by `deadline`; an address
/// literal (bracketed or not) is its own answer, at once.
///
/// `getaddrinfo` takes no timeout and cannot be interrupted, and a resolver whose DNS server
/// does not answer makes it wait for its own retries (10 s and more), past any setup timeout.
/// So it runs on a thread of its own; when `deadline` comes first, the wait ends with a
/// `TimedOut` error and the thread finishes alone. At most [`MAX_HOST_LOOKUPS`] such threads run
/// at once: past that a look-up fails at once (`WouldBlock`), so a stalled resolver costs a
/// bounded number of threads however many connects are tried.
pub(crate) fn lookup(host: &str, port: u16, deadline: Instant) -> io::Result<Vec<SocketAddr>> {
    if let Some(addr) = literal(host) {
        return Ok(vec![SocketAddr::new(addr, port)]);
    }
    let name = host.to_string();
    on_resolver_thread(host, deadline, move || {
        (name.as_str(), port)
            .to_socket_addrs()
            .map(Iterator::collect)
    })
}

/// `ask` (a call into the system resolver) on a thread of its own, waited for until
/// `deadline`: see [`lookup`]. `host` is what is asked about, for the errors.
fn on_resolver_thread<T: Send + 'static>(
    host: &str,
    deadline: Instant,
    ask: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    if Instant::now() >= deadline {
        return Err(timed_out(host));
    }
    let slot = LookupSlot::take().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::WouldBlock,
            format!("{MAX_HOST_LOOKUPS} host name look-ups wait for the resolver already"),
        )
    })?;
    let (answer, answered) = mpsc::sync_channel(1);
    thread::Builder::new()
        .name("erldp-resolve".into())
        .spawn(move || {
            let found = ask();
            drop(slot);
            let _ = answer.send(found);
        })?;
    match answered.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(found) => found,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(timed_out(host)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(io::Error::other(format!(
            "the look-up of {host} ended without an answer"
        ))),
    }
}

/// One of the [`MAX_HOST_LOOKUPS`] look-ups under way, given back when dropped (also by a
/// look-up thread that panics, or one that could not be started).
struct LookupSlot;

impl LookupSlot {
    fn take() -> Option<LookupSlot> {
        LOOKUPS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                (taken < MAX_HOST_LOOKUPS).then_some(taken + 1)
            })
            .ok()
            .map(|_| LookupSlot)
    }
}

impl Drop for LookupSlot {
    fn drop(&mut self) {
        LOOKUPS.fetch_sub(1, Ordering::AcqRel);
    }
}

fn timed_out(host: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("the resolver did not answer for {host} in time"),
    )
}

/// The address `host` is when it is an address literal, bracketed or not.
fn literal(host: &str) -> Option<IpAddr> {
    unbracketed(host).parse().ok()
}

/// `host` without the brackets an IPv6 address may be given in.
fn unbracketed(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Refuses what cannot be a host to resolve: nothing, or a host with a port in it (only an
/// IPv6 address, bare or in brackets, with or without a `%zone`, has colons).
pub(crate) fn check_host(host: &str) -> Result<()> {
    if host.is_empty() {
        return Err(Error::invalid("no host given"));
    }
    let address = unbracketed(host).split('%').next().unwrap_or_default();
    if host.contains(':') && address.parse::<Ipv6Addr>().is_err() {
        return Err(Error::invalid(format!(
            "{host:?} is not a host name or address (give the port apart)"
        )));
    }
    Ok(())
}

/// The addresses of `host` in `family`, in the resolver's order, with `port`, by `deadline`.
/// An IPv6 address keeps the scope the resolver gives it (`fe80::1%eth0`).
///
/// Errors: `NotFound` when the host has no address of the family and is not this machine
/// (with the resolver's reason when it knows none at all); `InvalidInput` for an IPv6
/// literal asked for as IPv4; `TimedOut` and `WouldBlock` from [`lookup`] (unless the host is
/// this machine).
pub(crate) fn addresses(
    host: &str,
    port: u16,
    family: Family,
    deadline: Instant,
) -> io::Result<Vec<SocketAddr>> {
    if let Some(addr) = literal(host) {
        let addr = match (family, addr) {
            (Family::Inet6, IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
            (Family::Inet, IpAddr::V6(_)) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{host} is an IPv6 address, and this node uses IPv4 (ipv6: false)"),
                ))
            }
            _ => addr,
        };
        return Ok(vec![SocketAddr::new(addr, port)]);
    }
    let this_host = || vec![SocketAddr::new(family.loopback(), port)];
    let (all, failed) = match lookup(unbracketed(host), port, deadline) {
        Ok(addrs) => (addrs, None),
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            // The resolver is stuck: the fully qualified host name is not asked of it.
            return if is_this_host(host, None) {
                Ok(this_host())
            } else {
                Err(err)
            };
        }
        Err(err) => (Vec::new(), Some(err)),
    };
    let found: Vec<SocketAddr> = all
        .iter()
        .copied()
        .filter(|addr| family.holds(&addr.ip()))
        .collect();
    if !found.is_empty() {
        return Ok(found);
    }
    if is_this_host(host, Some(deadline)) {
        return Ok(this_host());
    }
    if family == Family::Inet && !all.is_empty() {
        return Ok(all);
    }
    let reason = match failed {
        Some(err) => err.to_string(),
        None => format!(
            "host {host} has no {} address",
            match family {
                Family::Inet => "IPv4",
                Family::Inet6 => "IPv6",
            }
        ),
    };
    Err(io::Error::new(io::ErrorKind::NotFound, reason))
}

/// [`addresses`] for reaching `node` on `host` by `deadline`: a host that does not resolve
/// means the node cannot be found, one the resolver does not answer for in time is a
/// timeout, and one that cannot be a host (see [`check_host`]) or is an address of the other
/// family an invalid argument.
pub(crate) fn socket_addresses(
    node: &str,
    host: &str,
    port: u16,
    family: Family,
    deadline: Instant,
) -> Result<Vec<SocketAddr>> {
    check_host(host)?;
    addresses(host, port, family, deadline).map_err(|err| match err.kind() {
        io::ErrorKind::TimedOut => Error::timeout(format!("resolving {host} to reach {node}")),
        io::ErrorKind::InvalidInput => Error::invalid(format!("cannot reach {node}: {err}")),
        _ => Error::NodeNotFound {
            node: node.to_string(),
            reason: format!("cannot resolve {host}: {err}"),
        },
    })
}

/// Whether `host` names this machine as `inet:gethostbyname_self/2` recognises it: its host
/// name, short or fully qualified, in any letter case. The fully qualified name takes a
/// look-up of its own, made only when there is a `resolver_deadline` and `host` has a dot.
fn is_this_host(host: &str, resolver_deadline: Option<Instant>) -> bool {
    let named = |name: &str| !name.is_empty() && name.eq_ignore_ascii_case(host);
    let full = host::hostname();
    named(&full)
        || named(host::short(&full))
        || resolver_deadline.is_some_and(|deadline| {
            host.contains('.')
                && fully_qualified_hostname(deadline)
                    .is_ok_and(|name| name.is_some_and(|name| named(&name)))
        })
}

/// The host part of a long node name: the fully qualified host name when
/// the resolver knows one, else the host name itself. The resolver is
/// waited for as long as a connect's setup may take by default (7 s).
pub fn long_hostname() -> String {
    fully_qualified_hostname(deadline::after(deadline::DEFAULT_SETUP))
        .ok()
        .flatten()
        .unwrap_or_else(host::hostname)
}

/// The fully qualified host name, when the host name has a dot or the resolver knows its
/// canonical name with one (`None` when it knows none), by `deadline` as [`lookup`] waits.
pub(crate) fn fully_qualified_hostname(deadline: Instant) -> io::Result<Option<String>> {
    let full = host::hostname();
    if full.contains('.') {
        return Ok(Some(full));
    }
    let name = full.clone();
    let canonical = on_resolver_thread(&full, deadline, move || Ok(canonical_name(&name)))?;
    Ok(canonical.filter(|name| name.contains('.')))
}

/// The canonical name the resolver gives `host` (`getaddrinfo`'s `AI_CANONNAME`), if any.
fn canonical_name(host: &str) -> Option<String> {
    let node = std::ffi::CString::new(host).ok()?;
    let hints = libc::addrinfo {
        ai_flags: libc::AI_CANONNAME,
        ai_family: libc::AF_UNSPEC,
        ai_socktype: 0,
        ai_protocol: 0,
        ai_addrlen: 0,
        ai_addr: std::ptr::null_mut(),
        ai_canonname: std::ptr::null_mut(),
        ai_next: std::ptr::null_mut(),
    };
    let mut result: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid C string and hints; result is freed below.
    let rc = unsafe { libc::getaddrinfo(node.as_ptr(), std::ptr::null(), &hints, &mut result) };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: getaddrinfo succeeded, so result points to a valid list.
    unsafe {
        let name = (*result).ai_canonname;
        let text = (!name.is_null()).then(|| {
            std::ffi::CStr::from_ptr(name)
                .to_string_lossy()
                .into_owned()
        });
        libc::freeaddrinfo(result);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    fn ips(addrs: io::Result<Vec<SocketAddr>>) -> Vec<IpAddr> {
        addrs.unwrap().iter().map(SocketAddr::ip).collect()
    }

    #[test]
    fn this_host_resolves_to_loopback_of_either_family() {
        let host = host::short_hostname();
        let v6 = ips(addresses(&host, 9, Family::Inet6, soon()));
        assert!(v6.iter().all(IpAddr::is_ipv6), "{v6:?}");
        assert!(!v6.is_empty());
        assert!(addresses(&host.to_ascii_uppercase(), 9, Family::Inet6, soon()).is_ok());
        let v4 = ips(addresses(&host, 9, Family::Inet, soon()));
        assert!(v4.iter().all(IpAddr::is_ipv4), "{v4:?}");
    }

    #[test]
    fn literals_keep_or_map_their_family() {
        let loopback6 = vec![IpAddr::V6(Ipv6Addr::LOCALHOST)];
        assert_eq!(ips(addresses("::1", 9, Family::Inet6, soon())), loopback6);
        assert_eq!(ips(addresses("[::1]", 9, Family::Inet6, soon())), loopback6);
        assert_eq!(
            ips(addresses("127.0.0.1", 9, Family::Inet6, soon())),
            vec!["::ffff:127.0.0.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            addresses("127.0.0.1", 9, Family::Inet, soon()).unwrap(),
            vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 9))]
        );
        let err = addresses("::1", 9, Family::Inet, soon()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    /// A link-local address keeps its zone, which the kernel needs to reach it.
    #[test]
    fn a_zone_is_kept() {
        for host in ["fe80::1%lo", "[fe80::1%lo]"] {
            let addrs = addresses(host, 9, Family::Inet6, soon()).unwrap();
            match addrs.as_slice() {
                [SocketAddr::V6(addr)] => assert_ne!(addr.scope_id(), 0, "{host}"),
                other => panic!("{host}: {other:?}"),
            }
        }
    }

    #[test]
    fn only_an_ipv6_address_has_colons() {
        for host in [
            "::1",
            "[::1]",
            "fe80::1%eth0",
            "[fe80::1%eth0]",
            "example.com",
            "a",
        ] {
            assert!(check_host(host).is_ok(), "{host}");
        }
        for host in ["", "example.com:9", "127.0.0.1:9", "[::1]:9"] {
            assert!(check_host(host).is_err(), "{host:?}");
        }
    }

    #[test]
    fn other_hosts_are_not_found_with_the_resolvers_reason() {
        let err = addresses("no-such-host.invalid", 9, Family::Inet6, soon()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(!err.to_string().contains("no IPv6 address"), "{err}");
    }
}
