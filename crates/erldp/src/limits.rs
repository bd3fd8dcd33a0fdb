//! The defaults of the bounds a node puts on what peers make it hold and
//! wait for, beside those of decoding ([`term::Limits`](crate::term::Limits),
//! [`DEFAULT_ATOMS_PER_PEER`](crate::term::DEFAULT_ATOMS_PER_PEER)). Each is
//! changed with the [`NodeBuilder`](crate::NodeBuilder) option of the same
//! name, but [`MAX_HOST_LOOKUPS`], the program's; README's "Limits" lists
//! them all, with what happens past each.

use std::time::Duration;

/// How many incoming handshakes may be under way at once
/// ([`NodeBuilder::max_pending_handshakes`](crate::NodeBuilder::max_pending_handshakes)).
pub const DEFAULT_MAX_PENDING_HANDSHAKES: usize = 64;

/// How many messages may be arriving in fragments at once on one connection
/// ([`NodeBuilder::max_fragmented_messages`](crate::NodeBuilder::max_fragmented_messages)).
pub const DEFAULT_FRAGMENTED_MESSAGES: usize = 1024;

/// How many links and monitors one peer may hold on our processes
/// ([`NodeBuilder::max_monitors_per_peer`](crate::NodeBuilder::max_monitors_per_peer)).
pub const DEFAULT_MONITORS_PER_PEER: usize = 65_536;

/// How long a send may wait for room in a connection's queue
/// ([`NodeBuilder::send_timeout`](crate::NodeBuilder::send_timeout)).
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// How much a connection's queue may hold that the peer has not taken
/// before sends wait, 16 MiB
/// ([`NodeBuilder::send_queue_limit`](crate::NodeBuilder::send_queue_limit)).
pub const DEFAULT_SEND_QUEUE_LIMIT: usize = 16 << 20;

/// How many host-name look-ups may wait on the system resolver at once in the
/// whole program, a thread each (a resolver whose DNS server does not answer
/// holds one for its own retries, past the connect's deadline). Fixed: a
/// look-up past it fails at once, as the host could not be resolved.
pub const MAX_HOST_LOOKUPS: usize = 64;
