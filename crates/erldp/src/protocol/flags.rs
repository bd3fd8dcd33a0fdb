//! Distribution capability flags
//! ([Distribution Flags](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#dflags)):
//! what each side of a connection speaks, exchanged in the handshake.

/// The node is visible: it appears in `nodes()` of its peers.
pub const PUBLISHED: u64 = 0x1;
/// An atom cache (obsolete).
pub const ATOM_CACHE: u64 = 0x2;
/// References of three 32-bit words.
pub const EXTENDED_REFERENCES: u64 = 0x4;
/// Monitors of remote processes.
pub const DIST_MONITOR: u64 = 0x8;
/// Funs have their own tags.
pub const FUN_TAGS: u64 = 0x10;
/// Monitors of registered names on remote nodes.
pub const DIST_MONITOR_NAME: u64 = 0x20;
/// An atom cache on a hidden node (obsolete).
pub const HIDDEN_ATOM_CACHE: u64 = 0x40;
/// `NEW_FUN_EXT`.
pub const NEW_FUN_TAGS: u64 = 0x80;
/// Pids and ports with the larger fields of `NEW_PID_EXT`.
pub const EXTENDED_PIDS_PORTS: u64 = 0x100;
/// `EXPORT_EXT` for `fun M:F/A`.
pub const EXPORT_PTR_TAG: u64 = 0x200;
/// Bitstrings (`BIT_BINARY_EXT`).
pub const BIT_BINARIES: u64 = 0x400;
/// IEEE floats (`NEW_FLOAT_EXT`).
pub const NEW_FLOATS: u64 = 0x800;
/// Unicode I/O requests.
pub const UNICODE_IO: u64 = 0x1000;
/// The atom cache in the distribution header.
pub const DIST_HDR_ATOM_CACHE: u64 = 0x2000;
/// `SMALL_ATOM_EXT`.
pub const SMALL_ATOM_TAGS: u64 = 0x4000;
/// UTF-8 atoms.
pub const UTF8_ATOMS: u64 = 0x10000;
/// Maps (`MAP_EXT`).
pub const MAP_TAG: u64 = 0x20000;
/// 32-bit creations (`NEW_PID_EXT`, `NEWER_REFERENCE_EXT`).
pub const BIG_CREATION: u64 = 0x40000;
/// `SEND_SENDER` instead of `SEND`: the sender is known.
pub const SEND_SENDER: u64 = 0x80000;
/// Any term as a sequential-trace label.
pub const BIG_SEQTRACE_LABELS: u64 = 0x100000;
/// Exit reasons in the payload (`PAYLOAD_EXIT`, ...).
pub const EXIT_PAYLOAD: u64 = 0x400000;
/// Large messages sent in fragments.
pub const FRAGMENTS: u64 = 0x800000;
/// The version 6 handshake of OTP 23.
pub const HANDSHAKE_23: u64 = 0x1000000;
/// The link protocol with unlink ids.
pub const UNLINK_ID: u64 = 0x2000000;
/// Stands for all of [`MANDATORY_25`]. The value erts uses; the
/// protocol guide's `1 bsl 36` is a documentation error.
pub const MANDATORY_25_DIGEST: u64 = 0x4000000;
/// `SPAWN_REQUEST` and `SPAWN_REPLY`.
pub const SPAWN: u64 = 1 << 32;
/// The peer asks for a name to be chosen for it.
pub const NAME_ME: u64 = 1 << 33;
/// 64-bit pid and port numbers (`V4_PORT_EXT`).
pub const V4_NC: u64 = 1 << 34;
/// Process aliases (`ALIAS_SEND`).
pub const ALIAS: u64 = 1 << 35;

/// Flags OTP 25 requires of every peer.
pub const MANDATORY_25: u64 = EXTENDED_REFERENCES
    | FUN_TAGS
    | EXTENDED_PIDS_PORTS
    | NEW_FUN_TAGS
    | EXPORT_PTR_TAG
    | BIT_BINARIES
    | NEW_FLOATS
    | UTF8_ATOMS
    | MAP_TAG
    | BIG_CREATION
    | HANDSHAKE_23;

/// Flags OTP 26 added to the mandatory set.
pub const MANDATORY_26: u64 = V4_NC | UNLINK_ID;

/// What we require of a peer (0x403070F94).
pub const MANDATORY: u64 = MANDATORY_25 | MANDATORY_26;

/// Everything this implementation speaks. `PUBLISHED` is added for
/// visible nodes.
pub const SUPPORTED: u64 = MANDATORY
    | MANDATORY_25_DIGEST
    | DIST_MONITOR
    | DIST_MONITOR_NAME
    | UNICODE_IO
    | DIST_HDR_ATOM_CACHE
    | SMALL_ATOM_TAGS
    | SEND_SENDER
    | BIG_SEQTRACE_LABELS
    | EXIT_PAYLOAD
    | FRAGMENTS
    | SPAWN
    | ALIAS;

/// A peer's flags with the digest flag expanded into what it stands for.
pub fn expand(peer: u64) -> u64 {
    if peer & MANDATORY_25_DIGEST != 0 {
        peer | MANDATORY_25
    } else {
        peer
    }
}

/// Names of the mandatory flags missing from `peer` (already expanded).
pub fn missing_mandatory(peer: u64) -> Vec<&'static str> {
    const NAMES: [(u64, &str); 13] = [
        (EXTENDED_REFERENCES, "EXTENDED_REFERENCES"),
        (FUN_TAGS, "FUN_TAGS"),
        (EXTENDED_PIDS_PORTS, "EXTENDED_PIDS_PORTS"),
        (NEW_FUN_TAGS, "NEW_FUN_TAGS"),
        (EXPORT_PTR_TAG, "EXPORT_PTR_TAG"),
        (BIT_BINARIES, "BIT_BINARIES"),
        (NEW_FLOATS, "NEW_FLOATS"),
        (UTF8_ATOMS, "UTF8_ATOMS"),
        (MAP_TAG, "MAP_TAG"),
        (BIG_CREATION, "BIG_CREATION"),
        (HANDSHAKE_23, "HANDSHAKE_23"),
        (V4_NC, "V4_NC"),
        (UNLINK_ID, "UNLINK_ID"),
    ];
    NAMES
        .iter()
        .filter(|(flag, _)| peer & flag == 0)
        .map(|(_, name)| *name)
        .collect()
}
