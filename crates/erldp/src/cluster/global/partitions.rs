//! Lost connections (`handle_nodedown/3`) and `prevent_overlapping_partitions`: a node that
//! loses a peer tells everyone (`lost_connection`), and whoever still sees that peer drops it
//! (`remove_connection`), so that no two partitions overlap.

use super::locker::Msg;
use super::wire::server_of;
use super::{Action, Global, Proc, LOST_CONNECTION_MEMORY, MIN_SMALL, POP_VSN};
use crate::term::{Atom, Term};

/// Why a node is dropped: a connection that went down is reported to the others, unless we
/// dropped the node on purpose first (then its coming nodedown is not reported again).
#[derive(Clone, Copy, Debug)]
pub(super) enum NodeDown {
    Disconnected,
    RemoveConnection,
}

impl Global {
    /// `{remove_connection, Node}`: a node that lost `node` asks us to drop it too.
    pub(super) fn remove_connection(&mut self, node: Atom) {
        if self.potentially_known(node) {
            self.out.push(Action::Disconnect { node });
            self.handle_nodedown(node, NodeDown::RemoveConnection);
            log::warn!(
                "'global' at {} disconnected node {} in order to prevent overlapping partitions",
                self.config.node,
                node
            );
        }
    }

    pub(super) fn potentially_known(&self, node: Atom) -> bool {
        self.known.contains_key(&node) || self.pending.contains_key(&node)
    }

    /// `handle_nodedown/3`.
    pub(super) fn handle_nodedown(&mut self, node: Atom, what: NodeDown) {
        let tag = self.sessions.get(&node).and_then(|s| s.my_tag);
        self.cancel_locker(node, tag, None);
        self.post(Msg::Remove(node));
        self.sessions.remove(&node);
        match what {
            NodeDown::RemoveConnection => {
                self.removing.insert(node);
            }
            NodeDown::Disconnected => {
                if !self.removing.remove(&node) {
                    self.inform_connection_loss(node);
                }
            }
        }
        self.pending.remove(&node);
        self.known.remove(&node);
        self.synced.retain(|&n| n != node);
    }

    pub(super) fn inform_connection_loss(&mut self, node: Atom) {
        if !self.config.prevent_overlapping_partitions {
            return;
        }
        let xcreation = self.creation_extension + i64::from(self.config.creation) - MIN_SMALL;
        let op = self.new_tag();
        let msg = Term::tuple(vec![
            Term::atom("lost_connection"),
            self.config.node.into(),
            Term::Int(xcreation),
            Term::Int(op),
            node.into(),
        ]);
        self.multicast(&msg, node);
    }

    /// `gns_volatile_multicast/5` to the known and pending nodes of version 7 and later.
    pub(super) fn multicast(&mut self, msg: &Term, except: Atom) {
        let mut targets: Vec<Atom> = self
            .known
            .iter()
            .chain(self.pending.iter())
            .filter(|&(&n, &v)| n != except && v >= POP_VSN)
            .map(|(&n, _)| n)
            .collect();
        targets.sort();
        targets.dedup();
        for node in targets {
            self.send(Proc::Server, server_of(node), msg.clone());
        }
    }

    fn forget_lost(&mut self, key: (Atom, Atom)) {
        if let Some((_, _, timer)) = self.lost.remove(&key) {
            self.out.push(Action::CancelTimer { id: timer });
        }
    }

    pub(super) fn lost_connection(&mut self, msg: &Term, a: Atom, xcre: &Term, op: &Term, b: Atom) {
        let key = (a, b);
        if let Some((seen_cre, seen_op, _)) = self.lost.get(&key) {
            if seen_cre == xcre && op <= seen_op {
                return;
            }
        }
        self.multicast(msg, a);
        let timer = self.ids.next();
        self.out.push(Action::Timer {
            id: timer,
            after: LOST_CONNECTION_MEMORY,
        });
        if !self.lost.contains_key(&key) && self.lost.len() >= self.config.limits.max_nodes {
            // Forgetting the oldest report costs at most one more forwarding of it, should it
            // come again; keeping every report would let peers grow the table without end.
            let oldest = self
                .lost
                .iter()
                .min_by_key(|(_, &(_, _, timer))| timer)
                .map(|(&k, _)| k);
            if let Some(oldest) = oldest {
                self.forget_lost(oldest);
            }
        }
        // As `save_lost_connection_info/4` cancels the timer of the report it replaces: a
        // timer per report would let peers grow the timers without end.
        if let Some((_, _, replaced)) = self.lost.insert(key, (xcre.clone(), op.clone(), timer)) {
            self.out.push(Action::CancelTimer { id: replaced });
        }
        let remove = if b == self.config.node { a } else { b };
        if !self.potentially_known(remove) {
            return;
        }
        let vsn = self.node_vsn(remove);
        let what = if vsn < POP_VSN {
            self.out.push(Action::Disconnect { node: remove });
            "disconnected old"
        } else {
            let msg = Term::tuple(vec![
                Term::atom("remove_connection"),
                self.config.node.into(),
            ]);
            self.send(Proc::Server, server_of(remove), msg);
            "requested disconnect from"
        };
        log::warn!(
            "'global' at node {} {what} node {remove} in order to prevent overlapping partitions",
            self.config.node
        );
        self.handle_nodedown(remove, NodeDown::RemoveConnection);
    }
}
