//! The node's one source of randomness: the kernel's CSPRNG
//! ([getrandom(2)](https://man7.org/linux/man-pages/man2/getrandom.2.html)).
//!
//! Handshake challenges must not be predictable, and creations and
//! reference salts must differ between runs; one generator serves all of
//! them.

use std::fs;
use std::io::Read;

/// Fills `buf` from the kernel's CSPRNG.
pub(crate) fn fill(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n > 0 {
            filled += n as usize;
        } else if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            // getrandom(2) cannot fail on Linux ≥ 3.17 once the pool is
            // initialised; fall back to the device if it is unavailable.
            if let Ok(mut dev) = fs::File::open("/dev/urandom") {
                if dev.read_exact(&mut buf[filled..]).is_ok() {
                    return;
                }
            }
            panic!("no source of randomness available");
        }
    }
}

/// A random 32-bit number.
pub(crate) fn u32() -> u32 {
    let mut bytes = [0u8; 4];
    fill(&mut bytes);
    u32::from_be_bytes(bytes)
}

/// A random 32-bit number that is never 0, for creations and challenges (0
/// is reserved in both).
pub(crate) fn nonzero_u32() -> u32 {
    loop {
        let value = u32();
        if value != 0 {
            return value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn randomness_varies() {
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        fill(&mut a);
        fill(&mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn nonzero_values_are_never_zero_and_vary() {
        let values: Vec<u32> = (0..64).map(|_| nonzero_u32()).collect();
        assert!(values.iter().all(|&v| v != 0));
        let mut distinct = values.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() > 60, "too many repeats: {values:?}");
    }
}
