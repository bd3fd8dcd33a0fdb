//! Which Erlang/OTP a peer runs, and the helper modules compiled for it.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use crate::repo_root;

/// The compatibility chroots `make setup` builds, relative to the repository root.
const DEFAULT_CHROOTS: [&str; 2] = [".otp/otp27", ".otp/otp29"];

/// An Erlang/OTP installation to run peers with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Otp {
    /// `erl` from `PATH` (OTP 25 from Debian 12's `erlang-base`).
    System,
    /// A Debian root file system with `erlang-base` and `erlang-ssl`, run with `chroot DIR erl`
    /// (needs root).
    Chroot(PathBuf),
}

impl Otp {
    /// The system OTP first, then every compatibility chroot that exists: those named in
    /// `ERLDP_OTP_CHROOTS` (directories separated by `:`) or else `.otp/otp27` and `.otp/otp29`.
    ///
    /// `ERLDP_SKIP_OTP_COMPAT=1` leaves the chroots out. `ERLDP_REQUIRE_OTP_COMPAT=1` (set by
    /// `make test`) turns a missing chroot into a panic instead of a silent skip.
    pub fn available() -> Vec<Otp> {
        let mut all = vec![Otp::System];
        if std::env::var("ERLDP_SKIP_OTP_COMPAT").as_deref() == Ok("1") {
            return all;
        }
        let required = std::env::var("ERLDP_REQUIRE_OTP_COMPAT").as_deref() == Ok("1");
        let dirs: Vec<PathBuf> = match std::env::var_os("ERLDP_OTP_CHROOTS") {
            Some(list) => std::env::split_paths(&list)
                .filter(|p| !p.as_os_str().is_empty())
                .collect(),
            None => DEFAULT_CHROOTS
                .iter()
                .map(|d| repo_root().join(d))
                .collect(),
        };
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        for dir in dirs {
            let usable = dir.join("usr/bin/erl").exists() && root;
            if usable {
                all.push(Otp::Chroot(dir.canonicalize().unwrap_or(dir)));
            } else if required {
                panic!(
                    "OTP compatibility chroot {} is {}: run `make setup` as root \
                     (or set ERLDP_SKIP_OTP_COMPAT=1 to test with the system OTP only)",
                    dir.display(),
                    if root {
                        "missing"
                    } else {
                        "unusable without root"
                    }
                );
            }
        }
        all
    }

    /// `erlang:system_info(otp_release)`, e.g. `"27"`. Asked once per installation and process.
    pub fn release(&self) -> String {
        static RELEASES: Mutex<Vec<(Otp, String)>> = Mutex::new(Vec::new());
        let mut known = RELEASES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, release)) = known.iter().find(|(otp, _)| otp == self) {
            return release.clone();
        }
        let out = self
            .command("erl")
            .args([
                "-noshell",
                "-eval",
                "io:put_chars(erlang:system_info(otp_release)), halt().",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| self.missing("erl", e));
        let release = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            out.status.success() && !release.is_empty(),
            "{self:?}: `erl` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        known.push((self.clone(), release.clone()));
        release
    }

    /// A command running `program` (`erl`, `erlc`) of this installation.
    pub(crate) fn command(&self, program: &str) -> Command {
        match self {
            Otp::System => Command::new(program),
            Otp::Chroot(root) => {
                assert!(
                    root.join("usr/bin").join(program).exists(),
                    "{} has no usr/bin/{program}: run `make setup`",
                    root.display()
                );
                let mut cmd = Command::new("chroot");
                cmd.arg(root).arg(program);
                cmd
            }
        }
    }

    /// The path under which programs of this installation see the host path `path`.
    pub(crate) fn inside(&self, path: &Path) -> PathBuf {
        match self {
            Otp::System => path.to_path_buf(),
            Otp::Chroot(root) => {
                let rest = path.strip_prefix(root).unwrap_or_else(|_| {
                    panic!(
                        "{} is outside the chroot {}",
                        path.display(),
                        root.display()
                    )
                });
                Path::new("/").join(rest)
            }
        }
    }

    pub(crate) fn missing(&self, program: &str, err: std::io::Error) -> ! {
        match (self, err.kind()) {
            (Otp::System, std::io::ErrorKind::NotFound) => {
                panic!("`{program}` is not installed (not found in PATH): run `make setup`")
            }
            _ => panic!("cannot run `{program}` of {self:?}: {err} (`make setup` installs OTP)"),
        }
    }
}

impl fmt::Display for Otp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Otp::System => write!(f, "OTP {} (system)", self.release()),
            Otp::Chroot(root) => write!(f, "OTP {} (chroot {})", self.release(), root.display()),
        }
    }
}

/// Compiles `tests/erlang/*.erl` for `otp` and returns the directory holding the `.beam` files
/// (a host path). The system OTP compiles into the cargo target directory, a chroot into its own
/// `/var/tmp/erldp-testkit` with its own `erlc`, as older beams may not load in newer OTP.
///
/// The directory is named after the OTP release and a hash of the sources, and is filled in a
/// private temporary directory that is renamed into place, so that test threads and processes
/// compiling at the same time all end up with one complete directory. Warnings are errors.
pub fn compile_helpers(otp: &Otp) -> PathBuf {
    static DONE: Mutex<Option<HashMap<Otp, PathBuf>>> = Mutex::new(None);
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(ebin) = done.get_or_insert_with(HashMap::new).get(otp) {
        return ebin.clone();
    }

    let src_dir = repo_root().join("tests/erlang");
    let mut sources: Vec<PathBuf> = fs::read_dir(&src_dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", src_dir.display()))
        .map(|entry| entry.expect("reading tests/erlang").path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "erl"))
        .collect();
    sources.sort();
    let release = otp.release();
    let mut hash = Fnv64::new();
    hash.write(release.as_bytes());
    let mut contents = Vec::new();
    for src in &sources {
        let text = fs::read(src).unwrap_or_else(|e| panic!("reading {}: {e}", src.display()));
        hash.write(src.file_name().unwrap().as_encoded_bytes());
        hash.write(&text);
        contents.push((src.file_name().unwrap().to_owned(), text));
    }

    let base = match otp {
        Otp::System => target_dir().join("erldp-testkit"),
        Otp::Chroot(root) => root.join("var/tmp/erldp-testkit"),
    };
    let ebin = base.join(format!("ebin-otp{release}-{:016x}", hash.0));
    if !ebin.is_dir() {
        let tmp = base.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            crate::random_name("")
        ));
        let (tmp_src, tmp_ebin) = (tmp.join("src"), tmp.join("ebin"));
        fs::create_dir_all(&tmp_src)
            .and_then(|()| fs::create_dir_all(&tmp_ebin))
            .unwrap_or_else(|e| panic!("creating {}: {e}", tmp.display()));
        let mut cmd = otp.command("erlc");
        cmd.arg("-Werror").arg("-o").arg(otp.inside(&tmp_ebin));
        for (name, text) in &contents {
            let path = tmp_src.join(name);
            fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
            cmd.arg(otp.inside(&path));
        }
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| otp.missing("erlc", e));
        if !out.status.success() {
            let _ = fs::remove_dir_all(&tmp);
            panic!(
                "compiling tests/erlang with {otp}'s erlc failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Losing the race to another process leaves its identical directory in place.
        if let Err(e) = fs::rename(&tmp_ebin, &ebin) {
            assert!(
                ebin.is_dir(),
                "renaming {} to {}: {e}",
                tmp_ebin.display(),
                ebin.display()
            );
        }
        let _ = fs::remove_dir_all(&tmp);
    }
    done.as_mut().unwrap().insert(otp.clone(), ebin.clone());
    ebin
}

/// `CARGO_TARGET_DIR`, or the directory marked `CACHEDIR.TAG` above the running test binary,
/// or `<repo>/target`.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|d| d.join("CACHEDIR.TAG").is_file())
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| repo_root().join("target"))
}

/// FNV-1a: a hash that is stable across Rust versions, for naming the compiled directory.
struct Fnv64(u64);

impl Fnv64 {
    fn new() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Separates fields so that ("ab", "c") and ("a", "bc") differ.
        self.0 = (self.0 ^ 0xff).wrapping_mul(0x0000_0100_0000_01b3);
    }
}
