//! The sending half of the atom cache: which atoms the peer holds for this
//! connection, so that a frame refers to them by index instead of spelling
//! them out.
//!
//! Implements the atom cache of the [distribution
//! header](https://www.erlang.org/doc/apps/erts/erl_ext_dist.html#normal-distribution-header);
//! the receiving half is [`Inbound`](super::header::Inbound)'s.

use crate::term::encode::tag;
use crate::term::Atom;

/// The entries of the atom cache: 8 segments of 256, as the header's
/// segment and internal indexes address them.
const ATOM_CACHE_SIZE: usize = 2048;
/// A header holds at most this many references (its count is one byte).
const MAX_CACHE_REFS: usize = 255;

/// What the peer's atom cache for this connection holds, as far as our
/// frames told it, and the references of the message being encoded.
///
/// Each atom has one slot, picked by hashing its (interned) address. A
/// message refers to an atom in its slot (sending the text only when the
/// slot held another atom); an atom whose slot is taken by another atom of
/// the same message, or that comes after the 255th reference, is written in
/// full. Frames reach the peer in the order they are encoded (both happen
/// under the connection's queue lock), so it applies the updates in the
/// same order.
pub(super) struct AtomCache {
    slots: Box<[Option<Atom>]>,
    /// Per slot: the message generation that last referred to it, and the
    /// index of its reference in that message.
    marks: Box<[(u32, u8)]>,
    generation: u32,
    refs: Vec<CacheRef>,
}

#[derive(Clone, Copy)]
struct CacheRef {
    atom: Atom,
    slot: u16,
    new: bool,
}

impl AtomCache {
    pub(super) fn new() -> AtomCache {
        AtomCache {
            slots: vec![None; ATOM_CACHE_SIZE].into_boxed_slice(),
            marks: vec![(0, 0); ATOM_CACHE_SIZE].into_boxed_slice(),
            generation: 0,
            refs: Vec::with_capacity(16),
        }
    }

    #[inline]
    fn slot(atom: Atom) -> usize {
        // Fibonacci hashing of the atom's hash word; the top 11 bits index
        // 2048 slots.
        (atom.hash_word().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - 11)) as usize
    }

    pub(super) fn begin(&mut self) {
        self.refs.clear();
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.marks.fill((0, 0));
            self.generation = 1;
        }
    }

    #[inline]
    pub(super) fn note(&mut self, atom: Atom) {
        // Long atom texts would need the header's long-atoms form; they are
        // rare enough to go in full.
        if self.refs.len() == MAX_CACHE_REFS || atom.as_str().len() > 255 {
            return;
        }
        let slot = Self::slot(atom);
        if self.marks[slot].0 == self.generation {
            return;
        }
        self.marks[slot] = (self.generation, self.refs.len() as u8);
        self.refs.push(CacheRef {
            atom,
            slot: slot as u16,
            new: self.slots[slot] != Some(atom),
        });
    }

    #[inline]
    pub(super) fn index_of(&self, atom: Atom) -> Option<u8> {
        let (generation, index) = self.marks[Self::slot(atom)];
        (generation == self.generation && self.refs.get(usize::from(index))?.atom == atom)
            .then_some(index)
    }

    /// `131 68`, the references and the texts of new entries
    /// ([distribution header](https://www.erlang.org/doc/apps/erts/erl_ext_dist.html#normal-distribution-header)).
    pub(super) fn write_header(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[tag::VERSION, tag::DIST_HEADER, self.refs.len() as u8]);
        if self.refs.is_empty() {
            return;
        }
        // One flag nibble per reference, even ones in the low half; the
        // nibble after the last says "no long atoms" (0).
        let flags_at = out.len();
        out.resize(flags_at + self.refs.len() / 2 + 1, 0);
        for (i, entry) in self.refs.iter().enumerate() {
            let nibble = (u8::from(entry.new) << 3) | (entry.slot >> 8) as u8;
            out[flags_at + i / 2] |= nibble << ((i % 2) * 4);
        }
        for entry in &self.refs {
            out.push(entry.slot as u8);
            if entry.new {
                let text = entry.atom.as_str().as_bytes();
                out.push(text.len() as u8);
                out.extend_from_slice(text);
            }
        }
    }

    /// The message went out: the peer now holds its new entries.
    pub(super) fn commit(&mut self) {
        for entry in &self.refs {
            self.slots[usize::from(entry.slot)] = Some(entry.atom);
        }
    }
}
