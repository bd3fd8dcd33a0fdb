//! Cluster membership on `ErlDP::Node` and `ErlDP::Mailbox`: global names,
//! pg process groups, node events. Keyword arguments
//! and documentation are in `lib/erldp/cluster.rb`; the protocols are the
//! core's (`erldp::Node::register_global`, `erldp::Mailbox::join`, ...).

use erldp::{Atom, Term};
use magnus::{method, prelude::*, Error, RArray, RString, Ruby, Symbol, TypedData, Value};

use crate::errors::raise;
use crate::mailbox::Mailbox;
use crate::node::Node;
use crate::values::Pid;
use crate::{args, gvl};

/// A global name: a Symbol or String is an atom, as everywhere a name is
/// taken; any other value is the term itself (global names may be any
/// term).
fn global_name(ruby: &Ruby, name: Value) -> Result<Term, Error> {
    if Symbol::from_value(name).is_some() || RString::from_value(name).is_some() {
        let text = args::name(ruby, name, "global name")?;
        return Ok(Term::Atom(Atom::new(&text)));
    }
    args::term(ruby, name)
}

/// A pg scope: a Symbol or String.
fn scope(ruby: &Ruby, scope: Value) -> Result<String, Error> {
    args::name(ruby, scope, "pg scope")
}

fn pids(ruby: &Ruby, pids: Vec<erldp::Pid>) -> RArray {
    ruby.ary_from_iter(pids.into_iter().map(|pid| Pid::wrap(ruby, pid)))
}

/// `global:register_name/2`: waits, with the GVL released, as long as
/// global's locks take; an interrupt ends the wait and the registration
/// runs on to its end.
fn register_global(ruby: &Ruby, rb_self: &Node, name: Value, pid: &Pid) -> Result<bool, Error> {
    let name = global_name(ruby, name)?;
    let (node, pid) = (rb_self.handle(ruby)?, pid.0);
    gvl::off_thread(ruby, move || node.register_global(&name, pid))?.map_err(|err| raise(ruby, err))
}

fn unregister_global(ruby: &Ruby, rb_self: &Node, name: Value) -> Result<(), Error> {
    let name = global_name(ruby, name)?;
    let node = rb_self.handle(ruby)?;
    gvl::off_thread(ruby, move || node.unregister_global(&name))?.map_err(|err| raise(ruby, err))
}

/// A visible node answers from its own copy of the names; a hidden one
/// asks its peers over the network.
fn whereis_global(ruby: &Ruby, rb_self: &Node, name: Value) -> Result<Option<Value>, Error> {
    let name = global_name(ruby, name)?;
    let node = rb_self.handle(ruby)?;
    let found = gvl::off_thread(ruby, move || node.whereis_global(&name))?
        .map_err(|err| raise(ruby, err))?;
    Ok(found.map(|pid| Pid::wrap(ruby, pid)))
}

fn members(ruby: &Ruby, rb_self: &Node, scope_name: Value, group: Value) -> Result<RArray, Error> {
    let scope = scope(ruby, scope_name)?;
    let group = args::term(ruby, group)?;
    let node = rb_self.core(ruby)?;
    let found = gvl::without_gvl_uninterruptible(ruby, || node.members(&scope, &group))?
        .map_err(|err| raise(ruby, err))?;
    Ok(pids(ruby, found))
}

fn join(ruby: &Ruby, rb_self: &Mailbox, scope_name: Value, group: Value) -> Result<(), Error> {
    let scope = scope(ruby, scope_name)?;
    let group = args::term(ruby, group)?;
    let mailbox = rb_self.core(ruby)?;
    gvl::without_gvl_uninterruptible(ruby, || mailbox.join(&scope, group))?
        .map_err(|err| raise(ruby, err))
}

fn leave(ruby: &Ruby, rb_self: &Mailbox, scope_name: Value, group: Value) -> Result<bool, Error> {
    let scope = scope(ruby, scope_name)?;
    let group = args::term(ruby, group)?;
    let mailbox = rb_self.core(ruby)?;
    gvl::without_gvl_uninterruptible(ruby, || mailbox.leave(&scope, &group))?
        .map_err(|err| raise(ruby, err))
}

fn monitor_nodes(ruby: &Ruby, rb_self: &Mailbox) -> Result<(), Error> {
    rb_self
        .core(ruby)?
        .monitor_nodes()
        .map_err(|err| raise(ruby, err))
}

fn demonitor_nodes(ruby: &Ruby, rb_self: &Mailbox) -> Result<(), Error> {
    rb_self
        .core(ruby)?
        .demonitor_nodes()
        .map_err(|err| raise(ruby, err))
}

pub(crate) fn define(ruby: &Ruby) -> Result<(), Error> {
    let node = Node::class(ruby);
    node.define_private_method("native_register_global", method!(register_global, 2))?;
    node.define_method("unregister_global", method!(unregister_global, 1))?;
    node.define_method("whereis_global", method!(whereis_global, 1))?;
    node.define_private_method("native_members", method!(members, 2))?;

    let mailbox = Mailbox::class(ruby);
    mailbox.define_private_method("native_join", method!(join, 2))?;
    mailbox.define_private_method("native_leave", method!(leave, 2))?;
    mailbox.define_method("monitor_nodes", method!(monitor_nodes, 0))?;
    mailbox.define_method("demonitor_nodes", method!(demonitor_nodes, 0))?;
    Ok(())
}
