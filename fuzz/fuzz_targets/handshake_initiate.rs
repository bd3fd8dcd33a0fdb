//! The initiating side of the handshake towards `peer@localhost`, against
//! whatever the accepting side answers: the first byte says whether the
//! attempt is still wanted when the answer is `alive`, the rest is what
//! the acceptor writes before it stops writing.
#![no_main]

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::LazyLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;

static LISTENER: LazyLock<TcpListener> =
    LazyLock::new(|| TcpListener::bind("127.0.0.1:0").expect("listening"));

fuzz_target!(|data: &[u8]| {
    let Some((&wanted, answers)) = data.split_first() else {
        return;
    };
    let mut ours = TcpStream::connect(LISTENER.local_addr().expect("address")).expect("connect");
    let (mut theirs, _) = LISTENER.accept().expect("accept");
    ours.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    ours.set_write_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    theirs
        .write_all(answers)
        .expect("writing the acceptor's bytes");
    theirs.shutdown(Shutdown::Write).expect("shutdown");
    let _ = erldp::fuzzing::handshake_initiate(&mut ours, "peer@localhost", wanted & 1 == 1);
});
