//! The processes of our node and the signals between processes: links,
//! monitors, exit signals, and what a lost connection means to them.
//!
//! Link bookkeeping follows the [link
//! protocol](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#link_protocol)
//! with unlink ids; monitors are `MONITOR_P`/`DEMONITOR_P`/`MONITOR_P_EXIT`
//! of [Protocol between Connected
//! Nodes](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#protocol-between-connected-nodes).
//! Exit signals never end a process of ours: they arrive as messages, as
//! for an Erlang process that traps exits; only `exit(Pid, kill)` ends a
//! served name's process, as it ends a gen_server (`serving.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use crate::sync::Mutex;

use super::holds::trim;
use super::NodeInner;
use crate::connection::Connection;
use crate::dest::Dest;
use crate::inbox::Inbox;
use crate::message::Message;
use crate::protocol::{noproc, Control, ProcRef};
use crate::term::{Atom, Pid, Ref, Term};
use crate::{Error, Result};

/// The state of one link, from this side: the process-local information of
/// the [link protocol](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#link_protocol),
/// whose rules settle every crossing of `LINK`, `UNLINK_ID`, its
/// acknowledgement and `EXIT` as erts does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Active,
    /// We sent `UNLINK_ID` with this id and wait for its acknowledgement.
    Unlinking(u64),
}

/// A monitor this process holds on another.
#[derive(Clone, Copy, Debug)]
struct Monitored {
    process: ProcRef,
    node: Atom,
}

/// A monitor another process holds on this one.
#[derive(Clone, Copy, Debug)]
struct Watcher {
    pid: Pid,
    /// How it named us: by pid or by registered name (echoed in the DOWN).
    how: ProcRef,
}

#[derive(Default)]
struct Relations {
    links: HashMap<Pid, Link>,
    monitors: HashMap<Ref, Monitored>,
    watchers: HashMap<Ref, Watcher>,
    node_monitors: HashMap<Atom, usize>,
    next_unlink_id: u64,
    /// The process has ended: nothing links to or monitors it any more.
    closed: bool,
}

impl Relations {
    /// Whether this process may link to `other` now: not when it has ended
    /// (an error), nor when the link stands already (`false`).
    fn may_link(&self, other: Pid) -> Result<bool> {
        if self.closed {
            return Err(Error::Closed);
        }
        Ok(self.links.get(&other) != Some(&Link::Active))
    }
}

/// Told that a monitor on the process went away without firing (a
/// demonitor, a lost connection), with the monitor's reference.
pub(crate) type Unwatched = Box<dyn Fn(&Process, Ref) + Send + Sync>;

/// A process of our node: a pid, perhaps a registered name, a queue of
/// messages, links and monitors.
pub(crate) struct Process {
    pid: Pid,
    name: Mutex<Option<Atom>>,
    inbox: Arc<Inbox>,
    relations: Mutex<Relations>,
    /// For processes the node runs itself (served names, rpc workers),
    /// whose work is wanted only while someone watches.
    unwatched: Option<Unwatched>,
}

impl Process {
    pub(crate) fn new(pid: Pid) -> Arc<Process> {
        Process::with(pid, Inbox::new(), None)
    }

    /// A process the node runs itself: `inbox` hands its messages on, and
    /// `unwatched` hears of monitors that go away.
    pub(crate) fn run_by_node(pid: Pid, inbox: Arc<Inbox>, unwatched: Unwatched) -> Arc<Process> {
        Process::with(pid, inbox, Some(unwatched))
    }

    fn with(pid: Pid, inbox: Arc<Inbox>, unwatched: Option<Unwatched>) -> Arc<Process> {
        Arc::new(Process {
            pid,
            name: Mutex::new(None),
            inbox,
            relations: Mutex::new(Relations::default()),
            unwatched,
        })
    }

    /// A process whose messages and signals all go to `forward` (see
    /// [`Inbox::forwarding`]): one of the node's cluster processes.
    pub(super) fn forwarding(pid: Pid, forward: crate::inbox::Forward) -> Arc<Process> {
        Process::with(pid, Inbox::forwarding(forward), None)
    }

    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    /// The registered name, if any.
    pub(crate) fn name(&self) -> Option<Atom> {
        *self.name.lock()
    }

    pub(crate) fn inbox(&self) -> &Arc<Inbox> {
        &self.inbox
    }

    /// Whether the process has ended.
    pub(crate) fn is_closed(&self) -> bool {
        self.relations.lock().closed
    }

    /// Whether nothing monitors or links to the process any more.
    pub(crate) fn is_unobserved(&self) -> bool {
        let relations = self.relations.lock();
        relations.watchers.is_empty() && relations.links.is_empty()
    }

    /// Gives the process its registered name; it may have one.
    pub(super) fn set_name(&self, name: Atom) -> Result<()> {
        let mut current = self.name.lock();
        if let Some(old) = *current {
            return Err(Error::invalid(format!(
                "this mailbox is already registered as {}",
                old.as_str()
            )));
        }
        if self.is_closed() {
            return Err(Error::Closed);
        }
        *current = Some(name);
        Ok(())
    }

    pub(super) fn take_name(&self) -> Option<Atom> {
        self.name.lock().take()
    }

    /// Ends the process without telling anyone: the node is closing.
    pub(super) fn close_for_good(&self) {
        self.relations.lock().closed = true;
        self.inbox.close();
    }

    /// Records that `watcher` monitors this process, unless it has ended:
    /// `None` then, else whether the monitor is a new one.
    fn add_watcher(&self, reference: Ref, watcher: Watcher) -> Option<bool> {
        let mut relations = self.relations.lock();
        if relations.closed {
            return None;
        }
        Some(relations.watchers.insert(reference, watcher).is_none())
    }

    /// Removes the monitor `reference`, if `by` (when given) holds it;
    /// whether it did.
    fn remove_watcher(&self, reference: Ref, by: Option<Pid>) -> bool {
        {
            let mut relations = self.relations.lock();
            let holder = relations
                .watchers
                .get(&reference)
                .map(|watcher| watcher.pid);
            if holder.is_none() || by.is_some_and(|by| holder != Some(by)) {
                return false;
            }
            relations.watchers.remove(&reference);
            trim(&mut relations.watchers);
        }
        self.note_unwatched(reference);
        true
    }

    fn note_unwatched(&self, reference: Ref) {
        if let Some(unwatched) = &self.unwatched {
            unwatched(self, reference);
        }
    }

    /// Whether a link to `other` stands or is being undone.
    fn has_link(&self, other: Pid) -> bool {
        self.relations.lock().links.contains_key(&other)
    }

    /// Records a link from `other`, unless this process has ended: `None`
    /// then, else whether the link is a new one. A link being undone stays
    /// so: the `LINK` crossed our `UNLINK_ID`, which undoes it on the peer
    /// too, so both sides end unlinked.
    fn add_link(&self, other: Pid) -> Option<bool> {
        let mut relations = self.relations.lock();
        if relations.closed {
            return None;
        }
        let links = &mut relations.links;
        let new = !links.contains_key(&other);
        links.entry(other).or_insert(Link::Active);
        Some(new)
    }

    /// Removes the link to `other` when it is in the given state; whether
    /// it was.
    fn remove_link_if(&self, other: Pid, state: Link) -> bool {
        let mut relations = self.relations.lock();
        if relations.links.get(&other) != Some(&state) {
            return false;
        }
        relations.links.remove(&other);
        trim(&mut relations.links);
        true
    }

    /// The exit signal of a linked process: a message, if the link stood.
    /// Whether there was a link (standing or being undone).
    fn exit_from_link(&self, from: Pid, reason: Term) -> bool {
        let removed = {
            let mut relations = self.relations.lock();
            let removed = relations.links.remove(&from);
            trim(&mut relations.links);
            removed
        };
        if removed == Some(Link::Active) {
            self.inbox.push(Message::exit(from, reason));
        }
        removed.is_some()
    }

    /// The node that the monitor `reference` of this process watches.
    fn monitored_node(&self, reference: Ref) -> Option<Atom> {
        self.relations
            .lock()
            .monitors
            .get(&reference)
            .map(|monitored| monitored.node)
    }

    /// A monitor this process holds fired: a `DOWN` message, if it stood.
    fn fire_monitor(&self, reference: Ref, reason: Term) {
        let monitored = self.relations.lock().monitors.remove(&reference);
        if let Some(monitored) = monitored {
            self.inbox.push(Message::down(
                reference,
                monitored.process,
                monitored.node,
                reason,
            ));
        }
    }

    /// Stops monitoring `node` (once per `monitor_node`).
    pub(super) fn demonitor_node(&self, node: Atom) {
        let mut relations = self.relations.lock();
        if let Some(count) = relations.node_monitors.get_mut(&node) {
            *count -= 1;
            if *count == 0 {
                relations.node_monitors.remove(&node);
            }
        }
    }

    /// What the loss of the connection to `node` means to this process:
    /// links give `noconnection` exits, monitors `noconnection` downs, node
    /// monitors `nodedown`.
    fn lose_node(&self, node: Atom) {
        let noconnection = Term::atom("noconnection");
        let mut messages = Vec::new();
        let mut unwatched = Vec::new();
        {
            let mut relations = self.relations.lock();
            let lost_links: Vec<Pid> = relations
                .links
                .keys()
                .filter(|pid| pid.node == node)
                .copied()
                .collect();
            for pid in lost_links {
                if relations.links.remove(&pid) == Some(Link::Active) {
                    messages.push(Message::exit(pid, noconnection.clone()));
                }
            }
            let lost_monitors: Vec<Ref> = relations
                .monitors
                .iter()
                .filter(|(_, m)| m.node == node)
                .map(|(r, _)| *r)
                .collect();
            for reference in lost_monitors {
                if let Some(monitored) = relations.monitors.remove(&reference) {
                    messages.push(Message::down(
                        reference,
                        monitored.process,
                        monitored.node,
                        noconnection.clone(),
                    ));
                }
            }
            relations.watchers.retain(|reference, watcher| {
                let lost = watcher.pid.node == node;
                if lost {
                    unwatched.push(*reference);
                }
                !lost
            });
            trim(&mut relations.links);
            trim(&mut relations.monitors);
            trim(&mut relations.watchers);
            // One per `monitor_node` that stood, as on BEAM.
            let node_monitors = relations.node_monitors.remove(&node).unwrap_or(0);
            messages.extend((0..node_monitors).map(|_| Message::node_down(node)));
        }
        for reference in unwatched {
            self.note_unwatched(reference);
        }
        for message in messages {
            self.inbox.push(message);
        }
    }
}

/// What our processes do.
impl NodeInner {
    pub(super) fn link(self: &Arc<Self>, process: &Arc<Process>, other: Pid) -> Result<()> {
        if other == process.pid {
            return Ok(());
        }
        if other.node == self.name() {
            return self.link_local(process, other);
        }
        if !process.relations.lock().may_link(other)? {
            return Ok(());
        }
        // Connecting may take the setup time: not under the lock below.
        let conn = self.connection(other.node)?;
        let link = Control::Link {
            from: process.pid,
            to: other,
        };
        let (new, sent) = {
            let mut relations = process.relations.lock();
            if !relations.may_link(other)? {
                return Ok(());
            }
            // Over a link being undone: its acknowledgement no longer
            // matches and is ignored, and our LINK follows the UNLINK_ID,
            // so the peer links again after undoing it.
            let new = relations.links.insert(other, Link::Active).is_none();
            // Sent under the lock, as every link signal of a process is:
            // the peer reads them in the order their states changed here,
            // which the link protocol needs (a LINK after the
            // UNLINK_ID_ACK we owe, never before it).
            let sent = conn.signal(&link);
            if sent.is_err() {
                relations.links.remove(&other);
            }
            (new, sent)
        };
        match sent {
            Ok(()) if new => self.held(&conn),
            Ok(()) => {}
            // Nothing went out. A link we were undoing goes as well: the
            // peer has our UNLINK_ID, and its acknowledgement will find
            // nothing to give back, so it is given back here.
            Err(_) if !new => self.released(other.node),
            Err(_) => {}
        }
        sent
    }

    fn link_local(&self, process: &Arc<Process>, other: Pid) -> Result<()> {
        {
            let mut relations = process.relations.lock();
            if !relations.may_link(other)? {
                return Ok(());
            }
            relations.links.insert(other, Link::Active);
        }
        let linked = self
            .process(other)
            .and_then(|peer| peer.add_link(process.pid))
            .is_some();
        if !linked {
            process.exit_from_link(other, Term::atom("noproc"));
        }
        Ok(())
    }

    pub(super) fn unlink(self: &Arc<Self>, process: &Arc<Process>, other: Pid) -> Result<()> {
        if process.relations.lock().links.get(&other) != Some(&Link::Active) {
            return Ok(());
        }
        if other.node == self.name() {
            process.remove_link_if(other, Link::Active);
            if let Some(peer) = self.process(other) {
                peer.relations.lock().links.remove(&process.pid);
            }
            return Ok(());
        }
        let sent = self.connection(other.node).and_then(|conn| {
            let mut relations = process.relations.lock();
            if relations.links.get(&other) != Some(&Link::Active) {
                return Ok(false);
            }
            relations.next_unlink_id += 1;
            let id = relations.next_unlink_id;
            // Under the lock, as in `link`.
            conn.signal(&Control::UnlinkId {
                id,
                from: process.pid,
                to: other,
            })?;
            relations.links.insert(other, Link::Unlinking(id));
            Ok(true)
        });
        match sent {
            Ok(_) => Ok(()),
            // No acknowledgement will come to give the link back.
            Err(err) => {
                if process.remove_link_if(other, Link::Active) {
                    self.released(other.node);
                }
                Err(err)
            }
        }
    }

    pub(super) fn monitor(self: &Arc<Self>, process: &Arc<Process>, target: &Dest) -> Result<Ref> {
        let target = match *target {
            Dest::Global(name) => Dest::Pid(self.global_pid(name)?),
            _ => *target,
        };
        self.monitor_as(process, &target, true)
    }

    /// [`monitor`](Self::monitor) without connecting: when no connection to
    /// the target's node is up, the monitor fires at once with
    /// `noconnection`, as for a node that cannot be reached. The cluster
    /// processes monitor this way, never waiting for a connection.
    pub(super) fn monitor_noconnect(
        self: &Arc<Self>,
        process: &Arc<Process>,
        target: &Dest,
    ) -> Result<Ref> {
        self.monitor_as(process, target, false)
    }

    fn monitor_as(
        self: &Arc<Self>,
        process: &Arc<Process>,
        target: &Dest,
        connect: bool,
    ) -> Result<Ref> {
        let (target_ref, node) = match *target {
            Dest::Pid(pid) => (ProcRef::Pid(pid), pid.node),
            Dest::Name { name, node } => (ProcRef::Name(name), node),
            Dest::Alias(_) => {
                return Err(Error::invalid(
                    "an alias cannot be monitored; monitor a pid or [name, node]",
                ))
            }
            Dest::Global(name) => {
                return Err(Error::invalid(format!(
                    "the global name {name} must be resolved to its pid to be monitored"
                )))
            }
        };
        let reference = self.identity.make_ref();
        {
            let mut relations = process.relations.lock();
            if relations.closed {
                return Err(Error::Closed);
            }
            relations.monitors.insert(
                reference,
                Monitored {
                    process: target_ref,
                    node,
                },
            );
        }
        if node == self.name() {
            if self.watch(target_ref, reference, process.pid).is_none() {
                process.fire_monitor(reference, Term::atom("noproc"));
            }
            return Ok(reference);
        }
        let monitor = Control::MonitorP {
            from: process.pid,
            to: target_ref,
            reference,
        };
        if !connect {
            if !self.send_noconnect(node, &monitor) {
                process.fire_monitor(reference, Term::atom("noconnection"));
            }
            return Ok(reference);
        }
        if let Err(err) = self.send_control(node, &monitor) {
            process.relations.lock().monitors.remove(&reference);
            return Err(err);
        }
        Ok(reference)
    }

    pub(super) fn demonitor(
        self: &Arc<Self>,
        process: &Arc<Process>,
        reference: Ref,
    ) -> Result<()> {
        let monitored = process.relations.lock().monitors.remove(&reference);
        let Some(monitored) = monitored else {
            return Ok(());
        };
        if monitored.node == self.name() {
            self.unwatch_local(monitored.process, reference);
            return Ok(());
        }
        self.signal_if_connected(
            monitored.node,
            &Control::DemonitorP {
                from: process.pid,
                to: monitored.process,
                reference,
            },
        );
        Ok(())
    }

    pub(super) fn monitor_node(self: &Arc<Self>, process: &Arc<Process>, node: &str) -> Result<()> {
        let node = Atom::new(node);
        if node == self.name() {
            return Ok(());
        }
        if self.connection(node).is_err() {
            process.inbox.push(Message::node_down(node));
            return Ok(());
        }
        let mut relations = process.relations.lock();
        if relations.closed {
            return Err(Error::Closed);
        }
        *relations.node_monitors.entry(node).or_insert(0) += 1;
        Ok(())
    }

    /// Ends a process: exit signals to linked processes, `DOWN` to
    /// monitoring ones, demonitors for what it monitored.
    pub(super) fn close_process(self: &Arc<Self>, process: &Arc<Process>, reason: Term) {
        let relations = {
            let mut relations = process.relations.lock();
            if relations.closed {
                return;
            }
            // What is left behind stays marked closed, so that `is_closed`
            // holds and later links and monitors are refused.
            std::mem::replace(
                &mut *relations,
                Relations {
                    closed: true,
                    ..Relations::default()
                },
            )
        };
        self.registry.remove(process);
        process.inbox.close();
        if self.is_closed() {
            return;
        }
        let me = process.pid;
        for (other, link) in relations.links {
            if other.node != self.name() {
                // A link being undone counts until its UNLINK_ID_ACK,
                // which finds no process from now on: it goes here too.
                self.released(other.node);
            }
            if link != Link::Active {
                continue;
            }
            if other.node == self.name() {
                if let Some(peer) = self.process(other) {
                    peer.exit_from_link(me, reason.clone());
                }
            } else {
                self.signal_if_connected(
                    other.node,
                    &Control::Exit {
                        from: me,
                        to: other,
                        reason: reason.clone(),
                    },
                );
            }
        }
        for (reference, watcher) in relations.watchers {
            self.tell_watcher(watcher, reference, reason.clone());
        }
        for (reference, monitored) in relations.monitors {
            if monitored.node == self.name() {
                self.unwatch_local(monitored.process, reference);
            } else {
                self.signal_if_connected(
                    monitored.node,
                    &Control::DemonitorP {
                        from: me,
                        to: monitored.process,
                        reference,
                    },
                );
            }
        }
    }

    /// Sets up what a spawn request asked for on the process it started:
    /// a link to the requester, and the requester's monitor under the
    /// request's reference. Nothing is sent: the `SPAWN_REPLY` tells.
    pub(super) fn tie_to_requester(
        &self,
        process: &Arc<Process>,
        requester: Pid,
        reference: Ref,
        link: bool,
        monitor: bool,
    ) {
        {
            let mut relations = process.relations.lock();
            if link {
                relations.links.insert(requester, Link::Active);
            }
            if monitor {
                relations.watchers.insert(
                    reference,
                    Watcher {
                        pid: requester,
                        how: ProcRef::Pid(process.pid),
                    },
                );
            }
        }
        // They count against the requester's max_monitors_per_peer, as
        // their release at the process's end does.
        if requester.node != self.name() {
            if let Some(conn) = self.live_connection(requester.node) {
                for _ in 0..(link as usize + monitor as usize) {
                    self.held(&conn);
                }
            }
        }
    }

    /// Fires one monitor on `process` with `reason`, as if the process had
    /// ended for that watcher alone: a served name's caller learns that
    /// its call failed while the process lives on. False when no such
    /// monitor stands.
    pub(super) fn fire_watcher(
        self: &Arc<Self>,
        process: &Arc<Process>,
        reference: Ref,
        reason: Term,
    ) -> bool {
        let watcher = process.relations.lock().watchers.remove(&reference);
        let Some(watcher) = watcher else {
            return false;
        };
        self.tell_watcher(watcher, reference, reason);
        true
    }

    /// The monitor `reference` of `watcher` fired: a `DOWN` for a local watcher, a
    /// `MONITOR_P_EXIT` for a remote one, whose connection holds one monitor less.
    fn tell_watcher(self: &Arc<Self>, watcher: Watcher, reference: Ref, reason: Term) {
        if watcher.pid.node == self.name() {
            self.notify_down(watcher.pid, reference, reason);
        } else {
            self.released(watcher.pid.node);
            self.signal_if_connected(
                watcher.pid.node,
                &Control::MonitorPExit {
                    from: watcher.how,
                    to: watcher.pid,
                    reference,
                    reason,
                },
            );
        }
    }

    /// Makes `watcher` monitor the local process `target` names: `None`
    /// when there is none (any more), else whether the monitor is new.
    pub(super) fn watch(&self, target: ProcRef, reference: Ref, watcher: Pid) -> Option<bool> {
        self.resolve(target).and_then(|process| {
            process.add_watcher(
                reference,
                Watcher {
                    pid: watcher,
                    how: target,
                },
            )
        })
    }

    pub(super) fn unwatch_local(&self, target: ProcRef, reference: Ref) {
        if let Some(process) = self.resolve(target) {
            process.remove_watcher(reference, None);
        }
    }

    /// A local monitor fired: completes a call, or delivers a `DOWN`.
    fn notify_down(self: &Arc<Self>, watcher: Pid, reference: Ref, reason: Term) {
        if self.complete_down(reference, reason.clone(), None) == Ok(true) {
            return;
        }
        if let Some(process) = self.process(watcher) {
            process.fire_monitor(reference, reason);
        }
    }

    /// Every process that had anything over the lost connection learns of
    /// it; pending calls fail.
    pub(super) fn node_down(self: &Arc<Self>, node: Atom, reason: &str) {
        for process in self.registry.all() {
            process.lose_node(node);
        }
        self.fail_outstanding(node, reason);
    }
}

/// What peers do to our processes.
impl NodeInner {
    pub(super) fn on_link(&self, conn: &Connection, control: &Control, from: Pid, to: Pid) {
        let Some(process) = self.process(to) else {
            return self.refuse(conn, control);
        };
        // A LINK on a link that stands or is being undone adds nothing to
        // hold: at the bound it must not cost the peer its connection.
        if process.has_link(from) {
            return;
        }
        if !self.may_hold(conn) {
            return;
        }
        match process.add_link(from) {
            Some(true) => self.held(conn),
            Some(false) => {}
            None => self.refuse(conn, control),
        }
    }

    pub(super) fn on_unlink_id(&self, conn: &Connection, id: u64, from: Pid, to: Pid) {
        let ack = noproc::unlink_ack(id, from, to);
        let Some(process) = self.process(to) else {
            let _ = conn.signal(&ack);
            return;
        };
        let removed = {
            let mut relations = process.relations.lock();
            // A link we are undoing ourselves stays until our own UNLINK_ID
            // is acknowledged.
            let removed = relations.links.get(&from) == Some(&Link::Active);
            if removed {
                relations.links.remove(&from);
                trim(&mut relations.links);
            }
            // Under the lock: a LINK this process sends once the link is
            // gone goes out after the acknowledgement (see `link`).
            let _ = conn.signal(&ack);
            removed
        };
        if removed {
            self.released(from.node);
        }
    }

    pub(super) fn on_unlink_id_ack(&self, id: u64, from: Pid, to: Pid) {
        if self
            .process(to)
            .is_some_and(|process| process.remove_link_if(from, Link::Unlinking(id)))
        {
            self.released(from.node);
        }
    }

    /// The exit signal of a process linked to ours.
    pub(super) fn on_exit(&self, from: Pid, to: Pid, reason: Term) {
        if self
            .process(to)
            .is_some_and(|process| process.exit_from_link(from, reason))
        {
            self.released(from.node);
        }
    }

    /// `exit/2` aimed at a process of ours; the built-in ones ignore it.
    pub(super) fn on_exit2(self: &Arc<Self>, from: Pid, to: Pid, reason: Term) {
        if self.builtins.owns(to) {
            return;
        }
        if reason.is_atom("kill") && self.kill_served(from, to) {
            return;
        }
        // From the peer's node (dispatch refuses forged senders): counted
        // like its messages where a cluster process is the target, whose
        // driver ignores them, or a flood of them would queue unbounded.
        if let Some(process) = self.process(to) {
            process
                .inbox
                .push_unasked(Message::exit(from, reason), from.node);
        }
    }

    pub(super) fn on_monitor(
        &self,
        conn: &Connection,
        control: &Control,
        from: Pid,
        to: ProcRef,
        reference: Ref,
    ) {
        // A monitor's reference is made by the monitoring node: one of
        // another node's could take over that node's monitor of the process.
        if reference.node != from.node {
            conn.abort(&format!(
                "MONITOR_P with a reference of {}, not of the monitoring node",
                reference.node
            ));
            return;
        }
        if !self.may_hold(conn) {
            return;
        }
        match self.watch(to, reference, from) {
            Some(true) => self.held(conn),
            Some(false) => {}
            None => self.refuse(conn, control),
        }
    }

    /// A peer's process stops monitoring ours (only its own monitor).
    pub(super) fn on_demonitor(&self, from: Pid, to: ProcRef, reference: Ref) {
        if self
            .resolve(to)
            .is_some_and(|process| process.remove_watcher(reference, Some(from)))
        {
            self.released(from.node);
        }
    }

    /// A monitor of ours fired on the peer: a call or rpc fails or
    /// completes, or a process gets its `DOWN`. Only the node the monitor
    /// watches may say so: our references are no secret, and another peer
    /// naming one would forge the result of a call or rpc to that node.
    pub(super) fn on_monitor_exit(
        self: &Arc<Self>,
        conn: &Connection,
        to: Pid,
        reference: Ref,
        reason: Term,
    ) {
        let peer = conn.peer_name();
        let elsewhere = match self.complete_down(reference, reason.clone(), Some(peer)) {
            Ok(true) => return,
            Ok(false) => {
                self.process(to)
                    .and_then(|process| match process.monitored_node(reference) {
                        Some(node) if node != peer => Some(node),
                        _ => {
                            process.fire_monitor(reference, reason);
                            None
                        }
                    })
            }
            Err(node) => Some(node),
        };
        if let Some(node) = elsewhere {
            conn.abort(&format!(
                "MONITOR_P_EXIT for a monitor of ours on {node}, not on the peer"
            ));
        }
    }

    /// Answers `control` as for a process that does not exist.
    fn refuse(&self, conn: &Connection, control: &Control) {
        if let Some(answer) = noproc::answer(control) {
            let _ = conn.signal(&answer);
        }
    }
}
