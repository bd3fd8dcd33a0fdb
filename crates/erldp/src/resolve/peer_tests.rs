//! IPv6 against real BEAM nodes started with `-proto_dist inet6_tcp` (and `inet6_tls`), on
//! every OTP available, below the node (the transport seam is not there yet): the host part
//! of their names resolved as BEAM does, EPMD asked over IPv6, and our distribution handshake
//! over IPv6 sockets in both directions.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use erldp_testkit::{random_name, short_hostname, BeamPeer, Otp, TlsFiles};

use super::{addresses, Family};
use crate::handshake::{self, flags, Admission, Framing, Local, Outcome};
use crate::{epmd, Error};

const TIMEOUT: Duration = Duration::from_secs(30);

fn inet6_peer(otp: &Otp) -> BeamPeer {
    BeamPeer::builder()
        .otp(otp.clone())
        .proto_dist("inet6_tcp")
        .start()
}

/// The peer's distribution address over IPv6: its host resolved as BEAM does, and its port
/// from EPMD asked at that address.
fn ipv6_address(peer: &BeamPeer) -> SocketAddr {
    let (name, host) = peer.node().split_once('@').expect("name@host");
    let ip = addresses(host, Family::Inet6).expect("an IPv6 address")[0];
    assert!(ip.is_ipv6(), "{ip}");
    let info = epmd::port_please(&ip.to_string(), epmd::DEFAULT_PORT, name, TIMEOUT)
        .unwrap_or_else(|e| panic!("EPMD over IPv6 at {ip}: {e}"));
    SocketAddr::new(ip, info.port)
}

fn local<'a>(name: &'a str, cookie: &'a str) -> Local<'a> {
    Local {
        name,
        flags: flags::MANDATORY,
        creation: 5,
        cookie,
    }
}

#[test]
fn our_handshake_reaches_inet6_nodes_over_ipv6() {
    for otp in Otp::available() {
        let mut peer = inet6_peer(&otp);
        let addr = ipv6_address(&peer);
        let mut socket = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{otp}: {addr}: {e}"));
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        let name = format!("{}@{}", random_name("erldp_v6_"), short_hostname());
        let outcome = handshake::initiate(
            &mut socket,
            Framing::Tcp,
            &local(&name, peer.cookie()),
            peer.node(),
            || true,
        )
        .unwrap_or_else(|e| panic!("{otp}: {e}"));
        assert!(matches!(outcome, Outcome::Connected(_)), "{otp}");
        // The peer sees us connected from an IPv6 address.
        let seen = peer.eval_ok(&format!(
            "erldp_test:wait_for(fun() -> lists:member('{name}', nodes(hidden)) end, 10000), \
             {{ok, Info}} = net_kernel:node_info('{name}'), \
             {{address, {{net_address, {{Ip, _}}, _, _, Family}}}} = lists:keyfind(address, 1, Info), \
             {{Ip, Family}}"
        ));
        assert_eq!(seen, "{{0,0,0,0,0,0,0,1},inet6}", "{otp}");
    }
}

#[test]
fn inet6_nodes_handshake_with_our_ipv6_listener() {
    for otp in Otp::available() {
        let mut peer = inet6_peer(&otp);
        let listener = TcpListener::bind("[::1]:0").expect("IPv6 loopback");
        let name = format!("{}@{}", random_name("erldp_v6_"), short_hostname());
        let alive = name.split_once('@').unwrap().0.to_string();
        let port = listener.local_addr().unwrap().port();
        let _registration =
            epmd::register(epmd::DEFAULT_PORT, &alive, port, true, TIMEOUT).unwrap();
        let cookie = peer.cookie().to_string();
        let ours = name.clone();
        let accepting = thread::spawn(move || {
            let (mut socket, from) = listener.accept().unwrap();
            socket.set_read_timeout(Some(TIMEOUT)).unwrap();
            let theirs = handshake::accept(
                &mut socket,
                Framing::Tcp,
                &from.to_string(),
                &local(&ours, &cookie),
                |_| Admission::Ok,
            )?;
            Ok::<_, Error>((theirs, from))
        });
        assert_eq!(
            peer.eval_ok(&format!("net_kernel:connect_node('{name}')")),
            "true",
            "{otp}"
        );
        let (theirs, from) = accepting
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("{otp}: {e}"));
        assert_eq!(theirs.name.as_str(), peer.node());
        assert_eq!(
            from.ip(),
            IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            "{otp}"
        );
    }
}

/// `inet6_tls`: TLS over IPv6 needs nothing of its own, the TLS stream runs over an IPv6
/// socket as over an IPv4 one.
#[test]
fn our_handshake_reaches_inet6_tls_nodes() {
    for otp in Otp::available() {
        let files = TlsFiles::generate(&otp);
        let opts = files.verifying_opts("node");
        let optfile = files.optfile("opt", &opts, &opts);
        let peer = BeamPeer::builder()
            .otp(otp.clone())
            .tls(optfile)
            .proto_dist("inet6_tls")
            .start();
        let addr = ipv6_address(&peer);
        let socket = TcpStream::connect(addr).unwrap();
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        let config = crate::tls::TlsConfig::new(
            files.path("node.pem"),
            files.path("node.key"),
            files.path("ca.pem"),
        );
        let host = peer.node().split_once('@').unwrap().1;
        let stream = crate::tls::stream::TlsStream::connect(
            socket,
            &config.client().unwrap(),
            host,
            peer.node(),
        )
        .unwrap_or_else(|e| panic!("{otp}: {e}"));
        let name = format!("{}@{}", random_name("erldp_v6_"), short_hostname());
        let outcome = handshake::initiate(
            &mut &stream,
            Framing::Tls,
            &local(&name, peer.cookie()),
            peer.node(),
            || true,
        )
        .unwrap_or_else(|e| panic!("{otp}: {e}"));
        assert!(matches!(outcome, Outcome::Connected(_)), "{otp}");
    }
}
