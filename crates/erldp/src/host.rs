//! The host part of node names, as `erl` picks it: the short host name for
//! [`-sname`](https://www.erlang.org/doc/apps/erts/erl_cmd.html#sname), the
//! fully qualified one for
//! [`-name`](https://www.erlang.org/doc/apps/erts/erl_cmd.html#name). The fully qualified
//! name asks the resolver, so it is found in [`resolve`](crate::resolve).

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
    short(&hostname()).to_string()
}

/// `full` up to its first dot.
pub(crate) fn short(full: &str) -> &str {
    full.split('.').next().unwrap_or(full)
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
