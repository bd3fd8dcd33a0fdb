//! Mailboxes: the processes of a C program's node. Sending, receiving,
//! links and monitors.

use std::ffi::c_char;
use std::ops::Deref;
use std::time::Instant;

use erldp::{Dest, Error, Mailbox, Pid, Term};

use crate::buf::erldp_buf;
use crate::ffi::{self, Out};
use crate::fork::Owner;
use crate::message::erldp_message;
use crate::node::{self, erldp_node};
use crate::status::{erldp_status, guard, guard_value, Context, Outcome};

/// A process of the node: it has a pid, optionally a registered name, a
/// queue of incoming messages, links and monitors. Exit signals never kill
/// it; they arrive as messages of kind `ERLDP_MSG_EXIT`. Usable from several
/// threads at once (one may block in `erldp_receive` while others send).
/// Close (and free) it with `erldp_mailbox_close`.
pub struct erldp_mailbox {
    mailbox: Mailbox,
    owner: Owner,
}

impl ffi::Handle for erldp_mailbox {
    const ARG: &'static str = "mailbox";

    fn owner(&self) -> Option<Owner> {
        Some(self.owner)
    }
}

/// A mailbox handle is the core's mailbox, used from C.
impl Deref for erldp_mailbox {
    type Target = Mailbox;

    fn deref(&self) -> &Mailbox {
        &self.mailbox
    }
}

/// A new mailbox of `node`, registered as `name` unless `name` is NULL.
/// Registering a name that is taken is `ERLDP_ERR_NAME_TAKEN`.
#[no_mangle]
pub unsafe extern "C" fn erldp_mailbox_new(
    node: *const erldp_node,
    name: *const c_char,
    out: *mut *mut erldp_mailbox,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let node = unsafe { ffi::handle(node) }?;
        let name = unsafe { ffi::opt_str(name, "name") }?;
        let out = unsafe { ffi::out(out, "out") }?;
        let mailbox = node.node.mailbox(name)?;
        ffi::write(
            out,
            Box::into_raw(Box::new(erldp_mailbox {
                mailbox,
                owner: Owner::current(),
            })),
        );
        Ok(())
    })
}

/// Registers `name` for the mailbox, which may have one name, like an
/// Erlang process.
#[no_mangle]
pub unsafe extern "C" fn erldp_mailbox_register(
    mailbox: *const erldp_mailbox,
    name: *const c_char,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let mailbox = unsafe { ffi::handle(mailbox) }?;
        let name = unsafe { ffi::str(name, "name") }?;
        mailbox.register(name)?;
        Ok(())
    })
}

/// The mailbox's pid as ETF, written to `*out`: send it to Erlang code so
/// that it can answer, or use it as a destination.
#[no_mangle]
pub unsafe extern "C" fn erldp_mailbox_pid(
    mailbox: *const erldp_mailbox,
    out: *mut *mut erldp_buf,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        ffi::read(mailbox, Out(out, "out"), |mailbox| {
            erldp_buf::encoded(&Term::Pid(mailbox.pid()))
        })
    }
}

/// Bounds the mailbox's queue: while it holds `limit` entries, a further
/// message is dropped (as one sent to a process that no longer exists) and
/// counted by `erldp_mailbox_dropped`; exit (but those sent with `exit/2`,
/// which count as messages), down and node_down signals are always queued.
/// 0 removes the limit (the default, unless the node's
/// `mailbox_queue_limit` option gave one). Nothing already queued is
/// dropped.
#[no_mangle]
pub unsafe extern "C" fn erldp_mailbox_set_queue_limit(
    mailbox: *const erldp_mailbox,
    limit: u64,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let mailbox = unsafe { ffi::handle(mailbox) }?;
        mailbox.set_queue_limit(node::queue_limit(limit));
        Ok(())
    })
}

/// How many messages and signals the mailbox holds, not yet received (like
/// `process_info(Pid, message_queue_len)`); 0 for a NULL mailbox, and in a
/// forked child for the parent's mailbox.
#[no_mangle]
pub unsafe extern "C" fn erldp_mailbox_queue_len(mailbox: *const erldp_mailbox) -> u64 {
    // SAFETY: NULL or a live mailbox (the pointer contract).
    unsafe { queue_count(mailbox, Mailbox::len) as u64 }
}

/// How many messages arrived while the queue was at its limit, and were
/// dropped; 0 for a NULL mailbox, and in a forked child for the parent's
/// mailbox.
#[no_mangle]
pub unsafe extern "C" fn erldp_mailbox_dropped(mailbox: *const erldp_mailbox) -> u64 {
    // SAFETY: NULL or a live mailbox (the pointer contract).
    unsafe { queue_count(mailbox, Mailbox::dropped) }
}

/// A count the queue's lock guards, refused in a forked child (`ffi::get`
/// reads the parent's handle there, but a parent's thread may have held
/// that lock at the fork).
unsafe fn queue_count<T: Default>(mailbox: *const erldp_mailbox, count: fn(&Mailbox) -> T) -> T {
    // SAFETY: forwarded from the caller.
    guard_value(T::default(), || Ok(count(unsafe { ffi::handle(mailbox) }?)))
}

/// Closes the mailbox with reason `normal` and frees it: linked processes
/// get an exit signal, monitoring ones `DOWN`, its name is unregistered. No
/// other call may use it at the same time or after. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn erldp_mailbox_close(mailbox: *mut erldp_mailbox) {
    // SAFETY: NULL or a mailbox the library allocated (the pointer contract).
    unsafe { ffi::release(mailbox, |owned| owned.mailbox.close(Term::atom("normal"))) }
}

/// Like `erldp_mailbox_close`, with the exit reason given as ETF (linked
/// Erlang processes that do not trap exits die unless it is `normal`). On
/// failure (a malformed reason) the mailbox is neither closed nor freed.
#[no_mangle]
pub unsafe extern "C" fn erldp_mailbox_close_with_reason(
    mailbox: *mut erldp_mailbox,
    reason: *const u8,
    reason_len: usize,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        if unsafe { ffi::present(mailbox) }?.owner.forked() {
            return Ok(());
        }
        let reason = unsafe { ffi::term(reason, reason_len, "reason") }?;
        // SAFETY: checked non-NULL above; a mailbox the library allocated,
        // freed once.
        let owned = unsafe { Box::from_raw(mailbox) };
        owned.mailbox.close(reason);
        Ok(())
    })
}

/// Sends the term `msg` (ETF) from this mailbox to `dest`: the ETF of a
/// pid, an alias (reference) or `{Name, Node}`. Connects to the
/// destination's node first if needed. Like Erlang's `!`, success means the
/// message was queued for the connection, not that the receiver exists. A
/// message of 64 KiB or more (over TCP) is written from `msg` by this call
/// rather than copied: it returns once the socket has taken it, or the send
/// timeout has passed (what is left is then copied and sent later).
#[no_mangle]
pub unsafe extern "C" fn erldp_send(
    mailbox: *const erldp_mailbox,
    dest: *const u8,
    dest_len: usize,
    msg: *const u8,
    msg_len: usize,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    let dest = || unsafe { node::dest(dest, dest_len, "dest") };
    unsafe { send_to(mailbox, dest, msg, msg_len) }
}

/// Sends `msg` (ETF) to the destination `dest` gives: what `erldp_send` and
/// its per-destination forms share.
pub(crate) unsafe fn send_to(
    mailbox: *const erldp_mailbox,
    dest: impl FnOnce() -> Outcome<Dest>,
    msg: *const u8,
    msg_len: usize,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let mailbox = unsafe { ffi::handle(mailbox) }?;
        let dest = dest()?;
        let msg = unsafe { ffi::bytes(msg, msg_len, "msg") }?;
        // Decode errors name the `msg` argument, like those of the other
        // calls.
        match mailbox.send_encoded(&dest, msg) {
            Err(err @ Error::Decode { .. }) => Err(err).context("msg"),
            other => Ok(other?),
        }
    })
}

/// Sends `msg` (ETF) to the process registered as `name` on `node`
/// (Erlang's `{Name, Node} ! Msg`).
#[no_mangle]
pub unsafe extern "C" fn erldp_send_named(
    mailbox: *const erldp_mailbox,
    name: *const c_char,
    node: *const c_char,
    msg: *const u8,
    msg_len: usize,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    let dest = || unsafe { node::named(name, node, "node") };
    unsafe { send_to(mailbox, dest, msg, msg_len) }
}

/// Takes the next message or signal, waiting up to `timeout_ms`
/// milliseconds (0 polls, `ERLDP_INFINITY` waits for ever), and writes it to
/// `*out` (free it with `erldp_message_free`). `ERLDP_TIMEOUT` when none
/// came in time; `ERLDP_ERR_CLOSED` once the mailbox or its node is closed.
#[no_mangle]
pub unsafe extern "C" fn erldp_receive(
    mailbox: *const erldp_mailbox,
    timeout_ms: u32,
    out: *mut *mut erldp_message,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        ffi::read(mailbox, Out(out, "out"), |mailbox| {
            let started = Instant::now();
            let message = mailbox
                .recv_timeout(ffi::timeout(timeout_ms))?
                .ok_or_else(|| Error::Timeout {
                    operation: format!(
                        "receive on mailbox {}: no message within {} ms",
                        mailbox.pid(),
                        started.elapsed().as_millis()
                    ),
                })?;
            erldp_message::boxed(message)
        })
    }
}

/// Links or unlinks (`op`) the mailbox and the process `pid` (ETF).
unsafe fn on_pid(
    mailbox: *const erldp_mailbox,
    pid: *const u8,
    pid_len: usize,
    op: fn(&Mailbox, Pid) -> erldp::Result<()>,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let mailbox = unsafe { ffi::handle(mailbox) }?;
        let pid = unsafe { ffi::term_of_kind(pid, pid_len, "pid", "a pid", Term::as_pid) }?;
        Ok(op(mailbox, pid)?)
    })
}

/// Links the mailbox to the process `pid` (ETF): when either ends, the other
/// gets an exit signal (here: a message of kind `ERLDP_MSG_EXIT`).
#[no_mangle]
pub unsafe extern "C" fn erldp_link(
    mailbox: *const erldp_mailbox,
    pid: *const u8,
    pid_len: usize,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe { on_pid(mailbox, pid, pid_len, Mailbox::link) }
}

/// Removes the link to `pid` (ETF).
#[no_mangle]
pub unsafe extern "C" fn erldp_unlink(
    mailbox: *const erldp_mailbox,
    pid: *const u8,
    pid_len: usize,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe { on_pid(mailbox, pid, pid_len, Mailbox::unlink) }
}

/// Monitors the process `target` gives and writes the monitor reference
/// (ETF) to `*out`: what `erldp_monitor` and `erldp_monitor_global` share.
pub(crate) unsafe fn monitor_to(
    mailbox: *const erldp_mailbox,
    target: impl FnOnce() -> Outcome<Dest>,
    out: *mut *mut erldp_buf,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let mailbox = unsafe { ffi::handle(mailbox) }?;
        let target = target()?;
        let out = unsafe { ffi::out(out, "out") }?;
        let reference = mailbox.monitor(&target)?;
        ffi::write(out, erldp_buf::encoded(&Term::Ref(reference))?);
        Ok(())
    })
}

/// Monitors the process `target`: the ETF of a pid or `{Name, Node}`. Writes
/// the monitor reference (ETF) to `*out`; a message of kind `ERLDP_MSG_DOWN`
/// carrying it arrives when the process ends (at once, with reason
/// `noproc`, when it does not exist).
#[no_mangle]
pub unsafe extern "C" fn erldp_monitor(
    mailbox: *const erldp_mailbox,
    target: *const u8,
    target_len: usize,
    out: *mut *mut erldp_buf,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    let target = || unsafe { node::dest(target, target_len, "target") };
    unsafe { monitor_to(mailbox, target, out) }
}

/// Removes the monitor with reference `ref` (ETF, from `erldp_monitor`); no
/// `DOWN` message for it arrives afterwards.
#[no_mangle]
pub unsafe extern "C" fn erldp_demonitor(
    mailbox: *const erldp_mailbox,
    reference: *const u8,
    ref_len: usize,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let mailbox = unsafe { ffi::handle(mailbox) }?;
        let reference = unsafe {
            ffi::term_of_kind(
                reference,
                ref_len,
                "reference",
                "a reference",
                Term::as_reference,
            )
        }?;
        mailbox.demonitor(reference)?;
        Ok(())
    })
}

/// Monitors or stops monitoring (`op`) the node `node`.
unsafe fn on_node(
    mailbox: *const erldp_mailbox,
    node: *const c_char,
    op: fn(&Mailbox, &str) -> erldp::Result<()>,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let mailbox = unsafe { ffi::handle(mailbox) }?;
        let node = unsafe { ffi::str(node, "node") }?;
        Ok(op(mailbox, node)?)
    })
}

/// Monitors the node `node` (`erlang:monitor_node/2`): a message of kind
/// `ERLDP_MSG_NODE_DOWN` arrives when the connection to it goes down.
/// Connects first if not connected.
#[no_mangle]
pub unsafe extern "C" fn erldp_monitor_node(
    mailbox: *const erldp_mailbox,
    node: *const c_char,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe { on_node(mailbox, node, Mailbox::monitor_node) }
}

/// Stops monitoring `node` (once per `erldp_monitor_node`).
#[no_mangle]
pub unsafe extern "C" fn erldp_demonitor_node(
    mailbox: *const erldp_mailbox,
    node: *const c_char,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe { on_node(mailbox, node, Mailbox::demonitor_node) }
}
