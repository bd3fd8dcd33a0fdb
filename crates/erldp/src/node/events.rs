//! Node up and down: what the start and the end of each connection mean to
//! the processes that watch every node (`monitor_nodes`) and to the cluster
//! driver, told in one order to all of them.
//!
//! A connection is up before any of its traffic is dispatched and down after
//! the last of it, as `net_kernel` reports `nodeup` and `nodedown`
//! ([`net_kernel:monitor_nodes/1`](https://www.erlang.org/doc/apps/kernel/net_kernel.html#monitor_nodes/1)).
//! A connection that replaces another to the same node (the peer restarted,
//! or declared ours stale) is reported as the old one going down and the new
//! one coming up, whatever the order in which the old connection's reader
//! notices its end.

use std::collections::HashMap;

use crate::sync::Mutex;

use super::NodeInner;
use crate::connection::Connection;
use crate::message::Message;
use crate::protocol::flags;
use crate::term::{Atom, Pid};

/// The connections that are up, and who watches them.
#[derive(Default)]
pub(super) struct NodeEvents(Mutex<State>);

#[derive(Default)]
struct State {
    /// The connection each peer is up on, by its id.
    up: HashMap<Atom, u64>,
    /// Processes that get every node's up and down, once per subscription.
    watchers: HashMap<Pid, usize>,
}

impl NodeInner {
    /// `conn` is the connection to its peer from now on; called before it
    /// dispatches anything.
    pub(super) fn connection_up(&self, conn: &Connection) {
        let peer = conn.peer_name();
        let visible = conn.flags() & flags::PUBLISHED != 0;
        let mut state = self.node_events.0.lock();
        if state.up.insert(peer, conn.id()).is_some() {
            self.node_went_down(&mut state, peer);
        }
        self.tell_watchers(&mut state, Message::node_up(peer));
        self.cluster_node_up(peer, visible);
    }

    /// `conn` ended, after dispatching all it read. Nothing is told when a
    /// newer connection to the same peer already took its place.
    pub(super) fn connection_gone(&self, conn: &Connection) {
        let peer = conn.peer_name();
        let mut state = self.node_events.0.lock();
        if state.up.get(&peer) == Some(&conn.id()) {
            state.up.remove(&peer);
            self.node_went_down(&mut state, peer);
        }
    }

    fn node_went_down(&self, state: &mut State, peer: Atom) {
        self.tell_watchers(state, Message::node_down(peer));
        self.cluster_node_down(peer);
    }

    fn tell_watchers(&self, state: &mut State, message: Message) {
        state.watchers.retain(|&pid, &mut times| {
            let Some(process) = self.process(pid).filter(|p| !p.is_closed()) else {
                return false;
            };
            for _ in 0..times {
                process.inbox().push(message.clone());
            }
            true
        });
    }

    /// `process` gets a `node_up` or `node_down` message whenever a peer
    /// connects or goes, once per call.
    pub(super) fn monitor_nodes(&self, pid: Pid) {
        *self.node_events.0.lock().watchers.entry(pid).or_insert(0) += 1;
    }

    /// Undoes one [`monitor_nodes`](Self::monitor_nodes).
    pub(super) fn demonitor_nodes(&self, pid: Pid) {
        let mut state = self.node_events.0.lock();
        if let Some(times) = state.watchers.get_mut(&pid) {
            *times -= 1;
            if *times == 0 {
                state.watchers.remove(&pid);
            }
        }
    }
}
