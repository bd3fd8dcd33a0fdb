//! The accepting side of the handshake, against whatever a connecting
//! client sends: the first byte picks how the node admits the peer, the
//! rest is what the client writes before it stops writing.
#![no_main]

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::LazyLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;

static LISTENER: LazyLock<TcpListener> =
    LazyLock::new(|| TcpListener::bind("127.0.0.1:0").expect("listening"));

fuzz_target!(|data: &[u8]| {
    let Some((&choice, sent)) = data.split_first() else {
        return;
    };
    let mut client = TcpStream::connect(LISTENER.local_addr().expect("address")).expect("connect");
    let (mut server, _) = LISTENER.accept().expect("accept");
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    server
        .set_write_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    client.write_all(sent).expect("writing the client's bytes");
    client.shutdown(Shutdown::Write).expect("shutdown");
    let _ = erldp::fuzzing::handshake_accept(&mut server, choice);
});
