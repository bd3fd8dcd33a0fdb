//! Frames on an established connection: a 4-byte big-endian length, then
//! the frame; a zero length is a tick.
//!
//! Implements the framing of [Protocol between Connected
//! Nodes](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#protocol-between-connected-nodes).
//! Nothing here does I/O: [`append`] writes a frame into a buffer, and a
//! [`Reader`] takes the bytes its owner read from the socket into
//! [`Reader::buffer`], hands out ticks and frames, and decodes frames into
//! control messages.

use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use super::control::Control;
use super::header::{Bounds, Inbound, Outbound};
use crate::term::encode::Outlined;
use crate::Result;

/// A tick: an empty frame, which keeps a quiet connection alive.
pub(crate) const TICK: [u8; 4] = [0; 4];

/// How much a reader asks the socket for at a time: large enough that a
/// burst of small frames costs one read.
pub(crate) const READ_CHUNK: usize = 64 << 10;

/// Appends `control` to `out` as one frame, length first; returns the
/// frame's length. On error (a term that cannot be encoded, a frame of
/// 4 GiB or more) nothing is appended.
#[inline]
pub(crate) fn append(out: &mut Vec<u8>, outbound: &mut Outbound, control: &Control) -> Result<u32> {
    append_with(out, outbound, control, None)
}

/// [`append`], with the payload given as ETF (see [`Outbound::encode`]).
#[inline]
pub(crate) fn append_with(
    out: &mut Vec<u8>,
    outbound: &mut Outbound,
    control: &Control,
    etf: Option<&[u8]>,
) -> Result<u32> {
    let start = out.len();
    out.extend_from_slice(&TICK);
    if let Err(err) = outbound.encode(out, control, etf) {
        out.truncate(start);
        return Err(err);
    }
    let len = u32::try_from(out.len() - start - TICK.len())
        .expect("Outbound::encode keeps frames under 4 GiB");
    out[start..start + TICK.len()].copy_from_slice(&len.to_be_bytes());
    Ok(len)
}

/// One frame, length first, whose large binaries and ETF payload are not
/// copied into it: the frame is `head` with each outlined binary put in at
/// its offset, then `tail`. For a sender that can wait while its frame is
/// written from where its parts lie (see [`Outbound::encode_outlined`]).
pub(crate) struct Spread<'e> {
    head: Vec<u8>,
    outlined: Outlined,
    tail: &'e [u8],
    len: usize,
}

impl<'e> Spread<'e> {
    /// Encodes `control` (its payload given as `etf`, if given) as one
    /// frame. On error (a term that cannot be encoded, a frame of 4 GiB or
    /// more) the atom cache is as before.
    pub(crate) fn encode(
        outbound: &mut Outbound,
        control: &Control,
        etf: Option<&'e [u8]>,
    ) -> Result<Spread<'e>> {
        let mut head = TICK.to_vec();
        let mut outlined = Outlined::new();
        let tail = outbound.encode_outlined(&mut head, control, etf, &mut outlined)?;
        let body = head.len() - TICK.len()
            + outlined.iter().map(|(_, bytes)| bytes.len()).sum::<usize>()
            + tail.len();
        head[..TICK.len()].copy_from_slice(&(body as u32).to_be_bytes());
        Ok(Spread {
            head,
            outlined,
            tail,
            len: TICK.len() + body,
        })
    }

    /// The frame's length, its 4-byte prefix included.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The frame's parts in order.
    fn parts(&self) -> impl Iterator<Item = &[u8]> {
        let mut from = 0;
        let mut parts = Vec::with_capacity(2 * self.outlined.len() + 2);
        for (at, bytes) in &self.outlined {
            parts.push(&self.head[from..*at]);
            parts.push(&bytes[..]);
            from = *at;
        }
        parts.push(&self.head[from..]);
        parts.push(self.tail);
        parts.into_iter().filter(|part| !part.is_empty())
    }

    /// The frame from byte `from` on, as slices for a vectored write.
    pub(crate) fn slices(&self, mut from: usize) -> Vec<IoSlice<'_>> {
        let mut slices = Vec::new();
        for part in self.parts() {
            if from >= part.len() {
                from -= part.len();
                continue;
            }
            slices.push(IoSlice::new(&part[from..]));
            from = 0;
        }
        slices
    }

    /// Appends the frame from byte `from` on to `out`.
    pub(crate) fn copy_into(&self, from: usize, out: &mut Vec<u8>) {
        out.reserve(self.len.saturating_sub(from));
        for slice in self.slices(from) {
            out.extend_from_slice(&slice);
        }
    }
}

/// What a [`Reader`] found in the bytes read so far.
pub(crate) enum Incoming {
    /// The peer ticked.
    Tick,
    /// A frame, for [`Reader::decode`].
    Frame(Bytes),
}

/// Splits frames off the bytes read from a connection (without copying
/// them), bounds their size and decodes them.
pub(crate) struct Reader {
    buf: BytesMut,
    inbound: Inbound,
    max_message: usize,
}

impl Reader {
    /// A reader of one peer's frames, within `bounds`.
    pub(crate) fn new(bounds: Bounds) -> Reader {
        Reader {
            buf: BytesMut::with_capacity(READ_CHUNK),
            max_message: bounds.max_message,
            inbound: Inbound::new(bounds),
        }
    }

    /// The next tick or frame in what has been read; `Ok(None)` when more
    /// bytes must be read first. An error says what the peer did wrong;
    /// the connection cannot go on after it.
    #[inline]
    pub(crate) fn next(&mut self) -> Result<Option<Incoming>, String> {
        let Some(len) = self.frame_len() else {
            return Ok(None);
        };
        if len == 0 {
            self.buf.advance(TICK.len());
            return Ok(Some(Incoming::Tick));
        }
        if len > self.max_message {
            return Err(format!(
                "the peer sent a frame of {len} bytes, over the limit of {}",
                self.max_message
            ));
        }
        if self.buf.len() < TICK.len() + len {
            return Ok(None);
        }
        self.buf.advance(TICK.len());
        Ok(Some(Incoming::Frame(self.buf.split_to(len).freeze())))
    }

    /// The control message (with its payload) a frame holds; `Ok(None)`
    /// for a fragment that does not complete its message yet. Kept apart
    /// from [`next`](Self::next) so that the message, which is large, goes
    /// straight to its caller.
    #[inline]
    pub(crate) fn decode(&mut self, frame: Bytes) -> Result<Option<Control>, String> {
        self.inbound
            .decode(frame)
            .map_err(|err| format!("the peer sent garbage: {err}"))
    }

    /// The buffer to read into, with room reserved for the rest of the
    /// frame being read. It grows step by step, so that a length prefix
    /// alone cannot make us allocate much more than the peer actually sends.
    #[inline]
    pub(crate) fn buffer(&mut self) -> &mut BytesMut {
        let want = TICK.len() + self.frame_len().unwrap_or(0);
        let filled = self.buf.len();
        let spare_wanted = want.saturating_sub(filled).min(filled.max(1 << 20));
        if self.buf.capacity() - filled < spare_wanted.max(READ_CHUNK / 4) {
            self.buf.reserve(spare_wanted.max(READ_CHUNK));
        }
        &mut self.buf
    }

    fn frame_len(&self) -> Option<usize> {
        let prefix = self.buf.get(..TICK.len())?;
        Some(u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::flags;
    use crate::protocol::tests::pid;
    use crate::term::Term;

    #[test]
    fn frames_ticks_and_fragments_of_a_byte_stream() {
        let to = pid(1);
        let mut outbound = Outbound::new(flags::SUPPORTED);
        let mut stream = TICK.to_vec();
        for n in 0..3 {
            let control = Control::Send {
                from: None,
                to,
                message: Term::from(n),
            };
            append(&mut stream, &mut outbound, &control).expect("encodes");
        }
        let mut reader = Reader::new(crate::protocol::tests::small());
        let mut seen = Vec::new();
        // Byte by byte: every split of the stream must come out the same.
        for byte in stream {
            reader.buffer().extend_from_slice(&[byte]);
            while let Some(incoming) = reader.next().expect("well formed") {
                seen.push(match incoming {
                    Incoming::Tick => "tick".to_string(),
                    Incoming::Frame(frame) => match reader.decode(frame).expect("decodes") {
                        Some(Control::Send { message, .. }) => message.to_string(),
                        other => panic!("unexpected {other:?}"),
                    },
                });
            }
        }
        assert_eq!(seen, ["tick", "0", "1", "2"]);
    }

    /// A spread frame is, byte for byte, the frame `append` copies
    /// together, from any offset on; with and without distribution
    /// headers, with a payload as a term and as ETF.
    #[test]
    fn a_spread_frame_is_the_frame_append_writes() {
        use crate::term::encode::OUTLINE_MIN;
        let big = |fill: u8| Term::binary(vec![fill; OUTLINE_MIN + 3]);
        let message = Term::Tuple(vec![
            Term::atom("spread"),
            big(1),
            Term::List(vec![Term::binary(vec![2; 10]), big(3)]),
            Term::from(4),
        ]);
        let etf = crate::term::encode(&message).expect("encodes");
        for negotiated in [
            flags::SUPPORTED,
            flags::SUPPORTED & !flags::DIST_HDR_ATOM_CACHE,
        ] {
            for given in [None, Some(&etf[..])] {
                let control = Control::Send {
                    from: None,
                    to: pid(1),
                    message: message.clone(),
                };
                let mut whole = Vec::new();
                append_with(&mut whole, &mut Outbound::new(negotiated), &control, given)
                    .expect("appends");
                let spread = Spread::encode(&mut Outbound::new(negotiated), &control, given)
                    .expect("encodes");
                assert_eq!(spread.len(), whole.len());
                for from in [0, 1, 100, OUTLINE_MIN, whole.len() - 1, whole.len()] {
                    let mut copied = Vec::new();
                    spread.copy_into(from, &mut copied);
                    assert_eq!(copied, whole[from..], "from {from}");
                }
                match given {
                    None => assert_eq!(spread.outlined.len(), 2, "the two large binaries"),
                    Some(_) => {
                        assert!(spread.outlined.is_empty() && spread.tail.len() > 2 * OUTLINE_MIN)
                    }
                }
            }
        }
    }

    #[test]
    fn an_oversized_frame_is_refused_before_it_is_read() {
        let mut reader = Reader::new(Bounds {
            max_message: 100,
            ..Bounds::default()
        });
        reader.buffer().extend_from_slice(&101u32.to_be_bytes());
        let err = reader.next().err().expect("too large");
        assert_eq!(
            err,
            "the peer sent a frame of 101 bytes, over the limit of 100"
        );
        assert!(reader.buffer().capacity() < 1 << 20);
    }
}
