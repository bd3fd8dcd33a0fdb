//! Funs in the External Term Format:
//! [`NEW_FUN_EXT`](https://www.erlang.org/doc/apps/erts/erl_ext_dist.html#new_fun_ext)
//! closures and
//! [`EXPORT_EXT`](https://www.erlang.org/doc/apps/erts/erl_ext_dist.html#export_ext)
//! `fun M:F/A`.
//!
//! A closure's free variables are decoded by the decoder's loop like the
//! elements of a tuple, within the same limits; the fields around them are
//! read here. The closure is kept as its encoding, byte for byte, unless that
//! refers to the atom cache of a distribution header, whose indexes mean
//! nothing outside its message. An export is written again with UTF-8 atoms.
//! [`fun_parts`] takes an encoding apart again, for term order, the text
//! form and `global`'s name clashes.

use bytes::Bytes;

use super::{fail, Decoder, Res};
use crate::error::Error;
use crate::term::encode::{encode_into, tag};
use crate::term::{Atom, Fun, Pid, Term};

impl Decoder<'_> {
    /// The fields of a `NEW_FUN_EXT` (tag at `start`) before its free
    /// variables.
    pub(super) fn fun_header(&mut self, start: usize) -> Res<FunHeader> {
        let refs_before = self.cache_refs_seen;
        let size = self.u32()? as usize;
        let end = start.saturating_add(1).saturating_add(size);
        if size < 4 || end > self.data.len() {
            let left = self.data.len().saturating_sub(start + 1);
            return Err(fail(
                start,
                format!("fun claims {size} bytes but {left} are left"),
            ));
        }
        let arity = self.u8()?;
        let uniq = *self.chunk()?;
        let index = self.u32()?;
        let free_count = self.u32()? as usize;
        let module = self.atom()?;
        let old_index = self.small_int()?;
        let old_uniq = self.small_int()?;
        let pid_start = self.pos;
        let pid = match self.u8()? {
            tag @ (tag::PID_EXT | tag::NEW_PID_EXT) => self.pid_body(tag)?,
            other => {
                return Err(fail(
                    pid_start,
                    format!("expected the pid of a fun, found tag {other}"),
                ))
            }
        };
        if free_count > end.saturating_sub(self.pos) {
            return Err(fail(
                start,
                format!("fun claims {free_count} free variables in fewer bytes"),
            ));
        }
        Ok(FunHeader {
            start,
            end,
            refs_before,
            arity,
            uniq,
            index,
            free_count,
            module,
            old_index,
            old_uniq,
            pid,
        })
    }

    /// A `NEW_FUN_EXT` whose free variables have been decoded: checks that
    /// the fields take exactly the bytes the Size field claims and keeps the
    /// encoding as it is, unless it refers to the atom cache.
    pub(super) fn finish_fun(&self, header: &FunHeader, free: Vec<Term>) -> Res<Term> {
        let start = header.start;
        if self.pos != header.end {
            let (claimed, used) = (header.end - start - 1, self.pos - start - 1);
            return Err(fail(
                start,
                format!("fun claims {claimed} bytes but its fields take {used}"),
            ));
        }
        if self.cache_refs_seen == header.refs_before {
            return Ok(Term::Fun(Fun::from_encoding(
                self.share(&self.data[start..header.end]),
            )));
        }
        let mut bytes = vec![tag::NEW_FUN_EXT, 0, 0, 0, 0, header.arity];
        bytes.extend_from_slice(&header.uniq);
        bytes.extend_from_slice(&header.index.to_be_bytes());
        bytes.extend_from_slice(&(free.len() as u32).to_be_bytes());
        let fixed = [
            Term::Atom(header.module),
            Term::Int(header.old_index),
            Term::Int(header.old_uniq),
            Term::Pid(header.pid),
        ];
        for part in fixed.iter().chain(&free) {
            encode_into(part, &mut bytes).map_err(|err| reencode_failed(start, err))?;
        }
        let size = u32::try_from(bytes.len() - 1).map_err(|_| fail(start, "fun too large"))?;
        bytes[1..5].copy_from_slice(&size.to_be_bytes());
        Ok(Term::Fun(Fun::from_encoding(Bytes::from(bytes))))
    }

    /// `OldIndex` and `OldUniq` of a fun, or the arity of an export:
    /// `SMALL_INTEGER_EXT` or `INTEGER_EXT`.
    pub(super) fn small_int(&mut self) -> Res<i64> {
        let start = self.pos;
        match self.u8()? {
            tag::SMALL_INTEGER_EXT => Ok(i64::from(self.u8()?)),
            tag::INTEGER_EXT => Ok(i64::from(self.u32()? as i32)),
            other => Err(fail(
                start,
                format!("expected an integer in a fun, found tag {other}"),
            )),
        }
    }

    /// `EXPORT_EXT`: `fun M:F/A`, written again the way OTP 26 and the
    /// distribution write it (UTF-8 atoms, one-byte arity). Funs compare by
    /// their encodings, and an export is nothing but these three fields, so
    /// the same export sent with Latin-1 atoms or through the atom cache
    /// becomes the same term.
    pub(super) fn export(&mut self, start: usize) -> Res<Term> {
        let (module, function, arity) = self.export_fields()?;
        Ok(Term::Fun(
            Fun::export(module, function, arity).map_err(|err| reencode_failed(start, err))?,
        ))
    }

    fn export_fields(&mut self) -> Res<(Atom, Atom, u8)> {
        let module = self.atom()?;
        let function = self.atom()?;
        let arity_start = self.pos;
        match u8::try_from(self.small_int()?) {
            Ok(arity) => Ok((module, function, arity)),
            Err(_) => Err(fail(arity_start, "fun arity out of range")),
        }
    }
}

/// The fixed fields of a `NEW_FUN_EXT`, and where it starts and ends.
pub(super) struct FunHeader {
    start: usize,
    end: usize,
    /// `Decoder::cache_refs_seen` before the fun: more after it means the
    /// encoding refers to the atom cache.
    refs_before: usize,
    arity: u8,
    uniq: [u8; 16],
    index: u32,
    pub(super) free_count: usize,
    module: Atom,
    old_index: i64,
    old_uniq: i64,
    pid: Pid,
}

/// The parts of a local fun that term order looks at.
pub(crate) struct LocalFun {
    pub module: Atom,
    pub old_index: i64,
    pub old_uniq: i64,
    pub free: Vec<Term>,
}

/// A fun's encoding taken apart.
pub(crate) enum FunParts {
    /// `fun Module:Function/Arity`.
    Export(Atom, Atom, u8),
    /// A closure.
    Local(LocalFun),
}

/// Takes a fun's encoding (tag byte first) apart; `None` if it is malformed.
pub(crate) fn fun_parts(encoding: &[u8]) -> Option<FunParts> {
    let mut decoder = Decoder::new(encoding);
    let parts = match decoder.u8().ok()? {
        tag::EXPORT_EXT => {
            let (module, function, arity) = decoder.export_fields().ok()?;
            FunParts::Export(module, function, arity)
        }
        tag::NEW_FUN_EXT => {
            let header = decoder.fun_header(0).ok()?;
            let free = (0..header.free_count)
                .map(|_| decoder.term_at())
                .collect::<Res<Vec<_>>>()
                .ok()?;
            (decoder.pos == header.end).then_some(())?;
            FunParts::Local(LocalFun {
                module: header.module,
                old_index: header.old_index,
                old_uniq: header.old_uniq,
                free,
            })
        }
        _ => return None,
    };
    decoder.at_end().ok()?;
    Some(parts)
}

#[cold]
fn reencode_failed(start: usize, err: Error) -> Box<Error> {
    fail(start, format!("fun cannot be re-encoded: {err}"))
}
