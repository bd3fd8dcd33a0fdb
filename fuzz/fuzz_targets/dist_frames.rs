//! What a connected peer sends after the handshake: the bytes are the
//! stream, frames with a 4-byte length (0 is a tick), decoded as a
//! connection's reader decodes them, atom cache and fragments included,
//! until one is refused (which ends a real connection).
#![no_main]

use bytes::Bytes;
use erldp::fuzzing::Frames;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut frames = Frames::new(1 << 20);
    let mut rest = data;
    while let Some((len, after)) = rest.split_first_chunk::<4>() {
        let len = (u32::from_be_bytes(*len) as usize).min(after.len());
        let (frame, after) = after.split_at(len);
        rest = after;
        if len > 0 && frames.decode(Bytes::copy_from_slice(frame)).is_err() {
            return;
        }
    }
});
