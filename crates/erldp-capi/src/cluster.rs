//! Cluster membership: names registered with `global`, `pg` process groups,
//! and node up/down events for mailboxes.

use std::ffi::c_char;

use erldp::{Atom, Dest, Term, DEFAULT_SCOPE};

use crate::buf::erldp_buf;
use crate::ffi;
use crate::mailbox::{self, erldp_mailbox};
use crate::node::{self, erldp_node};
use crate::status::{erldp_status, guard, not_found, Outcome};

/// A global name: an atom, given as a string, checked before it becomes
/// one (an atom stays in the table for good).
unsafe fn global_name(name: *const c_char) -> Outcome<Atom> {
    // SAFETY: forwarded from the caller.
    let name = unsafe { ffi::str(name, "name") }?;
    Ok(Atom::named(name, "global name")?)
}

/// The scope and group of a pg call: `scope` NULL for `pg`, the scope BEAM
/// starts with `-kernel start_pg true`; `group` any term (ETF).
unsafe fn pg_group<'a>(
    scope: *const c_char,
    group: *const u8,
    group_len: usize,
) -> Outcome<(&'a str, Term)> {
    // SAFETY: forwarded from the caller.
    let scope = unsafe { ffi::opt_str(scope, "scope") }?.unwrap_or(DEFAULT_SCOPE);
    let group = unsafe { ffi::term(group, group_len, "group") }?;
    Ok((scope, group))
}

/// `global:register_name(Name, Pid)` for `mailbox`, a mailbox of `node`:
/// writes true to `*registered` once every node of the cluster holds the
/// name, false when it was taken. The name goes when the mailbox closes.
/// Waits as long as global's locks take, as on BEAM. A hidden node cannot
/// register names (`ERLDP_ERR_ARG` says so): start it with `hidden` false.
#[no_mangle]
pub unsafe extern "C" fn erldp_register_global(
    node: *const erldp_node,
    name: *const c_char,
    mailbox: *const erldp_mailbox,
    registered: *mut bool,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let node = unsafe { ffi::handle(node) }?;
        let name = Term::Atom(unsafe { global_name(name) }?);
        let mailbox = unsafe { ffi::handle(mailbox) }?;
        let registered = unsafe { ffi::out(registered, "registered") }?;
        ffi::write(registered, node.node.register_global(&name, mailbox.pid())?);
        Ok(())
    })
}

/// `global:unregister_name(Name)` on every node of the cluster; a name that
/// is not registered is no error. Needs a visible node.
#[no_mangle]
pub unsafe extern "C" fn erldp_unregister_global(
    node: *const erldp_node,
    name: *const c_char,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let node = unsafe { ffi::handle(node) }?;
        let name = Term::Atom(unsafe { global_name(name) }?);
        node.node.unregister_global(&name)?;
        Ok(())
    })
}

/// `global:whereis_name(Name)`: writes the pid registered globally as
/// `name` (ETF) to `*out`; `ERLDP_ERR_NOT_FOUND` when there is none. A
/// visible node answers from its own copy of the names; a hidden one asks
/// its connected peers.
#[no_mangle]
pub unsafe extern "C" fn erldp_whereis_global(
    node: *const erldp_node,
    name: *const c_char,
    out: *mut *mut erldp_buf,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let node = unsafe { ffi::handle(node) }?;
        let name = Term::Atom(unsafe { global_name(name) }?);
        let out = unsafe { ffi::out(out, "out") }?;
        let pid = node.node.whereis_global(&name)?.ok_or_else(|| {
            not_found(
                format!("the global name {name}"),
                "no process is registered under it",
            )
        })?;
        ffi::write(out, erldp_buf::encoded(&Term::Pid(pid))?);
        Ok(())
    })
}

/// Sends `msg` (ETF) from `mailbox` to the process registered globally as
/// `name` (`global:send/2`); `ERLDP_ERR_ARG` when there is none, or when
/// `name` is not 1 to 255 characters.
#[no_mangle]
pub unsafe extern "C" fn erldp_send_global(
    mailbox: *const erldp_mailbox,
    name: *const c_char,
    msg: *const u8,
    msg_len: usize,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    let dest = || Ok(Dest::Global(unsafe { global_name(name) }?));
    unsafe { mailbox::send_to(mailbox, dest, msg, msg_len) }
}

/// `gen_server:call({global, Name}, Request, Timeout)`; otherwise as
/// `erldp_call`. No process under the name is `ERLDP_ERR_RPC` (class `exit`,
/// reason `noproc`), as for `gen_server:call`; a `name` that is not 1 to 255
/// characters is `ERLDP_ERR_ARG`.
#[no_mangle]
pub unsafe extern "C" fn erldp_call_global(
    node: *const erldp_node,
    name: *const c_char,
    request: *const u8,
    request_len: usize,
    timeout_ms: u32,
    out: *mut *mut erldp_buf,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    let dest = || Ok(Dest::Global(unsafe { global_name(name) }?));
    unsafe { node::call_to(node, dest, request, request_len, timeout_ms, out) }
}

/// Monitors the process registered globally as `name` (the name is
/// resolved now, as `gen_server` does): as `erldp_monitor`.
/// `ERLDP_ERR_ARG` when no process holds the name, or when it is not 1 to
/// 255 characters.
#[no_mangle]
pub unsafe extern "C" fn erldp_monitor_global(
    mailbox: *const erldp_mailbox,
    name: *const c_char,
    out: *mut *mut erldp_buf,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    let target = || Ok(Dest::Global(unsafe { global_name(name) }?));
    unsafe { mailbox::monitor_to(mailbox, target, out) }
}

/// `pg:join(Scope, Group, self())` for `mailbox`: `scope` NULL is `pg`,
/// `group` any term (ETF). Every connected peer running the scope, hidden
/// or visible, then lists the mailbox among the group's members, once more
/// per call, until `erldp_leave` or the mailbox closes. A scope no peer
/// runs is no error: it starts on this node at its first use.
#[no_mangle]
pub unsafe extern "C" fn erldp_join(
    mailbox: *const erldp_mailbox,
    scope: *const c_char,
    group: *const u8,
    group_len: usize,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let mailbox = unsafe { ffi::handle(mailbox) }?;
        let (scope, group) = unsafe { pg_group(scope, group, group_len) }?;
        mailbox.join(scope, group)?;
        Ok(())
    })
}

/// `pg:leave(Scope, Group, self())`: leaves the group once; writes false to
/// `*left` when the mailbox was not in it.
#[no_mangle]
pub unsafe extern "C" fn erldp_leave(
    mailbox: *const erldp_mailbox,
    scope: *const c_char,
    group: *const u8,
    group_len: usize,
    left: *mut bool,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let mailbox = unsafe { ffi::handle(mailbox) }?;
        let (scope, group) = unsafe { pg_group(scope, group, group_len) }?;
        let left = unsafe { ffi::out(left, "left") }?;
        ffi::write(left, mailbox.leave(scope, &group)?);
        Ok(())
    })
}

/// `pg:get_members(Scope, Group)`: the members of `group` (ETF) in `scope`
/// (NULL: `pg`), this node's and its peers', as the ETF of a list of pids
/// written to `*out`. Peers' members arrive as they answer once the scope
/// started on this node (at its first use).
#[no_mangle]
pub unsafe extern "C" fn erldp_members(
    node: *const erldp_node,
    scope: *const c_char,
    group: *const u8,
    group_len: usize,
    out: *mut *mut erldp_buf,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let node = unsafe { ffi::handle(node) }?;
        let (scope, group) = unsafe { pg_group(scope, group, group_len) }?;
        let out = unsafe { ffi::out(out, "out") }?;
        let members = node.node.members(scope, &group)?;
        let list = Term::List(members.into_iter().map(Term::Pid).collect());
        ffi::write(out, erldp_buf::encoded(&list)?);
        Ok(())
    })
}

/// `net_kernel:monitor_nodes(true)` for every kind of peer: a message of
/// kind `ERLDP_MSG_NODE_UP` (`{nodeup, Node}`) when a node connects and
/// `ERLDP_MSG_NODE_DOWN` (`{nodedown, Node}`) when its connection goes,
/// hidden peers included. Called twice, each event comes twice.
#[no_mangle]
pub unsafe extern "C" fn erldp_monitor_nodes(mailbox: *const erldp_mailbox) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let mailbox = unsafe { ffi::handle(mailbox) }?;
        mailbox.monitor_nodes()?;
        Ok(())
    })
}

/// Undoes one `erldp_monitor_nodes`.
#[no_mangle]
pub unsafe extern "C" fn erldp_demonitor_nodes(mailbox: *const erldp_mailbox) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let mailbox = unsafe { ffi::handle(mailbox) }?;
        mailbox.demonitor_nodes()?;
        Ok(())
    })
}
