//! What peers hold on our processes: the links and monitors each peer has
//! made, counted per connection and bounded by
//! [`NodeBuilder::max_monitors_per_peer`](super::NodeBuilder::max_monitors_per_peer).
//!
//! Each costs a few hundred bytes for as long as the connection lasts, and
//! erts sets no bound: a peer could make a million and hold their memory.
//! Links count whichever side made them (our links to a peer's processes
//! are bounded by what our program does); monitors are the peer's
//! `MONITOR_P`s and those its `SPAWN_REQUEST`s ask for ([link and monitor
//! signals](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#protocol-between-connected-nodes)).
//! The count goes with the connection: a lost connection takes every link
//! and monitor over it away ([`NodeInner::node_down`]).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::Ordering;

use super::NodeInner;
use crate::connection::Connection;
use crate::term::Atom;

impl NodeInner {
    /// Whether the peer of `conn` may make one more link or monitor; when
    /// not, its connection ends.
    pub(super) fn may_hold(&self, conn: &Connection) -> bool {
        if conn.holds().load(Ordering::Acquire) < self.max_monitors_per_peer {
            return true;
        }
        conn.abort(&format!(
            "the peer holds more than {} links and monitors on our processes \
             (max_monitors_per_peer)",
            self.max_monitors_per_peer
        ));
        false
    }

    /// A link or monitor over `conn` was made.
    pub(super) fn held(&self, conn: &Connection) {
        conn.holds().fetch_add(1, Ordering::AcqRel);
    }

    /// A link or monitor with a process of `node` went.
    pub(super) fn released(&self, node: Atom) {
        if let Some(conn) = self.live_connection(node) {
            let _ = conn
                .holds()
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                    held.checked_sub(1)
                });
        }
    }
}

/// Gives a table's memory back when it holds far less than it has room
/// for: after a peer's links or monitors went, their room would otherwise
/// stay with the process for good.
pub(super) fn trim<K: Eq + Hash, V, S: BuildHasher>(map: &mut HashMap<K, V, S>) {
    if map.capacity() > 1024 && map.len() < map.capacity() / 4 {
        map.shrink_to_fit();
    }
}
