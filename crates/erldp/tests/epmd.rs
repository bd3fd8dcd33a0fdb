//! EPMD client and embedded server against real peers: OTP's `epmd` and
//! `erl`, started here on random free ports of the loopback interface, so
//! nothing depends on a system EPMD on port 4369.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use erldp::epmd::{self, EpmdServer, NodeInfo, NODE_TYPE_HIDDEN, NODE_TYPE_NORMAL};
use erldp::Error;
use erldp_testkit::{BeamPeer, Otp};

const TIMEOUT: Duration = Duration::from_secs(5);
/// Long enough for a BEAM to boot and register on a loaded machine.
const ERL_BOOT: Duration = Duration::from_secs(20);

/// A child process that is killed when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A name no other test (or earlier run) uses.
fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A port nothing listens on, for a program to bind or for a client to
/// find closed. It is taken below the ephemeral range (32768 and up on
/// Linux), where neither `bind(0)` in concurrent tests nor the source ports
/// of their connections land, so it stays free after this check.
fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let start = (std::process::id() ^ nanos) % 20_000;
    (0..20_000)
        .map(|i| 10_000 + (start + NEXT.fetch_add(1, Ordering::Relaxed) + i) % 20_000)
        .map(|port| port as u16)
        .find(|&port| TcpListener::bind(("0.0.0.0", port)).is_ok())
        .expect("a free port below 30000")
}

/// A listening socket whose port a test registers as a node's port.
fn listen() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// An embedded EPMD server with `name` of ours registered in it (hidden), on a port that
/// listens; the registration holds while the returned guard lives.
fn embedded_with(name: &str) -> (EpmdServer, u16, (TcpListener, epmd::Registration)) {
    let server = EpmdServer::start(0).unwrap();
    let (listener, listen_port) = listen();
    let registration = epmd::register(server.port(), name, listen_port, true, TIMEOUT).unwrap();
    (server, listen_port, (listener, registration))
}

/// A node of ours in `EpmdMode::Auto` with the EPMD port `epmd_port`.
fn auto_node(epmd_port: u16) -> erldp::Node {
    erldp::Node::builder(format!("{}@localhost", unique("auto")))
        .cookie("secret")
        .epmd(erldp::EpmdMode::Auto)
        .epmd_port(epmd_port)
        .start()
        .unwrap()
}

/// Polls `check` until it holds or `limit` passes.
fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

fn names_at(port: u16) -> Vec<(String, u16)> {
    epmd::names("127.0.0.1", port, TIMEOUT).unwrap()
}

fn registered(port: u16, name: &str) -> bool {
    names_at(port).iter().any(|(n, _)| n == name)
}

/// OTP's `epmd` on a free port.
fn start_epmd() -> (KillOnDrop, u16) {
    let port = free_port();
    let child = Command::new("epmd")
        .args(["-port", &port.to_string(), "-address", "127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("epmd (erlang-base) must be installed");
    let child = KillOnDrop(child);
    wait_until(TIMEOUT, "epmd answers", || {
        epmd::alive(port, Duration::from_millis(500))
    });
    (child, port)
}

/// A BEAM node `erl -sname <name>` using the EPMD on `epmd_port`; its
/// standard output arrives line by line on the receiver.
fn start_erl(name: &str, epmd_port: u16, eval: &str) -> (KillOnDrop, mpsc::Receiver<String>) {
    let mut child = Command::new("erl")
        .args([
            "-sname",
            name,
            "-setcookie",
            &unique("cookie"),
            "-noshell",
            "-start_epmd",
            "false",
        ])
        .args(["-eval", eval])
        .env("ERL_EPMD_PORT", epmd_port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("erl (erlang-base) must be installed");
    let stdout = child.stdout.take().unwrap();
    let (lines, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (KillOnDrop(child), receiver)
}

fn expect_line(lines: &mpsc::Receiver<String>, prefix: &str) -> String {
    let deadline = Instant::now() + ERL_BOOT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.starts_with(prefix) => return line,
            Ok(_) => {}
            Err(err) => panic!("no line starting with {prefix:?} from erl: {err}"),
        }
    }
}

#[test]
fn client_against_real_epmd() {
    let (_epmd, port) = start_epmd();
    let name = unique("rs");
    let (_listener, listen_port) = listen();

    let registration = epmd::register(port, &name, listen_port, true, TIMEOUT).unwrap();
    assert_ne!(registration.creation(), 0);
    assert_eq!(registration.name(), name);

    let expected = NodeInfo {
        port: listen_port,
        node_type: NODE_TYPE_HIDDEN,
        protocol: 0,
        highest_version: 6,
        lowest_version: 5,
        name: name.clone(),
        extra: Vec::new(),
    };
    assert_eq!(
        epmd::port_please("127.0.0.1", port, &name, TIMEOUT).unwrap(),
        expected
    );
    assert_eq!(
        epmd::port_please("localhost", port, &name, TIMEOUT).unwrap(),
        expected
    );
    assert!(names_at(port).contains(&(name.clone(), listen_port)));

    let visible = unique("rs_visible");
    let visible_registration = epmd::register(port, &visible, listen_port, false, TIMEOUT).unwrap();
    let info = epmd::port_please("127.0.0.1", port, &visible, TIMEOUT).unwrap();
    assert_eq!(info.node_type, NODE_TYPE_NORMAL);
    drop(visible_registration);

    match epmd::register(port, &name, listen_port, true, TIMEOUT) {
        Err(Error::NameTaken {
            name: taken,
            reason,
        }) => {
            assert_eq!(taken, name);
            assert!(reason.contains("already registered"), "{reason}")
        }
        other => panic!("a second registration of {name} gave {other:?}"),
    }

    let nobody = unique("nobody");
    match epmd::port_please("127.0.0.1", port, &nobody, TIMEOUT) {
        Err(err @ Error::NodeNotFound { .. }) => {
            assert!(
                err.to_string()
                    .contains(&format!("{nobody} is not registered")),
                "{err}"
            )
        }
        other => panic!("port_please of an unknown name gave {other:?}"),
    }

    drop(registration);
    wait_until(TIMEOUT, "the dropped registration is gone", || {
        !registered(port, &name)
    });
    match epmd::port_please("127.0.0.1", port, &name, TIMEOUT) {
        Err(err @ Error::NodeNotFound { .. }) => {
            let message = err.to_string();
            assert!(message.contains(&name), "{message}");
            assert!(message.contains("not registered"), "{message}");
            assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
        }
        other => panic!("port_please after unregistering gave {other:?}"),
    }
}

#[test]
fn client_errors_name_their_cause() {
    let silent = free_port();
    match epmd::port_please("127.0.0.1", silent, "anyone", TIMEOUT) {
        Err(err @ Error::NodeNotFound { .. }) => {
            let message = err.to_string();
            assert!(
                message.contains(&format!("no EPMD answers at 127.0.0.1:{silent}")),
                "{message}"
            );
        }
        other => panic!("port_please with nothing listening gave {other:?}"),
    }
    assert!(matches!(
        epmd::names("127.0.0.1", silent, TIMEOUT),
        Err(Error::Connection { .. })
    ));
    assert!(matches!(
        epmd::register(silent, "anyone", 1, true, TIMEOUT),
        Err(Error::Connection { .. })
    ));
    assert!(!epmd::alive(silent, TIMEOUT));

    match epmd::port_please("no-such-host.invalid", 4369, "anyone", TIMEOUT) {
        Err(err @ Error::NodeNotFound { .. }) => {
            let message = err.to_string();
            assert!(
                message.contains("host no-such-host.invalid cannot be resolved"),
                "{message}"
            );
        }
        other => panic!("port_please on an unknown host gave {other:?}"),
    }

    assert!(matches!(
        epmd::port_please("127.0.0.1", silent, "a@b", TIMEOUT),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        epmd::register(silent, "", 1, true, TIMEOUT),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn client_times_out_on_a_silent_epmd() {
    // Accepts connections (the kernel does, into the backlog) but never answers.
    let (_silent, port) = listen();
    let result = epmd::port_please("127.0.0.1", port, "anyone", Duration::from_millis(300));
    assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
    assert!(!epmd::alive(port, Duration::from_millis(300)));
}

#[test]
fn real_erl_is_found_in_real_epmd() {
    let (_epmd, port) = start_epmd();
    let name = unique("erl");
    let (_erl, _lines) = start_erl(&name, port, "ok");
    wait_until(ERL_BOOT, "erl registers", || registered(port, &name));

    let info = epmd::port_please("127.0.0.1", port, &name, TIMEOUT).unwrap();
    assert_eq!(info.name, name);
    assert_eq!(info.node_type, NODE_TYPE_NORMAL);
    assert!(info.highest_version >= 6);
    assert!(names_at(port).contains(&(name.clone(), info.port)));
    TcpStream::connect(("127.0.0.1", info.port)).expect("erl's distribution port accepts TCP");
}

#[test]
fn real_erl_uses_the_embedded_server() {
    let ours = unique("rs");
    let (server, listen_port, _registered) = embedded_with(&ours);
    let port = server.port();

    // erl waits until its own EPMD listing shows both nodes, then prints
    // the listing and its own lookup of our node.
    let erl_name = unique("erl");
    let eval = format!(
        r#"Want = ["{ours}", "{erl_name}"],
           Wait = fun W(0) -> timeout;
                      W(N) -> case net_adm:names() of
                                  {{ok, Ns}} -> case [X || X <- Want, not lists:keymember(X, 1, Ns)] of
                                                   [] -> ok;
                                                   _ -> timer:sleep(100), W(N - 1)
                                               end;
                                  _ -> timer:sleep(100), W(N - 1)
                              end
                  end,
           io:format("WAIT ~w~n", [Wait(150)]),
           {{ok, Names}} = net_adm:names(),
           [io:format("NAME ~s ~w~n", [N, P]) || {{N, P}} <- Names],
           io:format("PORT ~w~n", [erl_epmd:port_please("{ours}", {{127,0,0,1}})])."#
    );
    let (erl, lines) = start_erl(&erl_name, port, &eval);
    wait_until(ERL_BOOT, "erl registers in the embedded server", || {
        server.names().iter().any(|(n, _)| *n == erl_name)
    });
    let erl_port = epmd::port_please("127.0.0.1", port, &erl_name, TIMEOUT)
        .unwrap()
        .port;
    TcpStream::connect(("127.0.0.1", erl_port)).expect("erl's distribution port accepts TCP");
    assert!(names_at(port).contains(&(erl_name.clone(), erl_port)));

    assert_eq!(expect_line(&lines, "WAIT"), "WAIT ok");
    let mut listed = Vec::new();
    loop {
        let line = expect_line(&lines, "");
        if let Some(entry) = line.strip_prefix("NAME ") {
            listed.push(entry.to_owned());
        } else {
            assert_eq!(line, format!("PORT {{port,{listen_port},6}}"));
            break;
        }
    }
    assert!(
        listed.contains(&format!("{ours} {listen_port}")),
        "{listed:?}"
    );
    assert!(
        listed.contains(&format!("{erl_name} {erl_port}")),
        "{listed:?}"
    );

    match epmd::register(port, &ours, listen_port, true, TIMEOUT) {
        Err(Error::NameTaken { reason, .. }) => {
            assert!(reason.contains("already registered"), "{reason}")
        }
        other => panic!("a second registration of {ours} gave {other:?}"),
    }

    drop(erl);
    wait_until(TIMEOUT, "erl's name goes when erl exits", || {
        !server.names().iter().any(|(n, _)| *n == erl_name)
    });
    assert!(!registered(port, &erl_name));
    assert!(registered(port, &ours));
}

/// Sends one request to the server and reads until it closes.
fn raw_request(port: u16, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut packet = (request.len() as u16).to_be_bytes().to_vec();
    packet.extend_from_slice(request);
    stream.write_all(&packet).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    reply
}

/// Registers `name` (port 0x1000) over a raw connection; returns it and the reply.
fn register_raw(port: u16, name: &str, highest_version: u16) -> (TcpStream, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let request = alive2_request(name, highest_version);
    let mut packet = (request.len() as u16).to_be_bytes().to_vec();
    packet.extend_from_slice(&request);
    stream.write_all(&packet).unwrap();
    let mut reply = vec![0; if highest_version >= 6 { 6 } else { 4 }];
    stream.read_exact(&mut reply).unwrap();
    (stream, reply)
}

fn alive2_request(name: &str, highest_version: u16) -> Vec<u8> {
    let mut request = vec![120, 0x10, 0x00, 77, 0];
    request.extend_from_slice(&highest_version.to_be_bytes());
    request.extend_from_slice(&5u16.to_be_bytes());
    request.extend_from_slice(&(name.len() as u16).to_be_bytes());
    request.extend_from_slice(name.as_bytes());
    request.extend_from_slice(&[0, 0]);
    request
}

#[test]
fn embedded_server_answers_like_epmd() {
    let server = EpmdServer::start(0).unwrap();
    let port = server.port();

    // A version-5 node gets the old reply with a 1..=3 creation, and the
    // connection stays open as its registration.
    let old = unique("old");
    let (registration, reply) = register_raw(port, &old, 5);
    assert_eq!(reply[..2], [121, 0]);
    assert!(
        (1..=3).contains(&u16::from_be_bytes([reply[2], reply[3]])),
        "{reply:?}"
    );
    assert_eq!(
        epmd::port_please("127.0.0.1", port, &old, TIMEOUT)
            .unwrap()
            .port,
        0x1000
    );

    // A taken name is refused with result 1, in the reply the client understands.
    assert_eq!(raw_request(port, &alive2_request(&old, 6))[..2], [118, 1]);
    assert_eq!(raw_request(port, &alive2_request(&old, 5))[..2], [121, 1]);

    let mut names = u32::from(port).to_be_bytes().to_vec();
    names.extend_from_slice(format!("name {old} at port 4096\n").as_bytes());
    assert_eq!(raw_request(port, &[110]), names);

    let dump = raw_request(port, &[100]);
    assert_eq!(dump[..4], u32::from(port).to_be_bytes());
    let dump = String::from_utf8(dump[4..].to_vec()).unwrap();
    assert!(
        dump.starts_with(&format!("active name     <{old}> at port 4096, fd = ")),
        "{dump:?}"
    );
    assert!(dump.ends_with("\n\0"), "{dump:?}");

    // The host program cannot be killed from outside.
    assert_eq!(raw_request(port, &[107]), b"NO");
    assert!(epmd::alive(port, TIMEOUT));

    // Nor can anyone end a registration but its own connection: as a default
    // `epmd` (no -relaxed_command_check) does, STOP gets no answer. Else any
    // local user could unregister a node and register its name elsewhere.
    assert_eq!(raw_request(port, b"snobody"), b"");
    assert_eq!(raw_request(port, format!("s{old}").as_bytes()), b"");
    assert_eq!(server.names(), vec![(old.clone(), 0x1000)]);
    drop(registration);
    erldp_testkit::eventually("the closed registration to go", || {
        server.names().is_empty()
    });

    // A version-6 registration gets a 32-bit creation, never 0.
    let new = unique("new");
    let (mut registration, reply) = register_raw(port, &new, 6);
    assert_eq!(reply[..2], [118, 0]);
    assert_ne!(
        u32::from_be_bytes([reply[2], reply[3], reply[4], reply[5]]),
        0
    );
    // Anything sent on a registration connection ends it, as with epmd.
    registration.write_all(b"x").unwrap();
    wait_until(TIMEOUT, "the registration ends", || {
        server.names().is_empty()
    });
}

#[test]
fn embedded_server_survives_garbage() {
    let keeper = unique("keeper");
    let (server, listen_port, _registered) = embedded_with(&keeper);
    let port = server.port();

    // A client that sends half a request and then says nothing must not
    // keep others from being served.
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    silent.write_all(&[0, 20, 120, 1, 2]).unwrap();

    let mut seed = u64::from(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos(),
    ) | 1;
    println!("garbage seed: {seed}");
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut inputs: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![0, 0],
        vec![0xff, 0xff],
        vec![0xff, 0xff, 120, 1, 2, 3],
        vec![0, 1, 99],
        vec![0, 1, 122],
        vec![0, 2, 122, 0],
        vec![0, 4, 122, b'a', 0, b'b'],
        vec![0, 3, 122, 0xc3, 0x28],
        vec![0, 14, 120, 0, 1, 77, 0, 0, 6, 0, 5, 0xff, 0xff, b'a', 0, 0],
        vec![0, 14, 120, 0, 1, 77, 0, 0, 6, 0, 5, 0, 1, 0, 0, 0],
        vec![0, 13, 120, 0, 1, 77, 0, 0, 6, 0, 5, 0, 1, b'a', 0xff],
        vec![0, 1, 115],
    ];
    for tag in [120, 122, 110, 100, 107, 115, 0, 255] {
        for _ in 0..20 {
            let len = (random() % 64) as usize;
            let mut body: Vec<u8> = (0..len).map(|_| random() as u8).collect();
            body.insert(0, tag);
            let declared = if random() % 2 == 0 {
                body.len()
            } else {
                (random() % 0x1_0000) as usize
            };
            let mut input = (declared as u16).to_be_bytes().to_vec();
            input.extend_from_slice(&body);
            inputs.push(input);
        }
    }
    for _ in 0..100 {
        let len = (random() % 3000) as usize;
        inputs.push((0..len).map(|_| random() as u8).collect());
    }
    for input in &inputs {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // The server may close before reading everything; that is its right.
        let _ = stream.write_all(input);
        let _ = stream.shutdown(Shutdown::Write);
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
    }

    // A length prefix beyond any request closes the connection at once.
    let mut huge = TcpStream::connect(("127.0.0.1", port)).unwrap();
    huge.write_all(&[0xff, 0xff, 120]).unwrap();
    huge.set_read_timeout(Some(TIMEOUT)).unwrap();
    // Closing with our byte unread makes the kernel send a reset.
    match huge.read(&mut [0; 1]) {
        Ok(0) => {}
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("a huge length prefix gave {other:?}"),
    }

    assert_eq!(
        epmd::port_please("127.0.0.1", port, &keeper, TIMEOUT)
            .unwrap()
            .port,
        listen_port
    );
    assert_eq!(server.names(), vec![(keeper.clone(), listen_port)]);
    let later = unique("later");
    let _later = epmd::register(port, &later, listen_port, false, TIMEOUT).unwrap();
    assert!(registered(port, &later) && registered(port, &keeper));
    drop(silent);
}

#[test]
fn ensure_running_starts_one_server_per_port() {
    assert!(matches!(
        epmd::ensure_running(0),
        Err(Error::InvalidArgument(_))
    ));

    let port = free_port();
    let starters: Vec<_> = (0..8)
        .map(|_| thread::spawn(move || epmd::ensure_running(port).unwrap()))
        .collect();
    let started = starters.into_iter().map(|starter| starter.join().unwrap());
    assert_eq!(
        started.filter(|&started| started).count(),
        1,
        "exactly one thread starts the server"
    );
    assert!(epmd::alive(port, TIMEOUT));
    assert!(!epmd::ensure_running(port).unwrap());

    let name = unique("auto");
    let _registration = epmd::register(port, &name, 1234, true, TIMEOUT).unwrap();
    assert_eq!(
        epmd::port_please("127.0.0.1", port, &name, TIMEOUT)
            .unwrap()
            .port,
        1234
    );

    // An EPMD of another process is used, not replaced.
    let (_epmd, real) = start_epmd();
    assert!(!epmd::ensure_running(real).unwrap());
}

#[test]
fn ensure_running_reports_a_port_taken_by_something_else() {
    let squatter = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = squatter.local_addr().unwrap().port();
    // Answers every connection by closing it: not an EPMD.
    thread::spawn(move || {
        for conn in squatter.incoming() {
            drop(conn);
        }
    });
    match epmd::ensure_running(port) {
        Err(err @ Error::Connection { .. }) => {
            assert!(err.to_string().contains("does not answer as EPMD"), "{err}")
        }
        other => panic!("ensure_running on a squatted port gave {other:?}"),
    }
}

#[test]
fn dropping_the_server_frees_its_port_and_ends_registrations() {
    let server = EpmdServer::start(0).unwrap();
    let port = server.port();
    let (mut registration, _) = register_raw(port, &unique("gone"), 6);
    drop(server);
    registration.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(
        registration.read(&mut [0; 1]).unwrap(),
        0,
        "the registration connection is closed"
    );
    assert!(!epmd::alive(port, TIMEOUT));
    EpmdServer::start(port).expect("the port is free again");
}

/// With no EPMD running, a node in `EpmdMode::Auto` starts one of its own;
/// a node it then cannot find is reported as missing from *that* EPMD,
/// which knows only nodes started after it. OTP's epmd gives the plain
/// message.
#[test]
fn a_lookup_in_our_own_embedded_epmd_says_so() {
    let port = free_port();
    let node = auto_node(port);
    assert!(epmd::alive(port, TIMEOUT), "auto mode started an EPMD");
    let missing = format!("{}@localhost", unique("missing"));
    match node.connect(&missing) {
        Err(Error::NodeNotFound { node: name, reason }) => {
            assert_eq!(name, missing);
            assert!(
                reason.contains("is not registered in EPMD at localhost:")
                    && reason.contains("the EPMD this program started itself")
                    && reason.contains("only nodes started after it"),
                "{reason}"
            );
        }
        other => panic!("connecting to {missing} gave {other:?}"),
    }
    node.close();

    let (_epmd, otp_port) = start_epmd();
    let node = auto_node(otp_port);
    match node.connect(&missing) {
        Err(Error::NodeNotFound { reason, .. }) => {
            assert!(reason.contains("is not registered in EPMD at"), "{reason}");
            assert!(!reason.contains("started itself"), "{reason}");
        }
        other => panic!("connecting to {missing} gave {other:?}"),
    }
    node.close();
}

/// `inet6_tcp` nodes register at `[::1]` (erl_epmd opens `{0,0,0,0,0,0,0,1}` for them), with
/// the same fields as `inet_tcp` nodes: EPMD has no field for the address family, so one
/// server on both families holds both kinds, and either family's clients find them.
#[test]
fn inet6_nodes_register_in_the_embedded_server_like_ipv4_ones() {
    for otp in Otp::available() {
        let server = EpmdServer::start(0).unwrap();
        let port = server.port().to_string();
        let v6 = BeamPeer::builder()
            .otp(otp.clone())
            .proto_dist("inet6_tcp")
            .env("ERL_EPMD_PORT", &port)
            .start();
        let mut v4 = BeamPeer::builder()
            .otp(otp.clone())
            .env("ERL_EPMD_PORT", &port)
            .start();
        let name_of = |peer: &BeamPeer| peer.node().split_once('@').unwrap().0.to_string();
        let (v6_name, v4_name) = (name_of(&v6), name_of(&v4));
        let names = server.names();
        assert!(names.iter().any(|(n, _)| *n == v6_name), "{otp}: {names:?}");

        let over_v6 = epmd::port_please("::1", server.port(), &v6_name, TIMEOUT).unwrap();
        let over_v4 = epmd::port_please("127.0.0.1", server.port(), &v6_name, TIMEOUT).unwrap();
        assert_eq!(over_v6, over_v4, "{otp}");
        let plain = epmd::port_please("::1", server.port(), &v4_name, TIMEOUT).unwrap();
        let fields = |info: &NodeInfo| {
            (
                info.node_type,
                info.protocol,
                info.highest_version,
                info.lowest_version,
                info.extra.clone(),
            )
        };
        assert_eq!(fields(&over_v6), fields(&plain), "{otp}");
        assert_eq!(
            fields(&over_v6),
            (NODE_TYPE_NORMAL, 0, 6, 5, vec![]),
            "{otp}"
        );
        // The inet6 node listens on IPv6.
        TcpStream::connect(("::1", over_v6.port)).expect("the inet6 node's port on ::1");

        // BEAM's own EPMD client asks the server over IPv6 too.
        let listed = v4.eval_ok(
            "{ok, Names} = erl_epmd:names({0,0,0,0,0,0,0,1}), lists:sort([N || {N, _} <- Names])",
        );
        assert!(
            listed.contains(&format!("\"{v6_name}\"")),
            "{otp}: {listed}"
        );
    }
}

/// Anyone who reaches an embedded EPMD may connect without a cookie, and each connection is a
/// file descriptor of the host program: one address that is not the server's host gets at
/// most `max_per_address` at once, and everyone together `max_connections` (registrations
/// included); a connection past either is closed at once, and a place is free again as soon
/// as a connection ends. Needs two hosts, since every address of the server's own host is
/// local to it.
#[test]
fn connections_to_an_embedded_epmd_are_bounded_per_address_and_in_all() {
    use erldp::epmd::ServerLimits;
    use erldp_testkit::Network;

    if !Network::available() {
        eprintln!("skipped: network namespaces need root and ip");
        return;
    }
    let net = Network::new(2);
    let (server_host, client_host) = (net.host(0), net.host(1));
    let limits = ServerLimits {
        max_connections: 5,
        max_per_address: 2,
        request_timeout: Duration::from_secs(30),
    };
    let server = server_host.run(move || EpmdServer::start_with(0, limits).expect("starts"));
    let remote = (server_host.addr(), server.port());
    let local = ("127.0.0.1", server.port());

    // Whether the server closes `stream` within `within`, rather than leaving it open and
    // waiting for a request (it writes nothing before one, nor after a registration's reply).
    fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
        stream.set_read_timeout(Some(within)).unwrap();
        match stream.read(&mut [0u8; 16]) {
            Ok(0) => true,
            Ok(_) => panic!("the server wrote unasked"),
            Err(err) => !matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }
    let refused = |stream: &mut TcpStream| closed_within(stream, TIMEOUT);
    let kept = |stream: &mut TcpStream| !closed_within(stream, Duration::from_millis(500));
    let connect = |host: &erldp_testkit::Host, to: (String, u16)| {
        host.run(move || TcpStream::connect((to.0.as_str(), to.1)).expect("connect"))
    };
    let from_afar = || connect(client_host, (remote.0.to_string(), remote.1));
    let from_here = || connect(server_host, (local.0.to_string(), local.1));

    let mut afar: Vec<TcpStream> = (0..2).map(|_| from_afar()).collect();
    assert!(
        refused(&mut from_afar()),
        "a third connection from one address stayed open"
    );
    for stream in &mut afar {
        assert!(
            kept(stream),
            "a connection within max_per_address was closed"
        );
    }
    // A registration holds its connection, and counts with the rest.
    let port = server.port();
    let (registration, reply) = server_host.run(move || register_raw(port, "held", 6));
    assert_eq!(reply[..2], [118, 0], "registered");
    let mut here = vec![registration, from_here(), from_here()];
    assert!(refused(&mut from_here()), "a sixth connection stayed open");
    for stream in &mut here {
        assert!(
            kept(stream),
            "a connection within max_connections was closed"
        );
    }

    // A place is free again once a connection ends: the remote host is answered.
    drop(afar.pop());
    let names = client_host.run(move || {
        erldp_testkit::eventually_some("a free place for the remote host", || {
            epmd::names(&remote.0.to_string(), remote.1, TIMEOUT).ok()
        })
    });
    assert_eq!(names, vec![("held".to_string(), 0x1000)]);
    drop((afar, here));
    erldp_testkit::eventually("the registration gone with its connection", || {
        server.names().is_empty()
    });
}
