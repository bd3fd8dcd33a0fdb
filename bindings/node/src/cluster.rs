//! Cluster membership from JavaScript (API.md, "Cluster membership"):
//! global names, `pg` groups and node events, over the core's
//! `Node::register_global`, `Mailbox::join`, `Mailbox::monitor_nodes` and
//! their kin.
//!
//! Registering a global name waits for global's locks on every node of the
//! cluster, as on BEAM, so it gets a short-lived thread of its own. The
//! rest asks the core's cluster driver (a hidden node's `whereisGlobal`
//! asks a peer) and runs on one lane, the one that `erldp.global(name)`
//! destinations are sent through, keyed by the empty atom that
//! `Dest::Global` names as its node.

use erldp::{Atom, Mailbox, Term, DEFAULT_SCOPE};
use napi::{Env, Result};
use napi_derive::napi;

use crate::convert::{self, from_js, DecodeOptions};
use crate::error;
use crate::js::{Js, Kind, Value};
use crate::mailbox::NativeMailbox;
use crate::node::{spawn, NativeNode, Outcome};

/// The lane of the cluster's requests (see the module's comment).
fn cluster_lane() -> Atom {
    Atom::new("")
}

/// A global name: a string or a symbol is the atom; any other value is
/// the term it converts to.
fn global_name(js: Js, value: Value) -> Result<Term> {
    match js.kind(value)? {
        Kind::String | Kind::Symbol => Ok(Term::Atom(Atom::new(&convert::name_from_js(
            js,
            value,
            "global name",
        )?))),
        _ => from_js(js, value),
    }
}

/// The scope's name; `pg` when not given.
fn scope_name(js: Js, scope: Option<Value>) -> Result<String> {
    match scope {
        Some(scope) if !matches!(js.kind(scope)?, Kind::Undefined | Kind::Null) => {
            convert::name_from_js(js, scope, "scope")
        }
        _ => Ok(DEFAULT_SCOPE.to_string()),
    }
}

#[napi]
impl NativeNode {
    /// `global:register_name(Name, Pid)` for a pid of ours; settles with
    /// true, or false when the name was taken.
    #[napi(catch_unwind)]
    pub fn register_global(&self, env: Env, id: u32, name: Value, pid: Value) -> Result<()> {
        let js = Js::new(env.raw());
        let name = global_name(js, name)?;
        let Term::Pid(pid) = from_js(js, pid)? else {
            return Err(error::invalid_argument(
                js,
                "registerGlobal takes a mailbox or a pid of this node",
            ));
        };
        let (node, reply) = (self.node.clone(), self.cx.reply.clone());
        spawn("erldp-js-global", &self.cx.reply, id, move || {
            let registered = node.register_global(&name, pid);
            reply.result(
                id,
                DecodeOptions::default(),
                registered.map(|yes| Outcome::Value(Term::from(yes))),
            );
        });
        Ok(())
    }

    /// `global:unregister_name(Name)`.
    #[napi(catch_unwind)]
    pub fn unregister_global(&self, env: Env, id: u32, name: Value) -> Result<()> {
        let name = global_name(Js::new(env.raw()), name)?;
        let (node, reply) = (self.node.clone(), self.cx.reply.clone());
        spawn("erldp-js-global", &self.cx.reply, id, move || {
            let done = node.unregister_global(&name).map(|()| Outcome::Done);
            reply.result(id, DecodeOptions::default(), done);
        });
        Ok(())
    }

    /// `global:whereis_name(Name)`: settles with the pid, or `nil` (which
    /// the package reads as `null`) when the name is not registered.
    #[napi(catch_unwind)]
    pub fn whereis_global(&self, env: Env, id: u32, name: Value) -> Result<()> {
        let name = global_name(Js::new(env.raw()), name)?;
        let (node, reply) = (self.node.clone(), self.cx.reply.clone());
        self.cx.run(cluster_lane(), move || {
            let found = node
                .whereis_global(&name)
                .map(|pid| Outcome::Value(pid.map_or(Term::atom("nil"), Term::Pid)));
            reply.result(id, DecodeOptions::default(), found);
        });
        Ok(())
    }

    /// `pg:get_members(Scope, Group)`: settles with a list of pids.
    #[napi(catch_unwind)]
    pub fn members(&self, env: Env, id: u32, group: Value, scope: Option<Value>) -> Result<()> {
        let js = Js::new(env.raw());
        let (group, scope) = (from_js(js, group)?, scope_name(js, scope)?);
        let (node, reply) = (self.node.clone(), self.cx.reply.clone());
        self.cx.run(cluster_lane(), move || {
            let members = node
                .members(&scope, &group)
                .map(|pids| Outcome::Value(Term::List(pids.into_iter().map(Term::Pid).collect())));
            reply.result(id, DecodeOptions::default(), members);
        });
        Ok(())
    }
}

#[napi]
impl NativeMailbox {
    /// `pg:join(Scope, Group, self())`.
    #[napi(catch_unwind)]
    pub fn join(&self, env: Env, id: u32, group: Value, scope: Option<Value>) -> Result<()> {
        let js = Js::new(env.raw());
        let (group, scope) = (from_js(js, group)?, scope_name(js, scope)?);
        self.request(id, cluster_lane(), move |mailbox| {
            mailbox.join(&scope, group).map(|()| Outcome::Done)
        });
        Ok(())
    }

    /// `pg:leave(Scope, Group, self())`: settles with false when the
    /// mailbox was not in the group.
    #[napi(catch_unwind)]
    pub fn leave(&self, env: Env, id: u32, group: Value, scope: Option<Value>) -> Result<()> {
        let js = Js::new(env.raw());
        let (group, scope) = (from_js(js, group)?, scope_name(js, scope)?);
        self.request(id, cluster_lane(), move |mailbox| {
            mailbox
                .leave(&scope, &group)
                .map(|left| Outcome::Value(Term::from(left)))
        });
        Ok(())
    }

    /// `net_kernel:monitor_nodes(true)`: `node_up` and `node_down` messages.
    #[napi(catch_unwind)]
    pub fn monitor_nodes(&self, env: Env) -> Result<()> {
        self.node_events(env, Mailbox::monitor_nodes)
    }

    /// Undoes one `monitorNodes`.
    #[napi(catch_unwind)]
    pub fn demonitor_nodes(&self, env: Env) -> Result<()> {
        self.node_events(env, Mailbox::demonitor_nodes)
    }
}

impl NativeMailbox {
    /// `monitorNodes` or `demonitorNodes`, refused once the mailbox is
    /// closed.
    fn node_events(&self, env: Env, op: fn(&Mailbox) -> erldp::Result<()>) -> Result<()> {
        let js = Js::new(env.raw());
        self.check_open(js)?;
        op(&self.mailbox).map_err(|err| error::throw(js, &err))
    }
}
