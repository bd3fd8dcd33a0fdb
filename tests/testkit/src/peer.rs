//! A BEAM node started and driven by a test over stdin/stdout (see `tests/erlang/erldp_test.erl`).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::netns::Host;
use crate::otp::{compile_helpers, Otp};
use crate::{random_cookie, random_name};

/// Lines of the peer's output kept for failure messages.
const KEEP_LINES: usize = 200;
/// How long a node may take to boot; chroot nodes on a loaded CI machine are the slow ones.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Beyond the peer's own evaluation timeout, how long to wait before declaring it hung.
const ANSWER_GRACE: Duration = Duration::from_secs(15);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the emulator's helper processes may take to exit after it.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(10);

/// Options for a [`BeamPeer`]; see [`BeamPeer::builder`].
#[derive(Clone, Debug)]
pub struct BeamPeerBuilder {
    cookie: Option<String>,
    name_prefix: String,
    name: Option<String>,
    net_ticktime: Option<u32>,
    hidden: bool,
    long_names: bool,
    host: Option<String>,
    netns: Option<String>,
    env: Vec<(OsString, OsString)>,
    args: Vec<OsString>,
    otp: Otp,
    eval_timeout: Duration,
    proto_dist: Option<String>,
    ssl_dist_optfile: Option<PathBuf>,
}

impl BeamPeerBuilder {
    /// The cookie (default: [`random_cookie`]).
    pub fn cookie(mut self, cookie: impl Into<String>) -> Self {
        self.cookie = Some(cookie.into());
        self
    }

    /// The start of the random node name (default `erldp_t_`).
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.name_prefix = prefix.into();
        self
    }

    /// The node name's part before `@`, exactly (default: random, after
    /// [`name_prefix`](Self::name_prefix)): to start a node again under
    /// the name of one that died.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// `-kernel net_ticktime SECS` (OTP's default is 60).
    pub fn net_ticktime(mut self, secs: u32) -> Self {
        self.net_ticktime = Some(secs);
        self
    }

    /// `-hidden`: the peer does not appear in `nodes()` of the nodes it connects to.
    pub fn hidden(mut self, hidden: bool) -> Self {
        self.hidden = hidden;
        self
    }

    /// `-name NAME@127.0.0.1` instead of `-sname NAME` (short host name).
    pub fn long_names(mut self, long: bool) -> Self {
        self.long_names = long;
        self
    }

    /// `-name NAME@HOST`: a long name on `host` (an address or a name the node can resolve).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Runs the node on `host` of a [`Network`](crate::Network) (`ip netns exec`), named
    /// `NAME@ADDRESS` after the host's address; it starts that host's EPMD.
    pub fn netns(mut self, host: &Host) -> Self {
        self.netns = Some(host.netns().to_string());
        self.host(host.addr().to_string())
    }

    /// An environment variable for the node, e.g. `ERL_EPMD_PORT`.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// One more `erl` argument (emulator flags, `-kernel ...`, ...).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Elixir's modules in the code path (`-pa` the `ebin` of the system `elixir`), as an Elixir
    /// release or `iex --sname` has them; Elixir code then runs on the node. For the system OTP
    /// only: the chroots have no Elixir.
    pub fn elixir(self) -> Self {
        let lib = Command::new("elixir")
            .args(["-e", "IO.write(:code.lib_dir(:elixir))"])
            .output()
            .expect("running elixir (make setup installs it)");
        assert!(
            lib.status.success(),
            "{}",
            String::from_utf8_lossy(&lib.stderr)
        );
        let ebin = PathBuf::from(String::from_utf8_lossy(&lib.stdout).into_owned()).join("ebin");
        self.arg("-pa").arg(ebin)
    }

    /// `-proto_dist PROTO`: `inet_tls` (TLS, see [`tls`](Self::tls)), `inet6_tcp` (IPv6),
    /// `inet6_tls` (both). Default: plain TCP over IPv4 (`inet_tcp`).
    pub fn proto_dist(mut self, proto: impl Into<String>) -> Self {
        self.proto_dist = Some(proto.into());
        self
    }

    /// TLS distribution: `-proto_dist inet_tls -ssl_dist_optfile FILE`, where `optfile` is a
    /// host path the OTP installation can read (see [`TlsFiles::optfile`](crate::TlsFiles)).
    /// After it, [`proto_dist`](Self::proto_dist)`("inet6_tls")` makes it TLS over IPv6.
    pub fn tls(mut self, optfile: impl Into<PathBuf>) -> Self {
        self.proto_dist = Some("inet_tls".into());
        self.ssl_dist_optfile = Some(optfile.into());
        self
    }

    /// The OTP installation (default [`Otp::System`]).
    pub fn otp(mut self, otp: Otp) -> Self {
        self.otp = otp;
        self
    }

    /// How long one command may run on the peer before it reports
    /// `error:{erldp_eval_timeout,Ms}` (default 30 s).
    pub fn eval_timeout(mut self, timeout: Duration) -> Self {
        self.eval_timeout = timeout;
        self
    }

    /// Starts the node and waits until it is up. Panics (with the node's output) when it is not.
    pub fn start(self) -> BeamPeer {
        if self
            .proto_dist
            .as_deref()
            .is_some_and(|p| p.ends_with("_tls"))
        {
            self.otp.require_ssl();
        }
        let ebin = compile_helpers(&self.otp);
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| random_name(&self.name_prefix));
        let cookie = self.cookie.clone().unwrap_or_else(random_cookie);
        let mut cmd: Command = match &self.netns {
            None => self.otp.command("erl"),
            Some(netns) => {
                let inner = self.otp.command("erl");
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", netns])
                    .arg(inner.get_program())
                    .args(inner.get_args());
                cmd
            }
        };
        if let Some(host) = &self.host {
            cmd.arg("-name").arg(format!("{name}@{host}"));
        } else if self.long_names {
            cmd.arg("-name").arg(format!("{name}@127.0.0.1"));
        } else {
            cmd.arg("-sname").arg(&name);
        }
        // +Bd: Ctrl-C in the terminal ends the node instead of opening the break menu on stdin.
        cmd.args(["-setcookie", &cookie, "-noshell", "+Bd", "-pa"])
            .arg(self.otp.inside(&ebin));
        if self.hidden {
            cmd.arg("-hidden");
        }
        if let Some(secs) = self.net_ticktime {
            cmd.args(["-kernel", "net_ticktime", &secs.to_string()]);
        }
        if let Some(proto) = &self.proto_dist {
            cmd.args(["-proto_dist", proto]);
        }
        if let Some(optfile) = &self.ssl_dist_optfile {
            cmd.arg("-ssl_dist_optfile").arg(self.otp.inside(optfile));
        }
        cmd.args(&self.args);
        cmd.args(["-s", "erldp_test", "main", "-erldp_eval_timeout"])
            .arg(self.eval_timeout.as_millis().to_string());
        // A crashing node must not leave erl_crash.dump files in the test's directory.
        cmd.env("ERL_CRASH_DUMP_SECONDS", "0");
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());

        adopt_orphans();
        let mut child = cmd.spawn().unwrap_or_else(|e| self.otp.missing("erl", e));
        let output = Arc::new(Mutex::new(VecDeque::new()));
        let (events_tx, events) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        spawn_reader("stdout", stdout, Arc::clone(&output), Some(events_tx));
        spawn_reader("stderr", stderr, Arc::clone(&output), None);
        let mut peer = BeamPeer {
            stdin: child.stdin.take(),
            child,
            running: true,
            events,
            output,
            node: String::new(),
            cookie,
            otp: self.otp,
            eval_timeout: self.eval_timeout,
        };
        match peer.next_event(START_TIMEOUT) {
            Ok(Event::Ready(node)) => peer.node = node,
            Ok(other) => peer.fail(&format!("unexpected {other:?} while starting")),
            Err(RecvTimeoutError::Timeout) => peer.fail("did not come up within 60 s"),
            Err(RecvTimeoutError::Disconnected) => peer.fail("exited while starting"),
        }
        peer
    }
}

/// A running Erlang node, killed when dropped (also when the test panics). When the test
/// process dies without unwinding, the node sees EOF on stdin and halts.
pub struct BeamPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    running: bool,
    events: Receiver<Event>,
    output: Arc<Mutex<VecDeque<String>>>,
    node: String,
    cookie: String,
    otp: Otp,
    eval_timeout: Duration,
}

#[derive(Debug)]
enum Event {
    Ready(String),
    Ok(String),
    Error(String),
}

impl BeamPeer {
    /// A visible node on the system OTP with a random name and cookie.
    pub fn start() -> BeamPeer {
        BeamPeer::builder().start()
    }

    pub fn builder() -> BeamPeerBuilder {
        BeamPeerBuilder {
            cookie: None,
            name_prefix: "erldp_t_".into(),
            name: None,
            net_ticktime: None,
            hidden: false,
            long_names: false,
            host: None,
            netns: None,
            env: Vec::new(),
            args: Vec::new(),
            otp: Otp::System,
            eval_timeout: Duration::from_secs(30),
            proto_dist: None,
            ssl_dist_optfile: None,
        }
    }

    /// The full node name, `name@host`, as the node reports it.
    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn cookie(&self) -> &str {
        &self.cookie
    }

    pub fn otp(&self) -> &Otp {
        &self.otp
    }

    /// The OS pid of the emulator (`erl` and `chroot` exec it in place).
    pub fn os_pid(&self) -> u32 {
        self.child.id()
    }

    /// Evaluates one Erlang expression sequence (the final `.` may be left out) and returns the
    /// value printed with `~0tp`, or `Err("Class:Reason")` when it raised. Panics when the peer
    /// is gone or does not answer: that is a broken test, not an Erlang error.
    ///
    /// Send one expression sequence per call: `"a. b."` would answer twice and put later calls
    /// out of step.
    pub fn eval(&mut self, expr: &str) -> Result<String, String> {
        if !self.running {
            self.fail(&format!("eval `{expr}` after the peer was stopped"));
        }
        let expr = expr.trim_end();
        let command = if expr.ends_with('.') {
            format!("{expr}\n")
        } else {
            format!("{expr}.\n")
        };
        self.note(format!("> {}", command.trim_end()));
        let stdin = self.stdin.as_mut().expect("stdin is open while running");
        if let Err(e) = stdin
            .write_all(command.as_bytes())
            .and_then(|()| stdin.flush())
        {
            self.fail(&format!("cannot send `{expr}`: {e}"));
        }
        loop {
            match self.next_event(self.eval_timeout + ANSWER_GRACE) {
                Ok(Event::Ok(value)) => return Ok(value),
                Ok(Event::Error(error)) => return Err(error),
                Ok(Event::Ready(_)) => {}
                Err(RecvTimeoutError::Timeout) => {
                    self.fail(&format!("no answer to `{expr}` (is the peer paused?)"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail(&format!("exited while evaluating `{expr}`"))
                }
            }
        }
    }

    /// [`eval`](Self::eval), panicking with the peer's recent output when the expression raised.
    pub fn eval_ok(&mut self, expr: &str) -> String {
        match self.eval(expr) {
            Ok(value) => value,
            Err(error) => self.fail(&format!("`{expr}` raised {error}")),
        }
    }

    /// What the collector `name` (`erldp_test:collect/1`) kept, as the peer prints the list,
    /// once it holds `count` messages; fewer when 20 s pass first, so that the caller's
    /// assertion shows what came.
    pub fn collected(&mut self, name: &str, count: usize) -> String {
        self.eval_ok(&format!("erldp_test:collected({name}, {count}, 20000)."))
    }

    /// The last lines the peer printed (stdout and stderr, with the commands sent as `> ...`).
    pub fn output(&self) -> String {
        let lines = self.output.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    /// Whether the node reaches `node` (`net_adm:ping/1` answers `pong`), connecting to it
    /// first when it has no connection to it.
    pub fn ping(&mut self, node: impl std::fmt::Display) -> bool {
        let expr = format!("net_adm:ping('{node}').");
        match self.eval_ok(&expr).as_str() {
            "pong" => true,
            "pang" => false,
            other => self.fail(&format!("`{expr}` gave {other}")),
        }
    }

    /// Waits until the node has printed `text` (see [`output`](Self::output)); panics with the
    /// output when it has not within [`EVENTUALLY`](crate::EVENTUALLY).
    pub fn await_output(&self, text: &str) {
        let deadline = Instant::now() + crate::EVENTUALLY;
        while !self.output().contains(text) {
            assert!(
                Instant::now() < deadline,
                "the peer did not print {text:?}:\n{}",
                self.output()
            );
            thread::sleep(POLL);
        }
    }

    /// SIGKILL: the node disappears without closing anything (connections drop, EPMD forgets it).
    pub fn kill9(&mut self) {
        if self.running {
            let helpers = descendants(self.child.id());
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.ended(helpers);
        }
    }

    /// SIGSTOP, returning once the process is stopped: the node stops answering, including
    /// distribution ticks.
    pub fn pause(&mut self) {
        self.signal(libc::SIGSTOP);
        self.wait_state("stop", |state| state == 'T');
    }

    /// SIGCONT after [`pause`](Self::pause), returning once the process runs again.
    pub fn resume(&mut self) {
        self.signal(libc::SIGCONT);
        self.wait_state("resume", |state| state != 'T');
    }

    /// Ends the node cleanly (EOF on stdin makes it halt); kills it if it takes over 10 s.
    pub fn stop(mut self) {
        let helpers = descendants(self.child.id());
        self.stdin = None;
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) => return self.ended(helpers),
                Ok(None) => thread::sleep(POLL),
                Err(_) => break,
            }
        }
        self.kill9();
    }

    /// The emulator is reaped; its helper processes (erl_child_setup, inet_gethost) were
    /// reparented to this process (see `adopt_orphans`) and are reaped here as they exit.
    fn ended(&mut self, helpers: Vec<u32>) {
        self.running = false;
        self.stdin = None;
        reap(helpers);
    }

    fn wait_state(&mut self, what: &str, ok: impl Fn(char) -> bool) {
        let deadline = Instant::now() + STOP_TIMEOUT;
        while !process_state(self.child.id()).is_some_and(&ok) {
            if Instant::now() > deadline {
                self.fail(&format!("did not {what} within 10 s"));
            }
            thread::sleep(POLL);
        }
    }

    fn signal(&mut self, signal: libc::c_int) {
        if !self.running {
            self.fail("signal sent to a stopped peer");
        }
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill has no memory preconditions; the child is not reaped, so the pid is ours.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(
            rc,
            0,
            "kill({pid}, {signal}): {}",
            std::io::Error::last_os_error()
        );
    }

    fn next_event(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        self.events.recv_timeout(timeout)
    }

    fn note(&self, line: String) {
        keep(&self.output, line);
    }

    fn fail(&mut self, what: &str) -> ! {
        let name = if self.node.is_empty() {
            "BEAM peer".to_string()
        } else {
            self.node.clone()
        };
        // Output ends slightly before the process does; give an exiting node a moment to go.
        let deadline = Instant::now() + Duration::from_secs(1);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break format!(" ({status})"),
                Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
                _ => break String::new(),
            }
        };
        panic!(
            "{name} on {:?}: {what}{status}\n--- its recent output ---\n{}---",
            self.otp,
            self.output()
        );
    }
}

impl Drop for BeamPeer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Reads the peer's output line by line into the kept output; on stdout, the `\x02` markers
/// become events. The reader is not joined: a grandchild may hold the pipe open after the node
/// is gone, and the thread ends with the pipe.
fn spawn_reader(
    what: &str,
    pipe: impl Read + Send + 'static,
    output: Arc<Mutex<VecDeque<String>>>,
    events: Option<Sender<Event>>,
) {
    thread::Builder::new()
        .name(format!("beam-peer-{what}"))
        .spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                let event = line
                    .find('\x02')
                    .and_then(|at| parse_marker(&line[at + 1..]));
                keep(&output, line);
                if let (Some(event), Some(events)) = (event, &events) {
                    if events.send(event).is_err() {
                        return;
                    }
                }
            }
        })
        .expect("spawning a reader thread");
}

fn parse_marker(marker: &str) -> Option<Event> {
    if let Some(node) = marker.strip_prefix("erldp-ready ") {
        Some(Event::Ready(node.to_string()))
    } else if let Some(value) = marker.strip_prefix("erldp-ok ") {
        Some(Event::Ok(value.to_string()))
    } else {
        marker
            .strip_prefix("erldp-error ")
            .map(|error| Event::Error(error.to_string()))
    }
}

fn keep(output: &Mutex<VecDeque<String>>, line: String) {
    let mut lines = output.lock().unwrap_or_else(|e| e.into_inner());
    if lines.len() == KEEP_LINES {
        lines.pop_front();
    }
    lines.push_back(line);
}

/// Makes this process the subreaper of its descendants. The emulator's helper processes outlive
/// it briefly; orphaned, they would go to PID 1, which in containers often never reaps them and
/// so keeps them as zombies.
fn adopt_orphans() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag and touches no memory.
    ONCE.call_once(|| unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    });
}

/// All processes below `pid`, from /proc.
fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(|p| Some((p, stat_fields(p)?.1)))
                .collect()
        })
        .unwrap_or_default();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// Waits for each pid, as far as it is our child, until it is reaped or gone.
fn reap(mut pids: Vec<u32>) {
    let deadline = Instant::now() + REAP_TIMEOUT;
    while !pids.is_empty() && Instant::now() < deadline {
        pids.retain(|&pid| {
            let Ok(pid) = libc::pid_t::try_from(pid) else {
                return false;
            };
            let mut status = 0;
            // SAFETY: status is a valid out pointer; WNOHANG never blocks.
            let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            rc == 0 || (rc == -1 && process_state(pid as u32).is_some())
        });
        if !pids.is_empty() {
            thread::sleep(POLL);
        }
    }
}

/// The state letter from /proc/PID/stat (`R`, `S`, `T`, `Z`, ...), or None when gone.
fn process_state(pid: u32) -> Option<char> {
    stat_fields(pid).map(|(state, _)| state)
}

/// State and parent pid from /proc/PID/stat.
fn stat_fields(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name before them is in parentheses and may contain anything.
    let mut rest = stat[stat.rfind(')')? + 2..].split(' ');
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((state, ppid))
}
