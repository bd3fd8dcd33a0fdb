//! The EPMD that a node runs inside the program (`epmd: auto` with no
//! EPMD running) against whatever a client sends: the bytes are written to
//! it, then the client stops writing and reads the answer until the server
//! closes. The server must serve the next client.
#![no_main]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::LazyLock;
use std::time::Duration;

use erldp::epmd::EpmdServer;
use libfuzzer_sys::fuzz_target;

static SERVER: LazyLock<EpmdServer> =
    LazyLock::new(|| EpmdServer::start(0).expect("starting the embedded EPMD"));

fuzz_target!(|data: &[u8]| {
    let mut client = TcpStream::connect(("127.0.0.1", SERVER.port())).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    if client.write_all(data).is_ok() {
        let _ = client.shutdown(Shutdown::Write);
        let mut answer = Vec::new();
        let _ = client.read_to_end(&mut answer);
    }
});
