//! The EPMD client (`port_please`, `names`, `register`, `alive`) against
//! whatever an EPMD answers: the first byte picks the request, the rest is
//! the reply a fake EPMD writes before it closes the connection.
#![no_main]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{LazyLock, Mutex};
use std::thread;
use std::time::Duration;

use erldp::epmd;
use libfuzzer_sys::fuzz_target;

const TIMEOUT: Duration = Duration::from_secs(2);

/// The reply the fake EPMD gives its next client.
static REPLY: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// The fake EPMD's port. One thread serves every input: a thread per input
/// would leave LeakSanitizer thread-local bookkeeping to flag.
static FAKE_EPMD: LazyLock<u16> = LazyLock::new(|| {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listening");
    let port = listener.local_addr().expect("address").port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let reply = std::mem::take(&mut *REPLY.lock().unwrap_or_else(|e| e.into_inner()));
            let _ = stream.set_read_timeout(Some(TIMEOUT));
            // The request: a 2-byte length and that many bytes.
            let mut len = [0u8; 2];
            if stream.read_exact(&mut len).is_ok() {
                let mut body = vec![0; usize::from(u16::from_be_bytes(len))];
                let _ = stream.read_exact(&mut body);
            }
            let _ = stream.write_all(&reply);
        }
    });
    port
});

fuzz_target!(|data: &[u8]| {
    let Some((&request, reply)) = data.split_first() else {
        return;
    };
    let port = *FAKE_EPMD;
    *REPLY.lock().unwrap_or_else(|e| e.into_inner()) = reply.to_vec();
    match request % 4 {
        0 => drop(epmd::port_please("127.0.0.1", port, "fuzz", TIMEOUT)),
        1 => drop(epmd::names("127.0.0.1", port, TIMEOUT)),
        2 => drop(epmd::register(
            port,
            "fuzz",
            4370,
            request & 4 != 0,
            TIMEOUT,
        )),
        _ => drop(epmd::alive(port, TIMEOUT)),
    }
});
