//! Frames on an established connection: a 4-byte big-endian length, then
//! the frame; a zero length is a tick.
//!
//! Implements the framing of [Protocol between Connected
//! Nodes](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#protocol-between-connected-nodes).
//! Nothing here does I/O: [`append`] writes a frame into a buffer, and a
//! [`Reader`] takes the bytes its owner read from the socket into
//! [`Reader::buffer`], hands out ticks and frames, and decodes frames into
//! control messages.

use bytes::{Buf, Bytes, BytesMut};

use super::control::Control;
use super::header::{Bounds, Inbound, Outbound};
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
