//! Nodes: start and close, connect, ping, rpc, `gen_server` call/cast and
//! replies, the list of connected nodes.

use std::ffi::{c_char, c_int, c_uint, CString};
use std::ptr::addr_of;
use std::time::Duration;

use erldp::tls::TlsOptions;
use erldp::{limits, Dest, EpmdMode, Node, Term};

use crate::buf::erldp_buf;
use crate::extensible::{self, Extensible};
use crate::ffi::{self, Out};
use crate::fork::Owner;
use crate::status::{erldp_status, guard, invalid, Context, Outcome};

/// How a node uses EPMD, the Erlang port mapper.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum erldp_epmd_mode {
    /// Use the EPMD on the EPMD port when one answers; otherwise run one
    /// inside this program, which BEAM nodes started later register with
    /// (with a `dist_port`, run none).
    ERLDP_EPMD_AUTO = 0,
    /// Require a running EPMD.
    ERLDP_EPMD_EXTERNAL = 1,
    /// Neither register nor look up: reach peers with `erldp_connect_to` or
    /// at the `dist_port` of the node options.
    ERLDP_EPMD_NONE = 2,
}

/// Whether a TLS node checks its peers' certificates (`ssl`'s `verify`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum erldp_tls_verify {
    /// `verify_peer`: a peer's certificate must chain to a CA of
    /// `tls_cacertfile`; as a client we also check that it names the host
    /// part of the peer's node name, and as a server we require one.
    ERLDP_VERIFY_PEER = 0,
    /// `verify_none`: any certificate is taken (the connection is encrypted,
    /// not authenticated), and clients need none.
    ERLDP_VERIFY_NONE = 1,
}

/// Options for `erldp_node_start`. Fill one with `erldp_node_options_init`
/// and change the fields that matter; passing NULL instead uses the
/// defaults.
#[repr(C)]
pub struct erldp_node_options {
    /// The struct's version as the program was compiled,
    /// `ERLDP_NODE_OPTIONS_VERSION`: set by `erldp_node_options_init`, not
    /// by hand. A newer library gives the fields the program's header
    /// lacked their defaults; an older one refuses the struct.
    pub version: c_uint,
    /// A hidden node (the default, like a C node) does not appear in
    /// `nodes()` of the nodes it connects to; set false to publish it.
    pub hidden: bool,
    /// An `erldp_epmd_mode` (default `ERLDP_EPMD_AUTO`). An `int` so that a
    /// wrong value is reported rather than undefined.
    pub epmd_mode: c_int,
    /// The EPMD port; 0 (the default) takes `$ERL_EPMD_PORT`, else 4369.
    pub epmd_port: u16,
    /// The port to listen on for connections; 0 (the default) picks a free
    /// one.
    pub listen_port: u16,
    /// Like `-kernel net_ticktime`, in milliseconds: a peer silent this long
    /// is considered down (default 60000, at least 400).
    pub net_ticktime_ms: u32,
    /// How long connecting to a peer may take (EPMD lookup, TCP, handshake),
    /// in milliseconds (default 7000, like `net_setuptime`).
    pub setup_timeout_ms: u32,
    /// Long names: a name without `@host` gets the fully qualified host name
    /// (default false: the short host name). A name with a host is used as
    /// it is, and is long when its host has a dot or is an address. A node
    /// with long names connects only to long-named nodes, one with short
    /// names only to short-named ones, as BEAM nodes do.
    pub long_names: bool,
    /// How many threads may run the callbacks of `erldp_serve` and
    /// `erldp_expose` at once; 0 (the default) means 256. Threads start
    /// when requests come and end after 10 s idle.
    pub handler_threads: u32,
    /// IPv6 distribution, as BEAM's `-proto_dist inet6_tcp` (or `inet6_tls`
    /// with TLS): listen on every IPv6 address and reach peers at the IPv6
    /// addresses of their hosts (default false: IPv4).
    pub ipv6: bool,
    /// TLS distribution, as BEAM's `-proto_dist inet_tls`, when this or
    /// `tls_optfile` is set (default NULL: plain TCP): our certificate (PEM
    /// file), presented in both roles. A TLS node never falls back to plain
    /// TCP; certificate problems with a peer are `ERLDP_ERR_CONNECT` errors
    /// that name the cause.
    pub tls_certfile: *const c_char,
    /// The certificate's private key (PEM file); NULL reads it from
    /// `tls_certfile`.
    pub tls_keyfile: *const c_char,
    /// The CAs (PEM file) a peer's certificate must chain to; needed with
    /// `ERLDP_VERIFY_PEER`.
    pub tls_cacertfile: *const c_char,
    /// An `erldp_tls_verify` (default `ERLDP_VERIFY_PEER`), in both roles.
    pub tls_verify: c_int,
    /// Instead of the four `tls_*` options above: the file BEAM's
    /// `-ssl_dist_optfile` reads (`[{server, Opts}, {client, Opts}]`), with
    /// every option it supports.
    pub tls_optfile: *const c_char,
    /// The largest message accepted from a peer, in bytes (default 1 GiB);
    /// a larger one ends that connection.
    pub max_message_size: u64,
    /// How many incoming handshakes may be under way at once (default 64);
    /// a connection beyond them is closed at once.
    pub max_pending_handshakes: u32,
    /// How many links and monitors one peer may hold on this node's
    /// processes (default 65536); past it the peer loses its connection.
    pub max_monitors_per_peer: u32,
    /// How long a send may wait, in milliseconds, while a peer leaves
    /// `send_queue_limit` unread (default 60000); then it fails with
    /// `ERLDP_TIMEOUT`.
    pub send_timeout_ms: u32,
    /// The queue limit of every new mailbox (see
    /// `erldp_mailbox_set_queue_limit`); 0, the default, for none.
    pub mailbox_queue_limit: u64,
    /// Like kernel's `prevent_overlapping_partitions` (default true): a
    /// visible node that loses its connection to a node of its global
    /// cluster tells the others, and those still connected to that node drop
    /// it, so that partitions never overlap.
    pub prevent_overlapping_partitions: bool,
    /// How much one connection may hold that the peer has not taken before
    /// sends wait, in bytes (default 16 MiB). The signals the node owes a
    /// peer (answers to its links, unlinks, monitors and spawn requests;
    /// links, exits and `DOWN`s of this node's processes) never wait: they
    /// are queued past it up to as much again, and one more ends that
    /// connection. 0 means 1.
    pub send_queue_limit: u64,
    /// The one port every node of the cluster listens on, as BEAM's
    /// `-erl_epmd_port` has it (clusters without EPMD); 0 (the default) for
    /// none. The node listens on it (`listen_port` must then be 0 or the
    /// same) and reaches each peer at it on the peer's host without asking
    /// EPMD, unless `erldp_connect_to` gave another address. As BEAM then
    /// does, `ERLDP_EPMD_AUTO` registers with the EPMD that answers, if one
    /// does, and starts none; `ERLDP_EPMD_NONE` registers nowhere.
    pub dist_port: u16,
}

impl Default for erldp_node_options {
    fn default() -> Self {
        erldp_node_options {
            version: ERLDP_NODE_OPTIONS_VERSION,
            hidden: true,
            epmd_mode: erldp_epmd_mode::ERLDP_EPMD_AUTO as c_int,
            epmd_port: 0,
            listen_port: 0,
            net_ticktime_ms: 60_000,
            setup_timeout_ms: 7_000,
            long_names: false,
            handler_threads: 0,
            ipv6: false,
            tls_certfile: std::ptr::null(),
            tls_keyfile: std::ptr::null(),
            tls_cacertfile: std::ptr::null(),
            tls_verify: erldp_tls_verify::ERLDP_VERIFY_PEER as c_int,
            tls_optfile: std::ptr::null(),
            max_message_size: 1 << 30,
            max_pending_handshakes: limits::DEFAULT_MAX_PENDING_HANDSHAKES as u32,
            max_monitors_per_peer: limits::DEFAULT_MONITORS_PER_PEER as u32,
            send_timeout_ms: limits::DEFAULT_SEND_TIMEOUT.as_millis() as u32,
            mailbox_queue_limit: 0,
            prevent_overlapping_partitions: true,
            send_queue_limit: limits::DEFAULT_SEND_QUEUE_LIMIT as u64,
            dist_port: 0,
        }
    }
}

/// A running node: a named distribution endpoint inside this program.
/// Usable from several threads at once. Close (and free) it with
/// `erldp_node_close`. After `fork()` the node, its mailboxes and its served
/// names belong to the parent, where their threads stayed: in the child,
/// calls on them return `ERLDP_ERR_CLOSED` and closing them does nothing;
/// start a node in the child.
pub struct erldp_node {
    pub(crate) node: Node,
    name: CString,
    owner: Owner,
}

impl ffi::Handle for erldp_node {
    const ARG: &'static str = "node";

    fn owner(&self) -> Option<Owner> {
        Some(self.owner)
    }
}

/// Fills `options` with the defaults: hidden, `ERLDP_EPMD_AUTO`, EPMD port
/// from the environment, any listen port, net_ticktime 60 s, setup timeout
/// 7 s, short names, 256 handler threads, IPv4, plain TCP (no TLS), and the
/// limits of README's "Limits": messages up to 1 GiB, 64 pending
/// handshakes, 65536 links and monitors per peer, a send timeout of 60 s, no
/// mailbox queue limit; overlapping partitions prevented. `version` is
/// that of the caller's struct: call it through the header's
/// `erldp_node_options_init(options)`, which passes
/// `ERLDP_NODE_OPTIONS_VERSION`.
#[no_mangle]
pub unsafe extern "C" fn erldp_node_options_init_version(
    options: *mut erldp_node_options,
    version: c_uint,
) -> erldp_status {
    // SAFETY: NULL or valid for writing a struct of `version` (the pointer
    // contract).
    guard(|| unsafe { extensible::init(options, version) })
}

/// The version of `erldp_node_options` in this header; raised when fields
/// are appended.
pub const ERLDP_NODE_OPTIONS_VERSION: c_uint = 1;

// SAFETY: `#[repr(C)]`, `version` first.
unsafe impl Extensible for erldp_node_options {
    const NAME: &'static str = "erldp_node_options";
    const VERSION: c_uint = ERLDP_NODE_OPTIONS_VERSION;
}

/// Reads the caller's options field by field through the raw pointer: a
/// `bool` field the caller filled with another byte would make a Rust
/// reference to the struct undefined behaviour, so bytes are read instead.
unsafe fn read_options(options: *const erldp_node_options) -> Outcome<erldp_node_options> {
    // SAFETY (whole function): `options` is non-NULL and valid for reading
    // (checked by the caller and the pointer contract).
    unsafe { extensible::check(options) }?;
    let flag = |field: *const bool| unsafe { field.cast::<u8>().read() } != 0;
    let epmd_mode = unsafe { addr_of!((*options).epmd_mode).read() };
    Ok(erldp_node_options {
        version: ERLDP_NODE_OPTIONS_VERSION,
        hidden: flag(unsafe { addr_of!((*options).hidden) }),
        epmd_mode,
        epmd_port: unsafe { addr_of!((*options).epmd_port).read() },
        listen_port: unsafe { addr_of!((*options).listen_port).read() },
        net_ticktime_ms: unsafe { addr_of!((*options).net_ticktime_ms).read() },
        setup_timeout_ms: unsafe { addr_of!((*options).setup_timeout_ms).read() },
        long_names: flag(unsafe { addr_of!((*options).long_names) }),
        handler_threads: unsafe { addr_of!((*options).handler_threads).read() },
        ipv6: flag(unsafe { addr_of!((*options).ipv6) }),
        tls_certfile: unsafe { addr_of!((*options).tls_certfile).read() },
        tls_keyfile: unsafe { addr_of!((*options).tls_keyfile).read() },
        tls_cacertfile: unsafe { addr_of!((*options).tls_cacertfile).read() },
        tls_verify: unsafe { addr_of!((*options).tls_verify).read() },
        tls_optfile: unsafe { addr_of!((*options).tls_optfile).read() },
        max_message_size: unsafe { addr_of!((*options).max_message_size).read() },
        max_pending_handshakes: unsafe { addr_of!((*options).max_pending_handshakes).read() },
        max_monitors_per_peer: unsafe { addr_of!((*options).max_monitors_per_peer).read() },
        send_timeout_ms: unsafe { addr_of!((*options).send_timeout_ms).read() },
        mailbox_queue_limit: unsafe { addr_of!((*options).mailbox_queue_limit).read() },
        prevent_overlapping_partitions: flag(unsafe {
            addr_of!((*options).prevent_overlapping_partitions)
        }),
        send_queue_limit: unsafe { addr_of!((*options).send_queue_limit).read() },
        dist_port: unsafe { addr_of!((*options).dist_port).read() },
    })
}

/// The TLS options, when any `tls_*` path is set.
///
/// # Safety
/// The `tls_*` pointers are NULL or valid C strings (the pointer contract).
unsafe fn tls_options(options: &erldp_node_options) -> Outcome<Option<TlsOptions>> {
    // SAFETY (all blocks): the caller's contract.
    let path = |ptr: *const c_char, name: &str| {
        unsafe { ffi::opt_str(ptr, name) }.map(|text| text.map(Into::into))
    };
    let certfile = path(options.tls_certfile, "tls_certfile")?;
    let optfile = path(options.tls_optfile, "tls_optfile")?;
    let keyfile = path(options.tls_keyfile, "tls_keyfile")?;
    let cacertfile = path(options.tls_cacertfile, "tls_cacertfile")?;
    if certfile.is_none() && optfile.is_none() {
        if keyfile.is_some() || cacertfile.is_some() {
            return Err(invalid(
                "tls_keyfile and tls_cacertfile need tls_certfile: it turns TLS on",
            ));
        }
        return Ok(None);
    }
    let verify = match options.tls_verify {
        0 => None,
        1 => Some("verify_none".to_string()),
        other => {
            return Err(invalid(format!(
                "tls_verify {other} is not an erldp_tls_verify (0 or 1)"
            )))
        }
    };
    Ok(Some(TlsOptions {
        certfile,
        keyfile,
        cacertfile,
        verify,
        optfile,
    }))
}

/// A queue limit as C gives it: 0 for none.
pub(crate) fn queue_limit(limit: u64) -> Option<usize> {
    (limit != 0).then(|| usize::try_from(limit).unwrap_or(usize::MAX))
}

fn epmd_mode(value: c_int) -> Outcome<EpmdMode> {
    match value {
        0 => Ok(EpmdMode::Auto),
        1 => Ok(EpmdMode::External),
        2 => Ok(EpmdMode::None),
        other => Err(invalid(format!(
            "epmd_mode {other} is not an erldp_epmd_mode (0, 1 or 2)"
        ))),
    }
}

/// Starts a node named `name`: `"c"` becomes `c@<short host name>`,
/// `"c@host.example.com"` is used as it is. `cookie` NULL reads
/// `$HOME/.erlang.cookie` (creating it like `erl` does). `options` NULL uses
/// the defaults. On success writes the node to `*out`. The first call reads
/// `ERLDP_LOG` (unless `erldp_log_set_level` was called first).
///
/// Fails with `ERLDP_ERR_ARG` for a bad name, cookie, option (TLS files that
/// cannot serve included: the message names the file and why) or a listen
/// port in use, `ERLDP_ERR_NAME_TAKEN` when EPMD has a node of that name,
/// `ERLDP_ERR_CONNECT`/`ERLDP_ERR_NOT_FOUND` when EPMD cannot be used as
/// asked, `ERLDP_ERR_IO` when the cookie file or a TLS file cannot be read.
#[no_mangle]
pub unsafe extern "C" fn erldp_node_start(
    name: *const c_char,
    cookie: *const c_char,
    options: *const erldp_node_options,
    out: *mut *mut erldp_node,
) -> erldp_status {
    guard(|| {
        crate::log::init_from_env();
        // SAFETY (all blocks): arguments follow the pointer contract.
        let name = unsafe { ffi::str(name, "name") }?;
        let cookie = unsafe { ffi::opt_str(cookie, "cookie") }?;
        let options = if options.is_null() {
            erldp_node_options::default()
        } else {
            unsafe { read_options(options) }?
        };
        let out = unsafe { ffi::out(out, "out") }?;
        let mut builder = Node::builder(name)
            .hidden(options.hidden)
            .epmd(epmd_mode(options.epmd_mode)?)
            .listen_port(options.listen_port)
            .net_ticktime(Duration::from_millis(options.net_ticktime_ms.into()))
            .setup_timeout(Duration::from_millis(options.setup_timeout_ms.into()))
            .ipv6(options.ipv6)
            .max_message_size(usize::try_from(options.max_message_size).unwrap_or(usize::MAX))
            .max_pending_handshakes(options.max_pending_handshakes as usize)
            .max_monitors_per_peer(options.max_monitors_per_peer as usize)
            .send_timeout(Duration::from_millis(options.send_timeout_ms.into()))
            .send_queue_limit(usize::try_from(options.send_queue_limit).unwrap_or(usize::MAX))
            .mailbox_queue_limit(queue_limit(options.mailbox_queue_limit))
            .prevent_overlapping_partitions(options.prevent_overlapping_partitions);
        if let Some(tls) = unsafe { tls_options(&options) }? {
            builder = builder.tls(tls.config()?);
        }
        if options.long_names {
            builder = builder.long_names(true);
        }
        if let Some(cookie) = cookie {
            builder = builder.cookie(cookie);
        }
        if options.epmd_port != 0 {
            builder = builder.epmd_port(options.epmd_port);
        }
        if options.dist_port != 0 {
            builder = builder.dist_port(options.dist_port);
        }
        if options.handler_threads != 0 {
            builder = builder.handler_threads(options.handler_threads as usize);
        }
        let node = builder.start()?;
        let name =
            CString::new(node.name().as_str()).map_err(|_| invalid("the node name holds a NUL"))?;
        ffi::write(
            out,
            Box::into_raw(Box::new(erldp_node {
                node,
                name,
                owner: Owner::current(),
            })),
        );
        Ok(())
    })
}

/// Closes the node and frees the handle: unregisters from EPMD, closes its
/// connections and mailboxes (linked processes get exit signals, monitoring
/// ones `DOWN`), and fails pending calls with `ERLDP_ERR_CLOSED`. Threads
/// blocked in `erldp_receive` on its mailboxes return `ERLDP_ERR_CLOSED`;
/// the mailbox handles stay valid until `erldp_mailbox_close`. Returns once
/// the node's threads have ended, after the callbacks of `erldp_serve` and
/// `erldp_expose` that run have returned: do not call it holding a lock
/// such a callback takes (from a callback itself it does not wait). No
/// other call may use this node handle at the same time or after. NULL is
/// ignored.
#[no_mangle]
pub unsafe extern "C" fn erldp_node_close(node: *mut erldp_node) {
    // SAFETY: NULL or a node the library allocated (the pointer contract).
    unsafe { ffi::release(node, |owned| owned.node.close()) }
}

/// The full node name, `name@host`: a string owned by the node handle,
/// valid until `erldp_node_close`. NULL for a NULL node.
#[no_mangle]
pub unsafe extern "C" fn erldp_node_name(node: *const erldp_node) -> *const c_char {
    // SAFETY: NULL or a live node (the pointer contract).
    unsafe { ffi::get(node, std::ptr::null(), |node| node.name.as_ptr()) }
}

/// The TCP port the node listens on (what `erldp_connect_to` on another
/// node needs in `ERLDP_EPMD_NONE` mode); 0 for a NULL node.
#[no_mangle]
pub unsafe extern "C" fn erldp_node_port(node: *const erldp_node) -> u16 {
    // SAFETY: NULL or a live node (the pointer contract).
    unsafe { ffi::get(node, 0, |node| node.node.port()) }
}

/// Connects to `peer` (`name@host`), handshake included, if not connected
/// yet. Sending connects on its own; this reports connection problems
/// early: `ERLDP_ERR_AUTH` for a wrong cookie, `ERLDP_ERR_NOT_FOUND` when
/// EPMD does not know the node (or its host has no address),
/// `ERLDP_ERR_CONNECT` otherwise (also when nothing listens at the
/// `dist_port`).
#[no_mangle]
pub unsafe extern "C" fn erldp_connect(
    node: *const erldp_node,
    peer: *const c_char,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let node = unsafe { ffi::handle(node) }?;
        let peer = unsafe { ffi::str(peer, "peer") }?;
        node.node.connect(peer)?;
        Ok(())
    })
}

/// Connects to `peer` on `port` of `host` (a name or an address) without
/// asking EPMD (for `ERLDP_EPMD_NONE`). The host is resolved as a node
/// name's host is, for the node's address family, anew for each connect,
/// within the node's setup timeout: `ERLDP_TIMEOUT` when the resolver does
/// not answer in it, `ERLDP_ERR_NOT_FOUND` when the host has no address of
/// the family; `ERLDP_ERR_ARG` for an empty host, one with a port in it, or
/// an IPv6 address on an IPv4 node. The host is remembered for `peer` even
/// when the connect fails: later connects and sends to it go there, not
/// through EPMD, until another `erldp_connect_to` names another.
#[no_mangle]
pub unsafe extern "C" fn erldp_connect_to(
    node: *const erldp_node,
    peer: *const c_char,
    host: *const c_char,
    port: u16,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let node = unsafe { ffi::handle(node) }?;
        let peer = unsafe { ffi::str(peer, "peer") }?;
        let host = unsafe { ffi::str(host, "host") }?;
        node.node.connect_to_host(peer, host, port)?;
        Ok(())
    })
}

/// `net_adm:ping/1`: writes true to `*pong` when `peer` answers (`pong`),
/// false when it cannot be reached or refuses us (`pang`).
#[no_mangle]
pub unsafe extern "C" fn erldp_ping(
    node: *const erldp_node,
    peer: *const c_char,
    pong: *mut bool,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let node = unsafe { ffi::handle(node) }?;
        let peer = unsafe { ffi::str(peer, "peer") }?;
        let pong = unsafe { ffi::out(pong, "pong") }?;
        ffi::write(pong, node.node.ping(peer));
        Ok(())
    })
}

/// The nodes this node is connected to, as the ETF of a list of atoms,
/// written to `*out`.
#[no_mangle]
pub unsafe extern "C" fn erldp_nodes(
    node: *const erldp_node,
    out: *mut *mut erldp_buf,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        ffi::read(node, Out(out, "out"), |node| {
            erldp_buf::encoded(&Term::List(
                node.node.nodes().into_iter().map(Term::Atom).collect(),
            ))
        })
    }
}

/// Calls `module:function(Args...)` on `peer` like `erpc:call/5` and writes
/// its value as ETF to `*out`. `args`/`args_len` is the ETF of the list of
/// arguments (`[]` for none). `timeout_ms` may be `ERLDP_INFINITY`.
///
/// An exception in the remote function, or a call that could not be made
/// (`badrpc`), is `ERLDP_ERR_RPC`; `erldp_last_error_term` then gives
/// `{Class, Reason, Stacktrace}`. Other failures: `ERLDP_TIMEOUT`,
/// `ERLDP_ERR_CONNECT`, `ERLDP_ERR_AUTH`, `ERLDP_ERR_NOT_FOUND`.
#[no_mangle]
pub unsafe extern "C" fn erldp_rpc(
    node: *const erldp_node,
    peer: *const c_char,
    module: *const c_char,
    function: *const c_char,
    args: *const u8,
    args_len: usize,
    timeout_ms: u32,
    out: *mut *mut erldp_buf,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let node = unsafe { ffi::handle(node) }?;
        let peer = unsafe { ffi::str(peer, "peer") }?;
        let module = unsafe { ffi::str(module, "module") }?;
        let function = unsafe { ffi::str(function, "function") }?;
        let args = match unsafe { ffi::term(args, args_len, "args") }? {
            Term::List(args) => args,
            other => {
                return Err(ffi::wrong_kind(
                    "args",
                    "a proper list of arguments",
                    &other,
                ))
            }
        };
        let out = unsafe { ffi::out(out, "out") }?;
        let value = node
            .node
            .rpc(peer, module, function, args, ffi::timeout(timeout_ms))?;
        ffi::write(out, erldp_buf::encoded(&value)?);
        Ok(())
    })
}

/// A destination given as ETF: a pid, an alias (reference) or `{Name, Node}`.
pub(crate) unsafe fn dest(data: *const u8, len: usize, name: &str) -> Outcome<Dest> {
    // SAFETY: forwarded from the caller.
    let term = unsafe { ffi::term(data, len, name) }?;
    Dest::from_term(&term).context(name)
}

/// A destination given as registered name and node, the node's argument
/// called `node_arg` in the header.
pub(crate) unsafe fn named(
    name: *const c_char,
    node: *const c_char,
    node_arg: &str,
) -> Outcome<Dest> {
    // SAFETY: forwarded from the caller.
    let name = unsafe { ffi::str(name, "name") }?;
    let node = unsafe { ffi::str(node, node_arg) }?;
    Ok(Dest::try_name(name, node)?)
}

/// `gen_server:call` to the destination `dest` gives, the reply written as
/// ETF to `*out`: what `erldp_call` and its per-destination forms share.
pub(crate) unsafe fn call_to(
    node: *const erldp_node,
    dest: impl FnOnce() -> Outcome<Dest>,
    request: *const u8,
    request_len: usize,
    timeout_ms: u32,
    out: *mut *mut erldp_buf,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let node = unsafe { ffi::handle(node) }?;
        let dest = dest()?;
        let request = unsafe { ffi::term(request, request_len, "request") }?;
        let out = unsafe { ffi::out(out, "out") }?;
        let reply = node.node.call(&dest, request, ffi::timeout(timeout_ms))?;
        ffi::write(out, erldp_buf::encoded(&reply)?);
        Ok(())
    })
}

/// `gen_server:call(Dest, Request, Timeout)`: `dest` is the ETF of a pid or
/// `{Name, Node}`, `request` the ETF of the request; the reply is written
/// as ETF to `*out`. A server that does not exist or dies meanwhile is
/// `ERLDP_ERR_RPC` (class `exit`, with `noproc` or its exit reason).
#[no_mangle]
pub unsafe extern "C" fn erldp_call(
    node: *const erldp_node,
    dest: *const u8,
    dest_len: usize,
    request: *const u8,
    request_len: usize,
    timeout_ms: u32,
    out: *mut *mut erldp_buf,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    let dest = || unsafe { self::dest(dest, dest_len, "dest") };
    unsafe { call_to(node, dest, request, request_len, timeout_ms, out) }
}

/// `gen_server:call({Name, Peer}, Request, Timeout)` for a server
/// registered as `name` on node `peer`; otherwise as `erldp_call`.
#[no_mangle]
pub unsafe extern "C" fn erldp_call_named(
    node: *const erldp_node,
    name: *const c_char,
    peer: *const c_char,
    request: *const u8,
    request_len: usize,
    timeout_ms: u32,
    out: *mut *mut erldp_buf,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    let dest = || unsafe { named(name, peer, "peer") };
    unsafe { call_to(node, dest, request, request_len, timeout_ms, out) }
}

/// `gen_server:cast` to the destination `dest` gives: what `erldp_cast` and
/// `erldp_cast_named` share.
unsafe fn cast_to(
    node: *const erldp_node,
    dest: impl FnOnce() -> Outcome<Dest>,
    request: *const u8,
    request_len: usize,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let node = unsafe { ffi::handle(node) }?;
        let dest = dest()?;
        let request = unsafe { ffi::term(request, request_len, "request") }?;
        node.node.cast(&dest, request)?;
        Ok(())
    })
}

/// `gen_server:cast(Dest, Request)`; `dest` as for `erldp_call` (an alias
/// works too). Like `gen_server:cast`, succeeds whether or not the server
/// exists.
#[no_mangle]
pub unsafe extern "C" fn erldp_cast(
    node: *const erldp_node,
    dest: *const u8,
    dest_len: usize,
    request: *const u8,
    request_len: usize,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    let dest = || unsafe { self::dest(dest, dest_len, "dest") };
    unsafe { cast_to(node, dest, request, request_len) }
}

/// `gen_server:cast({Name, Peer}, Request)`.
#[no_mangle]
pub unsafe extern "C" fn erldp_cast_named(
    node: *const erldp_node,
    name: *const c_char,
    peer: *const c_char,
    request: *const u8,
    request_len: usize,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    let dest = || unsafe { named(name, peer, "peer") };
    unsafe { cast_to(node, dest, request, request_len) }
}

/// Answers a `gen_server:call` that reached one of this node's mailboxes as
/// `{'$gen_call', From, Request}`: `from` is the ETF of that `From`, `reply`
/// the ETF of the answer, which the caller's `gen_server:call` returns. Also
/// answers a served name's call that its callback left unanswered, with the
/// `from` that `erldp_request_from` gave. Any thread may call it.
#[no_mangle]
pub unsafe extern "C" fn erldp_reply(
    node: *const erldp_node,
    from: *const u8,
    from_len: usize,
    reply: *const u8,
    reply_len: usize,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let node = unsafe { ffi::handle(node) }?;
        let from = unsafe { ffi::term(from, from_len, "from") }?;
        let reply = unsafe { ffi::term(reply, reply_len, "reply") }?;
        node.node.reply(&from, reply).context("from")
    })
}
