//! The cookie file `erl` uses when no cookie is given, `$HOME/.erlang.cookie`
//! (see [`auth`](https://www.erlang.org/doc/apps/kernel/auth.html) and
//! [Distributed Erlang, Security](https://www.erlang.org/doc/system/distributed.html#security)),
//! and [`Secret`], what a cookie given in the options is held as.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::{random, Error, Result};

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
            random::fill(&mut bytes);
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

/// A cookie, or another secret among the options (a key's password): its `Debug` prints
/// `"<hidden>"`, so that the options holding one derive a `Debug` that leaves it out.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    pub(crate) fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt("<hidden>", f)
    }
}
