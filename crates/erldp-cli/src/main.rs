//! `erldp`: talk to Erlang and Elixir nodes from the shell.
//!
//! An everyday replacement for `erl_call`: list the nodes EPMD knows, ping a
//! node, call a function, evaluate expressions, send a message, and listen
//! for messages, with text output in Erlang syntax or `--json`, and an exit
//! status per class of failure (see [`failure::Kind`]).
//!
//! One-shot commands start a hidden node that is not registered in EPMD
//! (as `erl_call` does): they look the target up in EPMD themselves and
//! connect out, which saves a registration and never starts an embedded
//! EPMD for a process that lives a few milliseconds. `listen` registers,
//! since then BEAM nodes must find us; `--visible` only makes us appear in
//! the peer's `nodes()`.

mod call;
mod failure;
mod interrupt;
mod json;

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use erldp::tls::TlsConfig;
use erldp::{epmd, Client, Dest, EpmdMode, Message, Node, Term};

use call::{node_name, parse_args, parse_call, parse_duration, parse_term, registered_name, Call};
use failure::{Failure, Kind};

/// How long a command waits for its node when `--timeout` is not given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

const AFTER_HELP: &str = "\
NODE is name@host, or name for a node on this host.

Exit status:
  0  success (ping: pong)
  1  the remote code raised an exception, or the rpc could not run (badrpc)
  2  usage: bad option, term, call, expression or name
  3  node not found: not registered in EPMD, no EPMD on its host, unknown host
  4  connection failed or lost, or the handshake was refused
  5  authentication failed: the cookies differ
  6  timeout
  7  any other local error

Environment:
  ERLDP_COOKIE   the cookie when --cookie is not given (then ~/.erlang.cookie)
  ERLDP_LOG      log to stderr at this level: error, warn, info, debug or trace
  ERL_EPMD_PORT  the EPMD port (default 4369)";

/// Talk to Erlang and Elixir nodes: names, ping, rpc, eval, send, listen.
#[derive(Parser, Debug)]
#[command(name = "erldp", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(flatten)]
    options: Options,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct Options {
    /// The cookie [default: $ERLDP_COOKIE, else ~/.erlang.cookie]
    #[arg(long, global = true, env = "ERLDP_COOKIE", hide_env_values = true)]
    cookie: Option<String>,

    /// Our node's short name, NAME or NAME@HOST [default: erldp_<pid>_<random>]
    #[arg(long, global = true, value_name = "NAME", conflicts_with = "name")]
    sname: Option<String>,

    /// Our node's long name, NAME or NAME@HOST.DOMAIN [default: long when NODE's host has a dot]
    #[arg(long, global = true, value_name = "NAME")]
    name: Option<String>,

    /// Be a visible node (in the peer's nodes()); hidden by default
    #[arg(long, global = true)]
    visible: bool,

    /// How long to wait for the node: 5, 2.5s, 500ms, 1m [default: 10s; listen: no limit]
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,

    /// Print results (and failures) as JSON, one document per line
    #[arg(long, global = true)]
    json: bool,

    /// How connections are carried, as erl's -proto_dist: inet_tcp (the default), inet6_tcp
    /// (IPv6), inet_tls (TLS, with --ssl-dist-optfile) or inet6_tls
    #[arg(long, global = true, value_name = "PROTO",
          value_parser = ["inet_tcp", "inet6_tcp", "inet_tls", "inet6_tls"])]
    proto_dist: Option<String>,

    /// The TLS options of inet_tls and inet6_tls: the file erl's -ssl_dist_optfile reads,
    /// [{server, Opts}, {client, Opts}]
    #[arg(long, global = true, value_name = "FILE")]
    ssl_dist_optfile: Option<PathBuf>,

    /// Reach NODE at this port instead of asking EPMD, like erl_call's -address (for nodes
    /// started with -erl_epmd_port, or with no EPMD), though NODE is still named (the
    /// handshake checks it): [HOST:]PORT, HOST by default NODE's host, an IPv6 address in
    /// brackets ([::1]:9100). listen: the PORT to listen on, as -erl_epmd_port nodes do
    /// (registered only with an EPMD that answers)
    #[arg(long, global = true, value_name = "[HOST:]PORT", value_parser = parse_address)]
    address: Option<Address>,
}

/// Where `--address` says the target listens.
#[derive(Clone, Debug)]
struct Address {
    host: Option<String>,
    port: u16,
}

fn parse_address(text: &str) -> Result<Address, String> {
    let bad = || {
        format!(
            "{text:?} is not [HOST:]PORT (a port from 1 to 65535; an IPv6 host in brackets, \
             [::1]:9100)"
        )
    };
    let port = |digits: &str| {
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse::<u16>().ok())
            .flatten()
            .filter(|&port| port > 0)
    };
    if let Some(port) = port(text) {
        return Ok(Address { host: None, port });
    }
    let (host, digits) = text.rsplit_once(':').ok_or_else(bad)?;
    let port = port(digits).ok_or_else(bad)?;
    let well_formed = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => !inner.is_empty() && !inner.contains(['[', ']']),
        None => !host.is_empty() && !host.contains([':', '[', ']']),
    };
    if !well_formed {
        return Err(bad());
    }
    Ok(Address {
        host: Some(host.to_string()),
        port,
    })
}

impl Options {
    /// IPv6 or not, and the TLS options, from --proto-dist and --ssl-dist-optfile.
    fn transport(&self) -> Result<(bool, Option<TlsConfig>), Failure> {
        let proto = self.proto_dist.as_deref().unwrap_or("inet_tcp");
        let ipv6 = proto.starts_with("inet6_");
        let tls = match (proto.ends_with("_tls"), &self.ssl_dist_optfile) {
            (true, Some(file)) => Some(TlsConfig::from_optfile(file)?),
            (true, None) => {
                return Err(Failure::usage(format!(
                    "--proto-dist {proto} needs --ssl-dist-optfile FILE, the TLS options"
                )))
            }
            (false, Some(_)) => {
                return Err(Failure::usage(
                    "--ssl-dist-optfile is for --proto-dist inet_tls or inet6_tls",
                ))
            }
            (false, None) => None,
        };
        Ok((ipv6, tls))
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the nodes registered in EPMD on HOST, with their ports
    Names {
        /// The host whose EPMD to ask
        #[arg(default_value = "localhost")]
        host: String,
    },
    /// Connect to NODE and ask it net_adm:ping; prints pong or pang
    Ping {
        /// The node, name@host or name
        node: String,
    },
    /// Call a function on NODE and print its value
    #[command(
        after_help = "Examples:\n  erldp rpc demo 'lists:sum([1,2,3])'\n  erldp rpc demo lists sum '[[1,2,3]]'\n  erldp rpc demo erlang node"
    )]
    Rpc {
        /// The node, name@host or name
        node: String,
        /// Module:Function(Args...), or the module when FUNCTION follows
        #[arg(value_name = "CALL|MODULE")]
        call: String,
        /// The function, when the module came alone
        function: Option<String>,
        /// The arguments as an Erlang list, e.g. '[[1,2,3]]' [default: []]
        #[arg(allow_hyphen_values = true)]
        args: Option<String>,
    },
    /// Evaluate Erlang (or, with --elixir, Elixir) code on NODE and print the value of the last
    /// expression
    #[command(
        after_help = "Examples:\n  erldp eval demo 'A = 20, A + 22'\n  erldp eval --elixir demo 'Enum.sum([1, 2, 3]) |> Integer.to_string()'"
    )]
    Eval {
        /// The node, name@host or name
        node: String,
        /// Erlang expressions separated by commas, as in the shell (a final '.' is optional),
        /// or Elixir code with --elixir
        #[arg(allow_hyphen_values = true)]
        expr: String,
        /// The code is Elixir, evaluated by the node's Elixir (Code.eval_string/1); the value is
        /// printed as Elixir's inspect/2 prints it (--json: as JSON, like any term)
        #[arg(long)]
        elixir: bool,
    },
    /// Send a term to the process registered as NAME on NODE
    #[command(
        after_help = "Examples:\n  erldp send demo logger_proxy '{hello, <<\"world\">>}'\n  erldp send demo MyApp.Counter '{add, 1}'"
    )]
    Send {
        /// The node, name@host or name
        node: String,
        /// The registered name of the receiving process, as it is (inbox,
        /// Elixir.MyApp.Counter), as a quoted Erlang atom ('Elixir.MyApp.Counter'), or as an
        /// Elixir alias (MyApp.Counter)
        // Not `name`: that is the id of the global --name option, which clap would set too.
        #[arg(id = "registered_name", value_name = "NAME")]
        name: String,
        /// The message, an Erlang term
        #[arg(allow_hyphen_values = true)]
        term: String,
    },
    /// Register NAME on our node and print every message that arrives until Ctrl-C
    #[command(
        after_help = "Example (then, in Erlang: {inbox, 'me@host'} ! hello):\n  erldp --sname me listen inbox"
    )]
    Listen {
        /// The name to register our mailbox under
        #[arg(id = "registered_name", value_name = "NAME")]
        name: String,
        /// Stop after this many messages
        #[arg(long, short = 'n', value_name = "N")]
        count: Option<u64>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = erldp::logging::init_from_env() {
        let _ = writeln!(io::stderr(), "erldp: {err}; logging stays off");
    }
    let json = cli.options.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let failure = if interrupt::happened() {
                let cause = failure.message.trim_start_matches("timeout: ");
                Failure::new(Kind::Interrupted, format!("Ctrl-C: {cause}"))
            } else {
                failure
            };
            if json {
                let _ = print_line(&failure.to_json());
            }
            let _ = writeln!(io::stderr(), "erldp: {}", failure.message);
            if failure.kind == Kind::Interrupted {
                // As the shell expects of a command Ctrl-C stopped (a loop of
                // them ends): by the signal.
                interrupt::die();
            }
            failure.exit_code()
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let options = &cli.options;
    if !matches!(cli.command, Command::Names { .. }) {
        // Before connecting, so that ping says nothing (no pang) about a usage error.
        options.transport()?;
    }
    match (&options.address, &cli.command) {
        (Some(_), Command::Names { .. }) => {
            return Err(Failure::usage(
                "--address is for the commands that reach a NODE (ping, rpc, eval, send) and \
                 for listen",
            ))
        }
        (Some(Address { host: Some(_), .. }), Command::Listen { .. }) => {
            return Err(Failure::usage(
                "listen takes --address PORT, the port to listen on, without a host",
            ))
        }
        _ => {}
    }
    match cli.command {
        Command::Names { host } => names(options, &host),
        Command::Ping { node } => ping(options, &node_name(&node).map_err(Failure::usage)?),
        Command::Rpc {
            node,
            call,
            function,
            args,
        } => {
            let call = match function {
                None => parse_call(&call),
                // A whole call takes nothing after it; as a module name it would be undef.
                Some(extra) if call.contains(['(', ':']) => Err(format!(
                    "{call:?} is a whole call (Module:Function(Args...)), so {extra:?} after it \
                     is one word too many; or give MODULE FUNCTION [ARGS]"
                )),
                Some(function) => parse_args(args.as_deref().unwrap_or("[]")).map(|args| Call {
                    module: erldp::elixir::module(&call),
                    function,
                    args,
                }),
            };
            rpc(
                options,
                &node_name(&node).map_err(Failure::usage)?,
                call.map_err(Failure::usage)?,
            )
        }
        Command::Eval { node, expr, elixir } => {
            let peer = node_name(&node).map_err(Failure::usage)?;
            if elixir {
                eval_elixir(options, &peer, &expr)
            } else {
                eval(options, &peer, &expr)
            }
        }
        Command::Send { node, name, term } => {
            let peer = node_name(&node).map_err(Failure::usage)?;
            let name = registered_name(&name).map_err(Failure::usage)?;
            let message = parse_term(&term, "the message").map_err(Failure::usage)?;
            send(options, &peer, &name, message)
        }
        Command::Listen { name, count } => listen(options, &name, count),
    }
}

// ---- the commands -----------------------------------------------------

fn names(options: &Options, host: &str) -> Result<(), Failure> {
    let port = epmd::port_from_env()?;
    let names = epmd::names(host, port, options.timeout.unwrap_or(DEFAULT_TIMEOUT))?;
    if options.json {
        let entries: Vec<String> = names
            .iter()
            .map(|(name, port)| format!("{{\"name\":{},\"port\":{port}}}", json::quoted(name)))
            .collect();
        return emit(&format!("[{}]", entries.join(",")));
    }
    for (name, port) in &names {
        emit(&format!("{name}\t{port}"))?;
    }
    Ok(())
}

fn ping(options: &Options, peer: &str) -> Result<(), Failure> {
    let answered = Session::open(options, peer).and_then(|session| {
        let timeout = session.time_left()?;
        if session.client.borrow_mut().ping(timeout) {
            Ok(())
        } else {
            Err(Failure::new(
                Kind::Connection,
                format!("{peer} is connected but did not answer net_adm:ping"),
            ))
        }
    });
    match answered {
        Ok(()) if options.json => emit(&format!(
            "{{\"node\":{},\"result\":\"pong\"}}",
            json::quoted(peer)
        )),
        Ok(()) => emit("pong"),
        Err(failure) => {
            if !options.json {
                emit("pang")?;
            }
            Err(failure)
        }
    }
}

fn rpc(options: &Options, peer: &str, call: Call) -> Result<(), Failure> {
    let session = Session::open(options, peer)?;
    let value = session.rpc(&call.module, &call.function, call.args)?;
    print_term(options, &value)
}

/// Evaluates on the BEAM side, so the expressions mean exactly what they
/// mean in `erl`: `erl_scan:string/2`, `erl_parse:parse_exprs/1`, then
/// `erl_eval:exprs/2` with no bindings.
fn eval(options: &Options, peer: &str, expr: &str) -> Result<(), Failure> {
    let session = Session::open(options, peer)?;
    let text = expr.trim_end();
    let source = if text.ends_with('.') {
        text.to_string()
    } else if text.lines().last().is_some_and(|line| line.contains('%')) {
        // On a line of its own the dot stays out of a trailing % comment.
        format!("{text}\n.")
    } else {
        // On the same line, a syntax error at the end points at a column
        // of the line the user wrote.
        format!("{text} .")
    };
    let start_location = Term::tuple(vec![Term::from(1), Term::from(1)]);
    let scanned = session.rpc(
        "erl_scan",
        "string",
        vec![Term::charlist(&source), start_location],
    )?;
    let tokens = match scanned {
        Term::Tuple(mut fields) if fields.len() == 3 && fields[0].is_atom("ok") => {
            fields.swap_remove(1)
        }
        Term::Tuple(fields) if fields.len() == 3 && fields[0].is_atom("error") => {
            return Err(session.syntax_error(&fields[1]))
        }
        other => return Err(unexpected("erl_scan:string/2", &other)),
    };
    let exprs = match session.rpc("erl_parse", "parse_exprs", vec![tokens])? {
        Term::Tuple(mut fields) if fields.len() == 2 && fields[0].is_atom("ok") => {
            fields.swap_remove(1)
        }
        Term::Tuple(fields) if fields.len() == 2 && fields[0].is_atom("error") => {
            return Err(session.syntax_error(&fields[1]))
        }
        other => return Err(unexpected("erl_parse:parse_exprs/1", &other)),
    };
    match session.rpc("erl_eval", "exprs", vec![exprs, Term::nil()])? {
        Term::Tuple(fields) if fields.len() == 3 && fields[0].is_atom("value") => {
            print_term(options, &fields[1])
        }
        other => Err(unexpected("erl_eval:exprs/2", &other)),
    }
}

/// Evaluates Elixir code with the node's own Elixir (`Code.eval_string/1`)
/// and prints the value as Elixir's `inspect/2` writes it, so that the
/// output reads as Elixir (`%{a: 1}`); `--json` prints the term as JSON.
fn eval_elixir(options: &Options, peer: &str, code: &str) -> Result<(), Failure> {
    let session = Session::open(options, peer)?;
    let timeout = session.time_left()?;
    let evaluated = session.client.borrow_mut().rpc(
        "Elixir.Code",
        "eval_string",
        vec![Term::binary(code.as_bytes().to_vec())],
        timeout,
    );
    let value = match evaluated.map_err(|err| session.elixir_failure(err))? {
        Term::Tuple(mut fields) if fields.len() == 2 => fields.swap_remove(0),
        other => return Err(unexpected("Code.eval_string/1", &other)),
    };
    if options.json {
        return print_term(options, &value);
    }
    let everything = Term::list(
        ["limit", "printable_limit"]
            .into_iter()
            .map(|option| Term::tuple(vec![Term::atom(option), Term::atom("infinity")]))
            .collect(),
    );
    match session.rpc("Elixir.Kernel", "inspect", vec![value, everything])? {
        Term::Binary(text) => emit(&String::from_utf8_lossy(&text)),
        other => Err(unexpected("Kernel.inspect/2", &other)),
    }
}

fn send(options: &Options, peer: &str, name: &str, message: Term) -> Result<(), Failure> {
    let session = Session::open(options, peer)?;
    session
        .client
        .borrow_mut()
        .send(&Dest::name(name, peer), message)?;
    Ok(())
}

fn listen(options: &Options, name: &str, count: Option<u64>) -> Result<(), Failure> {
    let node = start_node(options)?;
    let mailbox = node.mailbox(Some(name))?;
    let _ = writeln!(
        io::stderr(),
        "erldp: listening as {}; Ctrl-C to stop",
        Dest::name(name, node.name().as_str())
    );
    let mut received = 0;
    while count.is_none_or(|count| received < count) {
        let message = match options.timeout {
            Some(timeout) => mailbox.recv_timeout(timeout)?.ok_or_else(|| {
                Failure::new(
                    Kind::Timeout,
                    format!("timeout: no message within {}", seconds(timeout)),
                )
            })?,
            None => mailbox.recv()?,
        };
        if options.json {
            emit(&message_json(&message))?;
        } else {
            emit(&message.term.to_string())?;
        }
        received += 1;
    }
    Ok(())
}

// ---- our node ---------------------------------------------------------

/// Starts our node for `listen`: registered in EPMD so that Erlang code can
/// send to it by name; with `--address PORT`, listening on that port as the
/// nodes of a cluster without EPMD do (`-erl_epmd_port`), registered with
/// an EPMD only if one answers.
fn start_node(options: &Options) -> Result<Node, Failure> {
    let (name, long_names) = match (&options.sname, &options.name) {
        (Some(name), _) => (name.clone(), false),
        (None, Some(name)) => (name.clone(), true),
        (None, None) => (unique_name(), false),
    };
    let (ipv6, tls) = options.transport()?;
    let mut builder = Node::builder(name)
        .long_names(long_names)
        .hidden(!options.visible)
        .setup_timeout(options.timeout.unwrap_or(DEFAULT_TIMEOUT))
        .ipv6(ipv6);
    builder = match &options.address {
        Some(Address { port, .. }) => builder.dist_port(*port).epmd(EpmdMode::Auto),
        None => builder.epmd(EpmdMode::External),
    };
    if let Some(tls) = tls {
        builder = builder.tls(tls);
    }
    if let Some(cookie) = &options.cookie {
        builder = builder.cookie(cookie.clone());
    }
    Ok(builder.start()?)
}

/// `erldp_<pid>_<random>`: unique among concurrent runs on this host, and
/// unlike a bare pid not reused right after a run the peer may not have
/// noticed ending yet.
fn unique_name() -> String {
    let random = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
    format!("erldp_{}_{:06x}", std::process::id(), random & 0xFF_FFFF)
}

/// A connection to the command's target, and the command's deadline.
///
/// One-shot commands use the core's thread-free [`Client`], as `erl_call`
/// uses `ei_connect`: no listener, no EPMD registration, no reader and
/// writer threads to start for a single call.
struct Session<'a> {
    client: RefCell<Client>,
    peer: &'a str,
    deadline: Instant,
}

impl<'a> Session<'a> {
    /// Looks `peer` up in its host's EPMD (or takes `--address`) and connects, handshake
    /// included.
    fn open(options: &Options, peer: &'a str) -> Result<Session<'a>, Failure> {
        let deadline = Instant::now() + options.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let (ipv6, tls) = options.transport()?;
        // Named, it is completed and checked as `listen`'s node is (and BEAM's -sname, -name);
        // unnamed, the client gives it a host of the target's kind.
        let mut builder = match (&options.sname, &options.name) {
            (Some(name), _) => Client::builder().name(name).long_names(false),
            (None, Some(name)) => Client::builder().name(name).long_names(true),
            (None, None) => Client::builder().name(unique_name()),
        };
        builder = builder
            .hidden(!options.visible)
            .timeout(deadline.saturating_duration_since(Instant::now()))
            .ipv6(ipv6);
        if let Some(tls) = tls {
            builder = builder.tls(tls);
        }
        if let Some(cookie) = &options.cookie {
            builder = builder.cookie(cookie.clone());
        }
        let mut client = match &options.address {
            Some(Address { host, port }) => {
                let name_host = peer.split_once('@').map_or("", |(_, host)| host);
                builder.connect_to_host(peer, host.as_deref().unwrap_or(name_host), *port)?
            }
            None => builder.connect(peer)?,
        };
        interrupt::arm(client.interrupter());
        Ok(Session {
            client: RefCell::new(client),
            peer,
            deadline,
        })
    }

    /// `module:function(args...)` on the target, in the time that is left.
    /// An Elixir exception reads as Elixir shows it (the core asks the node
    /// for the message of one that computes it).
    fn rpc(&self, module: &str, function: &str, args: Vec<Term>) -> Result<Term, Failure> {
        let timeout = self.time_left()?;
        Ok(self
            .client
            .borrow_mut()
            .rpc(module, function, args, timeout)?)
    }

    /// A failure of `Code.eval_string/1`: Elixir's syntax and compile errors
    /// are usage errors, as Erlang syntax errors are for `eval`; a node
    /// without Elixir says so.
    fn elixir_failure(&self, err: erldp::Error) -> Failure {
        let (syntax, no_elixir) = match &err {
            erldp::Error::Rpc { reason, .. } => (
                erldp::elixir::Exception::from_term(reason).is_some_and(|exception| {
                    matches!(
                        exception.module(),
                        "SyntaxError"
                            | "TokenMissingError"
                            | "MismatchedDelimiterError"
                            | "CompileError"
                    )
                }),
                reason.is_atom("undef"),
            ),
            _ => (false, false),
        };
        if no_elixir {
            return Failure::new(
                Kind::Local,
                format!(
                    "{} has no Elixir: 'Elixir.Code' is not loaded there (start the node with \
                     elixir or iex, or put Elixir's ebin in its code path)",
                    self.peer
                ),
            );
        }
        let mut failure = Failure::from(err);
        if syntax {
            failure.kind = Kind::Usage;
        }
        failure
    }

    /// What is left of the command's time; a timeout failure when nothing is.
    fn time_left(&self) -> Result<Duration, Failure> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(Failure::new(
                Kind::Timeout,
                format!("timeout: {} did not answer in time", self.peer),
            ))
        } else {
            Ok(left)
        }
    }

    /// A syntax error from `erl_scan`/`erl_parse` as `LINE:COLUMN: message`,
    /// the message formatted on the node by the module that found the error.
    fn syntax_error(&self, info: &Term) -> Failure {
        let message = match info.as_tuple() {
            Some([location, Term::Atom(module), description]) => {
                let text = self
                    .rpc(module.as_str(), "format_error", vec![description.clone()])
                    .ok()
                    .and_then(|chars| chars_to_string(&chars))
                    .unwrap_or_else(|| description.to_string());
                let at = match location.as_tuple() {
                    Some([line, column]) => format!("{line}:{column}"),
                    _ => location.to_string(),
                };
                format!("syntax error at {at}: {text}")
            }
            _ => format!("syntax error: {info}"),
        };
        Failure::usage(message)
    }
}

// ---- eval's replies ---------------------------------------------------

/// The text of Erlang chardata (a possibly deep list of code points and
/// binaries), as `format_error/1` functions return it.
fn chars_to_string(chars: &Term) -> Option<String> {
    fn collect(term: &Term, out: &mut String) -> Option<()> {
        match term {
            Term::Int(code) => out.push(char::from_u32(u32::try_from(*code).ok()?)?),
            Term::Binary(bytes) => out.push_str(std::str::from_utf8(bytes).ok()?),
            Term::List(items) => items.iter().try_for_each(|item| collect(item, out))?,
            _ => return None,
        }
        Some(())
    }
    let mut out = String::new();
    collect(chars, &mut out).map(|()| out)
}

fn unexpected(function: &str, reply: &Term) -> Failure {
    Failure::new(
        Kind::Local,
        format!("unexpected reply from {function}: {reply}"),
    )
}

// ---- output -----------------------------------------------------------

fn print_term(options: &Options, term: &Term) -> Result<(), Failure> {
    if options.json {
        emit(&json::term(term))
    } else {
        emit(&term.to_string())
    }
}

/// `{"kind": ..., "from": {"pid": ...} | null, "term": ...}`.
fn message_json(message: &Message) -> String {
    let from = message
        .from
        .map_or_else(|| "null".to_string(), |pid| json::term(&Term::Pid(pid)));
    format!(
        "{{\"kind\":{},\"from\":{from},\"term\":{}}}",
        json::quoted(message.kind.as_str()),
        json::term(&message.term)
    )
}

fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}

/// Prints one line of output. A reader that went away (`erldp listen |
/// head -1`) ends the command quietly and successfully; the kernel closes
/// our connections and the EPMD registration.
fn emit(line: &str) -> Result<(), Failure> {
    match print_line(line) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(err) => Err(Failure::new(
            Kind::Local,
            format!("writing to standard output: {err}"),
        )),
    }
}

fn print_line(line: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(line.as_bytes())?;
    stdout.write_all(b"\n")?;
    stdout.flush()
}
