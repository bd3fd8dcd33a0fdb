//! The host part of node names, as `erl` picks it: the short host name for
//! [`-sname`](https://www.erlang.org/doc/apps/erts/erl_cmd.html#sname), the
//! fully qualified one for
//! [`-name`](https://www.erlang.org/doc/apps/erts/erl_cmd.html#name).

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
    fully_qualified_hostname().unwrap_or_else(hostname)
}

/// The fully qualified host name, when the host name has a dot or the
/// resolver knows its canonical name with one.
pub(crate) fn fully_qualified_hostname() -> Option<String> {
    let full = hostname();
    if full.contains('.') {
        return Some(full);
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
        return None;
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
    canonical.filter(|name| name.contains('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_hostname_has_no_dot() {
        let host = short_hostname();
        assert!(!host.is_empty());
        assert!(!host.contains('.'));
    }
}
