//! The distribution header: the atom cache references that precede a
//! frame's terms, and messages split into fragments.
//!
//! Implements the [distribution
//! header](https://www.erlang.org/doc/apps/erts/erl_ext_dist.html#distribution-header).
//! Frames arrive as pass-through (`112`, when the atom cache header was not
//! negotiated), as `131 68` with atom cache references, or as `131 69`/`131 70`
//! fragments that are reassembled here; [`Outbound`] writes them the way the
//! negotiated flags want.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::atom_cache::AtomCache;
use super::control::{self, Control, Parts, Shape};
use super::flags;
use crate::term::encode::{encode_into_cached, tag, visit_atoms, AtomRefs, Outlined, Writer};
use crate::term::{encode_into, Atom, AtomBudget, Limits, Term};
use crate::{Error, Result};

/// The first byte of a frame sent without a distribution header, when the
/// peer did not negotiate `DIST_HDR_ATOM_CACHE`.
const PASS_THROUGH: u8 = 112;

/// What bounds one peer's frames: their size, the messages arriving in
/// fragments at once, the long atoms the peer may still add to the atom
/// table, and what decoding one of its messages may build.
#[derive(Clone)]
pub(crate) struct Bounds {
    /// The largest frame, and what the messages being reassembled from
    /// fragments may hold together.
    pub max_message: usize,
    /// How many messages may be arriving in fragments at once.
    pub max_fragmented: usize,
    pub atoms: Arc<AtomBudget>,
    pub limits: Limits,
}

impl Default for Bounds {
    /// A node's defaults, with a budget of its own: for a connection that
    /// is the only one to its peer.
    fn default() -> Bounds {
        Bounds {
            max_message: 1 << 30,
            max_fragmented: crate::limits::DEFAULT_FRAGMENTED_MESSAGES,
            atoms: Arc::new(AtomBudget::new(crate::term::DEFAULT_ATOMS_PER_PEER)),
            limits: Limits::default(),
        }
    }
}

/// Per-connection receive state: the atom cache and unfinished fragments.
pub(crate) struct Inbound {
    cache: Box<[Option<Atom>]>,
    partial: HashMap<u64, Partial>,
    partial_bytes: usize,
    bounds: Bounds,
    /// The atoms of the current frame's references, kept between frames
    /// so that an unfragmented frame allocates nothing for them.
    refs: Vec<Atom>,
}

struct Partial {
    refs: Vec<Atom>,
    next_fragment: u64,
    /// A `Vec`, not a `BytesMut`, for `reserve_exact`: how far it grows is
    /// counted against the limit, and it may grow only as far as that leaves.
    data: Vec<u8>,
}

impl Partial {
    /// What a message being reassembled holds, for the bound on all of
    /// them: its buffer, the atoms its cache references name, and its entry.
    fn cost(refs: usize, capacity: usize) -> usize {
        std::mem::size_of::<(u64, Partial)>() + refs * std::mem::size_of::<Atom>() + capacity
    }
}

/// Where a frame's terms start and which atoms its cache references name.
pub(super) struct Framed {
    pub refs: Vec<Atom>,
    pub body: Bytes,
    /// Pass-through: every term has its own version byte.
    pub versioned: bool,
}

impl Inbound {
    pub(crate) fn new(bounds: Bounds) -> Inbound {
        Inbound {
            cache: vec![None; 2048].into_boxed_slice(),
            partial: HashMap::new(),
            partial_bytes: 0,
            bounds,
            refs: Vec::new(),
        }
    }

    /// Decodes one frame (a tick is never passed here). Returns `None` when
    /// the frame was a fragment that does not complete its message yet.
    pub(crate) fn decode(&mut self, frame: Bytes) -> Result<Option<Control>> {
        let framed = match frame.first() {
            Some(&PASS_THROUGH) => Framed {
                refs: Vec::new(),
                body: frame.slice(1..),
                versioned: true,
            },
            Some(&tag::VERSION) => match frame.get(1) {
                Some(&tag::DIST_HEADER) => {
                    let mut pos = 2;
                    let mut refs = std::mem::take(&mut self.refs);
                    self.read_header(&frame, &mut pos, &mut refs)?;
                    let framed = Framed {
                        refs,
                        body: frame.slice(pos..),
                        versioned: false,
                    };
                    let control = control::decode(&framed, &self.bounds);
                    self.refs = framed.refs;
                    return control.map(Some);
                }
                Some(&tag::DIST_FRAG_HEADER) => match self.first_fragment(&frame)? {
                    Some(framed) => framed,
                    None => return Ok(None),
                },
                Some(&tag::DIST_FRAG_CONT) => match self.next_fragment(&frame)? {
                    Some(framed) => framed,
                    None => return Ok(None),
                },
                Some(other) => {
                    return Err(Error::decode(
                        1,
                        format!("unknown distribution header tag {other}"),
                    ))
                }
                None => return Err(Error::decode(1, "truncated distribution header")),
            },
            Some(other) => {
                return Err(Error::decode(
                    0,
                    format!("frame starts with {other}, not a distribution header"),
                ))
            }
            None => return Err(Error::decode(0, "empty frame")),
        };
        control::decode(&framed, &self.bounds).map(Some)
    }

    /// Reads the atom cache part of a header starting at `pos` (just after
    /// the tag) into `refs`: the atoms its references stand for.
    fn read_header(&mut self, frame: &[u8], pos: &mut usize, refs: &mut Vec<Atom>) -> Result<()> {
        refs.clear();
        let count = *frame
            .get(*pos)
            .ok_or_else(|| Error::decode(*pos, "truncated header"))? as usize;
        *pos += 1;
        if count == 0 {
            return Ok(());
        }
        let flag_bytes = count / 2 + 1;
        let flags = frame
            .get(*pos..*pos + flag_bytes)
            .ok_or_else(|| Error::decode(*pos, "truncated atom cache flags"))?;
        *pos += flag_bytes;
        let nibble = |i: usize| (flags[i / 2] >> ((i % 2) * 4)) & 0x0F;
        let long_atoms = nibble(count) & 0x01 != 0;
        refs.reserve(count);
        for i in 0..count {
            let flag = nibble(i);
            let segment = (flag & 0x07) as usize;
            let internal = *frame
                .get(*pos)
                .ok_or_else(|| Error::decode(*pos, "truncated atom cache ref"))?
                as usize;
            *pos += 1;
            let slot = segment * 256 + internal;
            if flag & 0x08 != 0 {
                let len = if long_atoms {
                    let bytes = frame
                        .get(*pos..*pos + 2)
                        .ok_or_else(|| Error::decode(*pos, "truncated atom length"))?;
                    *pos += 2;
                    u16::from_be_bytes([bytes[0], bytes[1]]) as usize
                } else {
                    let len = *frame
                        .get(*pos)
                        .ok_or_else(|| Error::decode(*pos, "truncated atom length"))?;
                    *pos += 1;
                    len as usize
                };
                let text = frame
                    .get(*pos..*pos + len)
                    .ok_or_else(|| Error::decode(*pos, "truncated atom text in cache update"))?;
                let text = std::str::from_utf8(text)
                    .map_err(|_| Error::decode(*pos, "atom in cache update is not UTF-8"))?;
                let atom = Atom::new_from_peer(text, Some(&self.bounds.atoms))
                    .map_err(|refused| Error::decode(*pos, refused.to_string()))?;
                *pos += len;
                self.cache[slot] = Some(atom);
                refs.push(atom);
            } else {
                let atom = self.cache[slot].ok_or_else(|| {
                    Error::decode(
                        *pos - 1,
                        format!("reference to empty atom cache slot {slot}"),
                    )
                })?;
                refs.push(atom);
            }
        }
        Ok(())
    }

    fn first_fragment(&mut self, frame: &Bytes) -> Result<Option<Framed>> {
        let (sequence, fragment) = fragment_ids(frame)?;
        let mut pos = 18;
        let mut refs = Vec::new();
        self.read_header(frame, &mut pos, &mut refs)?;
        let body = frame.slice(pos..);
        if fragment == 1 {
            return Ok(Some(Framed {
                refs,
                body,
                versioned: false,
            }));
        }
        if fragment == 0 {
            return Err(Error::decode(10, "fragment id 0"));
        }
        // Every fragment carries a byte at least: a message announcing
        // more fragments than that cannot be one the limit lets through.
        if u64::try_from(self.bounds.max_message).is_ok_and(|max| fragment > max) {
            return Err(Error::decode(
                10,
                format!(
                    "a message in {fragment} fragments exceeds the limit of {} bytes",
                    self.bounds.max_message
                ),
            ));
        }
        if self.partial.len() >= self.bounds.max_fragmented {
            return Err(Error::decode(
                2,
                format!(
                    "more than {} messages arriving in fragments at once (max_fragmented_messages)",
                    self.bounds.max_fragmented
                ),
            ));
        }
        let data = body.to_vec();
        self.reserve_fragment_space(Partial::cost(refs.len(), data.capacity()))?;
        if let Some(old) = self.partial.insert(
            sequence,
            Partial {
                refs,
                next_fragment: fragment - 1,
                data,
            },
        ) {
            self.partial_bytes -= Partial::cost(old.refs.len(), old.data.capacity());
            return Err(Error::decode(
                2,
                format!("fragment sequence {sequence} started twice"),
            ));
        }
        Ok(None)
    }

    fn next_fragment(&mut self, frame: &Bytes) -> Result<Option<Framed>> {
        let (sequence, fragment) = fragment_ids(frame)?;
        let body = &frame[18..];
        let partial = self.partial.get_mut(&sequence).ok_or_else(|| {
            Error::decode(
                2,
                format!("continuation of unknown fragment sequence {sequence}"),
            )
        })?;
        if fragment != partial.next_fragment {
            return Err(Error::decode(
                10,
                format!(
                    "fragment {fragment} of sequence {sequence} arrived, expected {}",
                    partial.next_fragment
                ),
            ));
        }
        let data = &mut partial.data;
        if data.capacity() - data.len() < body.len() {
            // Doubling, as far as the limit leaves room: growing by each
            // fragment alone would copy a large message over and over.
            let needed = data.len() + body.len();
            let room =
                (self.bounds.max_message + data.capacity()).saturating_sub(self.partial_bytes);
            if needed > room {
                return Err(fragments_too_large(self.bounds.max_message));
            }
            let before = data.capacity();
            data.reserve_exact(needed.max(2 * before).min(room) - data.len());
            self.partial_bytes += data.capacity() - before;
        }
        data.extend_from_slice(body);
        if fragment > 1 {
            partial.next_fragment -= 1;
            return Ok(None);
        }
        let done = self
            .partial
            .remove(&sequence)
            .expect("present: just looked up");
        self.partial_bytes -= Partial::cost(done.refs.len(), done.data.capacity());
        Ok(Some(Framed {
            refs: done.refs,
            body: done.data.into(),
            versioned: false,
        }))
    }

    fn reserve_fragment_space(&mut self, more: usize) -> Result<()> {
        self.partial_bytes += more;
        if self.partial_bytes > self.bounds.max_message {
            return Err(fragments_too_large(self.bounds.max_message));
        }
        Ok(())
    }
}

fn fragments_too_large(max_message: usize) -> Error {
    Error::decode(
        0,
        format!("messages arriving in fragments exceed the limit of {max_message} bytes together"),
    )
}

fn fragment_ids(frame: &[u8]) -> Result<(u64, u64)> {
    let ids = frame
        .get(2..18)
        .ok_or_else(|| Error::decode(2, "truncated fragment header"))?;
    let sequence = u64::from_be_bytes(ids[0..8].try_into().expect("8 bytes"));
    let fragment = u64::from_be_bytes(ids[8..16].try_into().expect("8 bytes"));
    Ok((sequence, fragment))
}

/// How to frame outgoing messages on one connection, fixed by the flags
/// negotiated in the handshake, and the sending half of its atom cache.
pub(crate) struct Outbound {
    exit_payload: bool,
    send_sender: bool,
    /// `None` when the peer did not negotiate distribution headers: frames
    /// then go out as pass-through (`112`) with every atom written in full.
    cache: Option<AtomCache>,
}

impl Outbound {
    pub(crate) fn new(negotiated: u64) -> Outbound {
        Outbound {
            exit_payload: negotiated & flags::EXIT_PAYLOAD != 0,
            send_sender: negotiated & flags::SEND_SENDER != 0,
            cache: (negotiated & flags::DIST_HDR_ATOM_CACHE != 0).then(AtomCache::new),
        }
    }

    /// Appends the frame body (without the 4-byte length) for `control`.
    /// On error (a term that cannot be encoded, a frame of 4 GiB or more)
    /// nothing is appended and the atom cache is as before.
    ///
    /// With distribution headers, every atom of the control message and the
    /// payload goes through the atom cache as erts does it: an atom the peer
    /// already holds costs two bytes and, more to the point, spares the peer
    /// an atom table lookup per atom per message.
    ///
    /// `etf`, when given (a version byte, then one term that
    /// [`validate`](crate::term::decode::validate) accepted, not
    /// compressed), is written as it is in place of the control message's
    /// payload, whose atoms then do not go through the atom cache.
    pub(crate) fn encode(
        &mut self,
        out: &mut Vec<u8>,
        control: &Control,
        etf: Option<&[u8]>,
    ) -> Result<()> {
        self.encode_parts(out, control, etf, None)
    }

    /// [`encode`](Self::encode), leaving out what a writer that
    /// [outlines](crate::term::encode::Writer::outline) leaves out (adding
    /// it to `outlined`) and the payload given as `etf`, which belongs after
    /// everything: the returned slice of `etf`, the form it takes after
    /// this frame's header.
    pub(crate) fn encode_outlined<'e>(
        &mut self,
        out: &mut Vec<u8>,
        control: &Control,
        etf: Option<&'e [u8]>,
        outlined: &mut Outlined,
    ) -> Result<&'e [u8]> {
        self.encode_parts(out, control, etf, Some(outlined))?;
        // After a distribution header terms carry no version byte.
        Ok(match etf {
            Some(etf) if self.cache.is_some() => &etf[1..],
            Some(etf) => etf,
            None => &[],
        })
    }

    fn encode_parts(
        &mut self,
        out: &mut Vec<u8>,
        control: &Control,
        etf: Option<&[u8]>,
        mut outlined: Option<&mut Outlined>,
    ) -> Result<()> {
        let start = out.len();
        let shape = Shape {
            exit_payload: self.exit_payload,
            send_sender: self.send_sender,
        };
        let result = match &mut self.cache {
            Some(cache) => {
                cache.begin();
                shape.visit(
                    control,
                    &mut CollectAtoms {
                        cache,
                        payload: etf.is_none(),
                    },
                )?;
                cache.write_header(out);
                let refs = |atom: Atom| cache.index_of(atom);
                let written = shape
                    .visit(
                        control,
                        &mut Write {
                            out,
                            pass_through: false,
                            atom_refs: Some(&refs),
                            etf,
                            outlined: outlined.as_deref_mut(),
                        },
                    )
                    .and_then(|()| fits_frame(out.len() - start + left_out(&outlined, etf)));
                if written.is_ok() {
                    cache.commit();
                }
                written
            }
            None => {
                out.push(PASS_THROUGH);
                shape
                    .visit(
                        control,
                        &mut Write {
                            out,
                            pass_through: true,
                            atom_refs: None,
                            etf,
                            outlined: outlined.as_deref_mut(),
                        },
                    )
                    .and_then(|()| fits_frame(out.len() - start + left_out(&outlined, etf)))
            }
        };
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}

/// What [`Outbound::encode_outlined`] leaves out of a frame's bytes.
fn left_out(outlined: &Option<&mut Outlined>, etf: Option<&[u8]>) -> usize {
    match outlined {
        Some(outlined) => {
            outlined.iter().map(|(_, bytes)| bytes.len()).sum::<usize>()
                + etf.map_or(0, <[u8]>::len)
        }
        None => 0,
    }
}

/// Frames carry a 32-bit length.
fn fits_frame(len: usize) -> Result<()> {
    if u32::try_from(len).is_err() {
        return Err(Error::Encode {
            path: String::new(),
            reason: format!("message of {len} bytes exceeds the 4 GiB frame limit"),
        });
    }
    Ok(())
}

/// Notes the atoms a message will write, for the atom cache: those of the
/// payload too unless it is written as given.
struct CollectAtoms<'a> {
    cache: &'a mut AtomCache,
    payload: bool,
}

impl Parts for CollectAtoms<'_> {
    fn control(&mut self, _arity: u8, _op: i64) {}

    fn tuple(&mut self, _arity: u8) {}

    fn element(&mut self, term: &Term) -> Result<()> {
        visit_atoms(term, &mut |atom| self.cache.note(atom));
        Ok(())
    }

    fn payload(&mut self, term: &Term) -> Result<()> {
        if self.payload {
            self.element(term)?;
        }
        Ok(())
    }
}

/// Writes the message: after a distribution header, or pass-through with a
/// version byte before the control message and before the payload. `etf`:
/// the payload as given, written in place of the control message's.
struct Write<'a> {
    out: &'a mut Vec<u8>,
    pass_through: bool,
    atom_refs: Option<AtomRefs<'a>>,
    etf: Option<&'a [u8]>,
    /// Large binaries, and `etf`, are left out (see
    /// [`Outbound::encode_outlined`]).
    outlined: Option<&'a mut Outlined>,
}

impl Write<'_> {
    fn term(&mut self, term: &Term) -> Result<()> {
        match (self.atom_refs, self.outlined.as_deref_mut()) {
            (Some(refs), None) => encode_into_cached(term, self.out, refs),
            (None, None) => encode_into(term, self.out),
            (refs, Some(outlined)) => {
                let mut writer = Writer::new(self.out).utf8_atoms().outline(outlined);
                if let Some(refs) = refs {
                    writer = writer.atom_cache(refs);
                }
                writer.term(term)
            }
        }
    }
}

impl Parts for Write<'_> {
    fn control(&mut self, arity: u8, op: i64) {
        if self.pass_through {
            self.out.push(tag::VERSION);
        }
        self.out.extend_from_slice(&[
            tag::SMALL_TUPLE_EXT,
            arity,
            tag::SMALL_INTEGER_EXT,
            op as u8,
        ]);
    }

    fn tuple(&mut self, arity: u8) {
        self.out.extend_from_slice(&[tag::SMALL_TUPLE_EXT, arity]);
    }

    fn element(&mut self, term: &Term) -> Result<()> {
        self.term(term)
    }

    fn payload(&mut self, term: &Term) -> Result<()> {
        match self.etf {
            Some(_) if self.outlined.is_some() => {}
            // After a distribution header terms carry no version byte.
            Some(etf) if !self.pass_through => self.out.extend_from_slice(&etf[1..]),
            Some(etf) => self.out.extend_from_slice(etf),
            None if self.pass_through => {
                self.out.push(tag::VERSION);
                return self.term(term);
            }
            None => return self.term(term),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tests::{pid, small};
    use crate::term::MAX_ATOM_CHARS;

    fn roundtrip(mut outbound: Outbound, control: Control) -> Control {
        let mut out = Vec::new();
        outbound.encode(&mut out, &control, None).expect("encodes");
        let mut inbound = Inbound::new(small());
        inbound
            .decode(Bytes::from(out))
            .expect("decodes")
            .expect("complete")
    }

    #[test]
    fn send_roundtrips_with_and_without_header() {
        for negotiated in [flags::SUPPORTED, flags::MANDATORY] {
            let control = Control::Send {
                from: Some(pid(1)),
                to: pid(2),
                message: Term::atom("hi"),
            };
            match roundtrip(Outbound::new(negotiated), control) {
                Control::Send { to, message, .. } => {
                    assert_eq!(to, pid(2));
                    assert!(message.is_atom("hi"));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn a_payload_given_as_etf_is_written_as_it_is() {
        let message = Term::Tuple(vec![Term::atom("seq"), Term::binary(vec![5u8; 300])]);
        let etf = crate::term::encode(&message).expect("encodes");
        for negotiated in [flags::SUPPORTED, flags::MANDATORY] {
            let control = Control::RegSend {
                from: pid(1),
                to: Atom::new("sink"),
                message: Term::nil(),
            };
            let mut out = Vec::new();
            let mut outbound = Outbound::new(negotiated);
            outbound
                .encode(&mut out, &control, Some(&etf))
                .expect("encodes");
            let body = &etf[1..];
            assert_eq!(&out[out.len() - body.len()..], body, "the bytes as given");
            let decoded = Inbound::new(small())
                .decode(Bytes::from(out))
                .expect("decodes")
                .expect("complete");
            match decoded {
                Control::RegSend {
                    to, message: got, ..
                } => {
                    assert!(to == Atom::new("sink"));
                    assert_eq!(got, message);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn atoms_go_through_the_cache() {
        let mut outbound = Outbound::new(flags::SUPPORTED);
        let mut inbound = Inbound::new(small());
        let message = Term::Tuple(vec![
            Term::atom("seq"),
            Term::from(1),
            Term::Pid(pid(3)),
            Term::atom("seq"),
        ]);
        let control = Control::RegSend {
            from: pid(1),
            to: Atom::new("sink"),
            message: message.clone(),
        };
        let mut frames = Vec::new();
        for _ in 0..2 {
            let mut out = Vec::new();
            outbound.encode(&mut out, &control, None).expect("encodes");
            frames.push(out.clone());
            match inbound.decode(Bytes::from(out)).expect("decodes") {
                Some(Control::RegSend {
                    from,
                    to,
                    message: got,
                }) => {
                    assert_eq!((from, to, &got), (pid(1), Atom::new("sink"), &message));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // The second time every reference is to an entry the peer holds: no
        // flag nibble has the new-entry bit, and no text is sent again.
        let second = &frames[1];
        let count = usize::from(second[2]);
        assert!(count >= 1);
        let new_entries = (0..count)
            .filter(|i| (second[3 + i / 2] >> ((i % 2) * 4)) & 0x08 != 0)
            .count();
        assert_eq!(new_entries, 0);
        assert!(second.len() < frames[0].len());
    }

    #[test]
    fn a_failed_encoding_leaves_the_cache_alone() {
        let mut outbound = Outbound::new(flags::SUPPORTED);
        let mut inbound = Inbound::new(small());
        let bad = Term::Tuple(vec![Term::atom("fresh"), Term::Float(f64::NAN)]);
        let mut out = vec![1, 2];
        let control = Control::Send {
            from: None,
            to: pid(2),
            message: bad,
        };
        assert!(outbound.encode(&mut out, &control, None).is_err());
        assert_eq!(out, [1, 2]);
        let control = Control::Send {
            from: None,
            to: pid(2),
            message: Term::atom("fresh"),
        };
        let mut out = Vec::new();
        outbound.encode(&mut out, &control, None).expect("encodes");
        assert!(matches!(
            inbound.decode(Bytes::from(out)).expect("decodes"),
            Some(Control::Send { message, .. }) if message.is_atom("fresh")
        ));
    }

    #[test]
    fn exit_payload_roundtrips() {
        let control = Control::Exit {
            from: pid(1),
            to: pid(2),
            reason: Term::atom("normal"),
        };
        assert!(matches!(
            roundtrip(Outbound::new(flags::SUPPORTED), control.clone()),
            Control::Exit { reason, .. } if reason.is_atom("normal")
        ));
        assert!(matches!(
            roundtrip(Outbound::new(flags::MANDATORY), control),
            Control::Exit { reason, .. } if reason.is_atom("normal")
        ));
    }

    #[test]
    fn atom_cache_header_and_fragments() {
        // {6, From, [], foo} to 'foo' with atoms foo and bar cached,
        // message {bar, foo} split over three fragments.
        let mut header = vec![tag::VERSION, tag::DIST_FRAG_HEADER];
        header.extend_from_slice(&7u64.to_be_bytes());
        header.extend_from_slice(&3u64.to_be_bytes());
        header.push(2); // two atom cache refs
        header.push(0x08 | (0x08 << 4)); // both new, segment 0
        header.push(0); // flags nibble for long atoms: off
        header.extend_from_slice(&[5, 3, b'f', b'o', b'o']);
        header.extend_from_slice(&[6, 3, b'b', b'a', b'r']);
        let mut body = Vec::new();
        body.extend_from_slice(&[104, 4, 97, 6]);
        encode_into(&Term::Pid(pid(9)), &mut body).expect("pid");
        body.extend_from_slice(&[106, 82, 0]);
        body.extend_from_slice(&[104, 2, 82, 1, 82, 0]);
        let split = body.len() - 4;

        let mut first = header.clone();
        first.extend_from_slice(&body[..split]);
        let mut second = vec![tag::VERSION, tag::DIST_FRAG_CONT];
        second.extend_from_slice(&7u64.to_be_bytes());
        second.extend_from_slice(&2u64.to_be_bytes());
        second.extend_from_slice(&body[split..split + 2]);
        let mut third = vec![tag::VERSION, tag::DIST_FRAG_CONT];
        third.extend_from_slice(&7u64.to_be_bytes());
        third.extend_from_slice(&1u64.to_be_bytes());
        third.extend_from_slice(&body[split + 2..]);

        let mut inbound = Inbound::new(small());
        assert!(inbound.decode(Bytes::from(first)).expect("first").is_none());
        assert!(inbound
            .decode(Bytes::from(second))
            .expect("second")
            .is_none());
        match inbound.decode(Bytes::from(third)).expect("third") {
            Some(Control::RegSend { to, message, .. }) => {
                assert_eq!(to, Atom::new("foo"));
                assert_eq!(
                    message,
                    Term::Tuple(vec![Term::atom("bar"), Term::atom("foo")])
                );
            }
            other => panic!("unexpected {other:?}"),
        }

        // The cache now holds the atoms: a plain header can refer to them.
        let mut cached = vec![tag::VERSION, tag::DIST_HEADER, 1, 0x00, 6];
        cached.extend_from_slice(&[104, 4, 97, 6]);
        encode_into(&Term::Pid(pid(9)), &mut cached).expect("pid");
        cached.extend_from_slice(&[106, 82, 0, 106]);
        match inbound.decode(Bytes::from(cached)).expect("cached") {
            Some(Control::RegSend { to, .. }) => assert_eq!(to, Atom::new("bar")),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// What messages being reassembled may hold is their buffers, not only
    /// their bytes: a buffer that grew by doubling held up to twice the
    /// limit.
    #[test]
    fn fragment_buffers_stay_within_the_limit_and_a_message_up_to_it_arrives() {
        const MAX: usize = 1 << 20;
        const PIECE: usize = 100_000;
        let fragment = |tag_byte: u8, sequence: u64, id: u64, body: &[u8]| {
            let mut frame = vec![tag::VERSION, tag_byte];
            frame.extend_from_slice(&sequence.to_be_bytes());
            frame.extend_from_slice(&id.to_be_bytes());
            if tag_byte == tag::DIST_FRAG_HEADER {
                frame.push(0);
            }
            frame.extend_from_slice(body);
            Bytes::from(frame)
        };
        let held = |inbound: &Inbound| -> usize {
            inbound.partial.values().map(|p| p.data.capacity()).sum()
        };
        // {6, From, [], foo} and a binary filling ten fragments.
        let mut body = vec![104, 4, 97, 6];
        encode_into(&Term::Pid(pid(9)), &mut body).expect("pid");
        body.extend_from_slice(&[106, 100, 0, 3, b'f', b'o', b'o', 109]);
        let size = 10 * PIECE - body.len() - 4;
        body.extend_from_slice(&(size as u32).to_be_bytes());
        body.resize(10 * PIECE, 7);

        let mut inbound = Inbound::new(Bounds {
            max_message: MAX,
            ..small()
        });
        let pieces: Vec<&[u8]> = body.chunks(PIECE).collect();
        let mut last = None;
        for (index, piece) in pieces.iter().enumerate() {
            let (tag_byte, id) = match index {
                0 => (tag::DIST_FRAG_HEADER, pieces.len()),
                _ => (tag::DIST_FRAG_CONT, pieces.len() - index),
            };
            last = inbound
                .decode(fragment(tag_byte, 1, id as u64, piece))
                .expect("within the limit");
            assert!(held(&inbound) <= MAX, "{} bytes held", held(&inbound));
        }
        match last {
            Some(Control::RegSend {
                message: Term::Binary(bytes),
                ..
            }) => {
                assert_eq!(bytes.len(), size);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(inbound.partial_bytes, 0);

        // Past the limit, the message is refused.
        let mut inbound = Inbound::new(Bounds {
            max_message: MAX,
            ..small()
        });
        assert!(inbound
            .decode(fragment(tag::DIST_FRAG_HEADER, 2, 12, &body[..PIECE]))
            .expect("first")
            .is_none());
        let refused = (1..11u64).find_map(|n| {
            inbound
                .decode(fragment(tag::DIST_FRAG_CONT, 2, 12 - n, &body[..PIECE]))
                .err()
        });
        let err = refused.expect("refused").to_string();
        assert!(err.contains("exceed the limit"), "{err}");
    }

    /// The long-atoms flag gives a cache update a 2-byte length, but an atom
    /// is still at most 255 characters, as in a term: a longer one would sit
    /// in the atom table for ever, charged as one atom whatever its size.
    #[test]
    fn a_cache_update_longer_than_an_atom_is_refused() {
        let update = |text: &str| {
            // One new atom in slot 5; the flags' next nibble sets long atoms.
            let mut frame = vec![tag::VERSION, tag::DIST_HEADER, 1, 0x08 | (0x01 << 4), 5];
            frame.extend_from_slice(&(text.len() as u16).to_be_bytes());
            frame.extend_from_slice(text.as_bytes());
            frame.extend_from_slice(&[104, 4, 97, 6]);
            encode_into(&Term::Pid(pid(9)), &mut frame).expect("pid");
            frame.extend_from_slice(&[106, 82, 0, 106]);
            Inbound::new(small()).decode(Bytes::from(frame))
        };
        let longest = "ü".repeat(MAX_ATOM_CHARS);
        match update(&longest).expect("255 characters") {
            Some(Control::RegSend { to, .. }) => assert_eq!(to.as_str(), longest),
            other => panic!("unexpected {other:?}"),
        }
        for text in ["ü".repeat(MAX_ATOM_CHARS + 1), "x".repeat(65535)] {
            let err = update(&text).expect_err("too long").to_string();
            let chars = text.chars().count();
            assert!(
                err.contains(&format!(
                    "atom of {chars} characters exceeds the limit of 255"
                )),
                "{err}"
            );
            assert!(
                Atom::existing(&text).is_none(),
                "{chars} characters were interned"
            );
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut inbound = Inbound::new(small());
        for frame in [
            vec![],
            vec![1, 2, 3],
            vec![tag::VERSION],
            vec![tag::VERSION, tag::DIST_HEADER],
            vec![tag::VERSION, tag::DIST_HEADER, 3, 0xFF],
            vec![tag::VERSION, tag::DIST_HEADER, 1, 0x00, 9],
            vec![tag::VERSION, tag::DIST_FRAG_CONT, 0, 0],
            vec![PASS_THROUGH, tag::VERSION, 104, 1, 97, 99],
        ] {
            assert!(inbound.decode(Bytes::from(frame)).is_err());
        }
    }
}
