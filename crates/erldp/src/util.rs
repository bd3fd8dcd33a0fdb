//! Small host facts the node needs: randomness, the host name, the cookie file.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::{Error, Result};

/// A hash map for the node's own tables (processes by id, names, requests by
/// reference). A peer cannot pick keys that collide — long atoms hash by
/// their interned address, short ones by their bytes mixed with a key
/// chosen per process, references carry our counter — so the std SipHash (a
/// fifth of an rpc's instructions went into it) buys nothing.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// The multiply-rotate hash of rustc's FxHasher.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0xf135_7aea_2e62_a9c5);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The product's high bits are the well-mixed ones; the table takes
        // its bucket from the low bits.
        self.0.rotate_left(26)
    }
}

/// Fills `buf` from the kernel's CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) {
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

/// The machine's host name as `gethostname(2)` reports it.
pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its whole length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The host part of a short node name: the host name up to its first dot,
/// as `erl -sname` uses.
pub fn short_hostname() -> String {
    let full = hostname();
    full.split('.').next().unwrap_or(&full).to_string()
}

/// The host part of a long node name: the fully qualified host name when
/// the resolver knows one, else the host name itself.
pub fn long_hostname() -> String {
    let full = hostname();
    if full.contains('.') {
        return full;
    }
    let node = std::ffi::CString::new(full.clone()).unwrap_or_default();
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
        return full;
    }
    // SAFETY: getaddrinfo succeeded, so result points to a valid list.
    let canonical = unsafe {
        let name = (*result).ai_canonname;
        let text = if name.is_null() {
            None
        } else {
            Some(
                std::ffi::CStr::from_ptr(name)
                    .to_string_lossy()
                    .into_owned(),
            )
        };
        libc::freeaddrinfo(result);
        text
    };
    match canonical {
        Some(name) if name.contains('.') => name,
        _ => full,
    }
}

/// The path of the cookie file `erl` uses: `$HOME/.erlang.cookie`.
pub fn cookie_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".erlang.cookie"))
}

/// Reads `$HOME/.erlang.cookie`, creating it the way `erl` does (20 random
/// upper-case letters, mode 0400) when it does not exist.
pub fn default_cookie() -> Result<String> {
    let path = cookie_path().ok_or_else(|| {
        Error::invalid("no cookie given and $HOME is not set, so ~/.erlang.cookie cannot be used")
    })?;
    match fs::read_to_string(&path) {
        Ok(text) => {
            let cookie = text.trim().to_string();
            if cookie.is_empty() {
                Err(Error::invalid(format!(
                    "the cookie file {} is empty",
                    path.display()
                )))
            } else {
                Ok(cookie)
            }
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 20];
            fill_random(&mut bytes);
            let cookie: String = bytes.iter().map(|b| (b'A' + b % 26) as char).collect();
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o400)
                .open(&path)
                .map_err(|err| {
                    Error::io(
                        format_args!("cannot create the cookie file {}", path.display()),
                        &err,
                    )
                })?;
            file.write_all(cookie.as_bytes())?;
            Ok(cookie)
        }
        Err(err) => Err(Error::io(
            format_args!("cannot read the cookie file {}", path.display()),
            &err,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn randomness_varies() {
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        fill_random(&mut a);
        fill_random(&mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn fast_map_spreads_aligned_keys() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<FastHasher>::default();
        let buckets: std::collections::HashSet<u64> = (0..64u64)
            .map(|i| build.hash_one(0x7f00_0000_1000 + i * 16) & 63)
            .collect();
        assert!(buckets.len() > 32, "{} of 64 buckets used", buckets.len());
    }

    #[test]
    fn short_hostname_has_no_dot() {
        let host = short_hostname();
        assert!(!host.is_empty());
        assert!(!host.contains('.'));
    }
}
