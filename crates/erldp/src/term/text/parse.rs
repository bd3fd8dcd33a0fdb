//! Reading terms in Erlang syntax: `FromStr` for [`Term`].
//!
//! It reads the literals of Erlang's [data
//! types](https://www.erlang.org/doc/system/data_types.html) as `erl_scan`
//! and `erl_parse:parse_term/1` do, and ErlDP's forms for pids, ports,
//! references and local funs. Text may come from anywhere, so what it can
//! make us build is bounded: nesting by [`MAX_DEPTH`] as in the decoder,
//! binary literals by [`MAX_BINARY_BITS`], atoms by [`MAX_ATOM_CHARS`](crate::term::MAX_ATOM_CHARS).

use std::str::FromStr;

use bytes::Bytes;

use super::RESERVED_WORDS;
use crate::error::{Error, Result};
use crate::term::bigint::{magnitude_from_digits, trimmed};
use crate::term::decode::{fun_parts, MAX_DEPTH};
use crate::term::{Atom, BigInt, Fun, Pid, Port, Ref, Term};

/// The largest binary literal, in bits (16 MiB): keeps a few bytes of text
/// such as `<<0:99999999999>>` from allocating gigabytes.
const MAX_BINARY_BITS: usize = 1 << 27;

impl FromStr for Term {
    type Err = Error;

    /// Parses one term in Erlang syntax, optionally followed by a `.`;
    /// whitespace and `%` comments are skipped. Besides Erlang's literals
    /// (atoms, integers in any base, `$c`, floats, strings, binaries with
    /// integer and string segments, lists, tuples, maps, `fun m:f/a`) it
    /// reads the `#Pid<...>`, `#Port<...>`, `#Ref<...>` and `#Fun<...>`
    /// forms that `Display` writes. Fails with [`Error::Parse`] giving the
    /// byte offset.
    fn from_str(text: &str) -> Result<Term> {
        Parser { text, pos: 0 }.document().map_err(|err| *err)
    }
}

/// Results inside the parser carry the error boxed, as `Error` is large.
type Res<T> = std::result::Result<T, Box<Error>>;

struct Parser<'s> {
    text: &'s str,
    pos: usize,
}

/// A tuple, list or map whose elements are still being parsed.
enum OpenText {
    Tuple(Vec<Term>),
    List(Vec<Term>),
    /// A list after its `|`: the next term is the tail.
    Tail(Vec<Term>),
    /// Pairs so far, and the key whose value comes next.
    Map(Vec<(Term, Term)>, Option<Term>),
}

impl OpenText {
    /// The term of a container that has been closed.
    fn close(self) -> Term {
        match self {
            OpenText::Tuple(elements) => Term::Tuple(elements),
            OpenText::List(elements) => Term::List(elements),
            OpenText::Tail(elements) => Term::improper_list(elements, Term::nil()),
            OpenText::Map(pairs, _) => Term::Map(last_value_wins(pairs)),
        }
    }
}

/// One segment of a binary literal: `Value[:Size][/utf8]`.
enum SegmentValue {
    Int(Term),
    Codes(Vec<u32>),
}

impl<'s> Parser<'s> {
    /// One term, an optional `.`, and nothing else but space.
    fn document(&mut self) -> Res<Term> {
        self.skip_space();
        let term = self.term()?;
        self.skip_space();
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.skip_space();
        }
        match self.peek() {
            None => Ok(term),
            Some(_) => Err(self.unexpected("the end of the text")),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.text.as_bytes().get(self.pos + ahead).copied()
    }

    fn rest(&self) -> &'s str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    #[cold]
    fn error(&self, offset: usize, reason: impl Into<String>) -> Box<Error> {
        Box::new(Error::Parse {
            offset,
            reason: reason.into(),
        })
    }

    /// "expected X, found Y" at the current position.
    #[cold]
    fn unexpected(&self, expected: &str) -> Box<Error> {
        let found = match self.rest().chars().next() {
            Some(c) => format!("{c:?}"),
            None => "the end of the text".to_owned(),
        };
        self.error(self.pos, format!("expected {expected}, found {found}"))
    }

    fn skip_space(&mut self) {
        while let Some(byte) = self.peek() {
            match byte {
                b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C => self.pos += 1,
                b'%' => {
                    self.pos = self
                        .rest()
                        .find('\n')
                        .map_or(self.text.len(), |at| self.pos + at);
                }
                _ => break,
            }
        }
    }

    fn expect(&mut self, token: &str) -> Res<()> {
        self.skip_space();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            Ok(())
        } else {
            Err(self.unexpected(&format!("{token:?}")))
        }
    }

    /// Skips space, then consumes `token` if it comes next.
    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    /// Parses one term. Open tuples, lists and maps wait on a stack on the
    /// heap rather than in recursive calls, so deep nesting cannot exhaust
    /// the thread's stack; it is bounded by [`MAX_DEPTH`] like the decoder.
    fn term(&mut self) -> Res<Term> {
        let mut open: Vec<OpenText> = Vec::new();
        loop {
            self.skip_space();
            let start = self.pos;
            let opened = match (self.peek(), self.peek_at(1)) {
                (Some(b'{'), _) => Some((1, "}", OpenText::Tuple(Vec::new()))),
                (Some(b'['), _) => Some((1, "]", OpenText::List(Vec::new()))),
                (Some(b'#'), Some(b'{')) => Some((2, "}", OpenText::Map(Vec::new(), None))),
                _ => None,
            };
            let mut value = match opened {
                Some((len, close, container)) => {
                    self.pos += len;
                    if self.eat(close) {
                        container.close()
                    } else if open.len() >= MAX_DEPTH {
                        return Err(
                            self.error(start, format!("terms nest deeper than {MAX_DEPTH} levels"))
                        );
                    } else {
                        open.push(container);
                        continue;
                    }
                }
                None => self.leaf(start)?,
            };
            // Hand the finished term to its container; a container that it
            // closes is itself a finished term for the one below.
            loop {
                let Some(top) = open.last_mut() else {
                    return Ok(value);
                };
                match self.after_element(top, value)? {
                    Some(done) => {
                        open.pop();
                        value = done;
                    }
                    None => break,
                }
            }
        }
    }

    /// Adds a finished term to an open container and reads what follows it
    /// there; returns the container's term when that closes it.
    fn after_element(&mut self, container: &mut OpenText, value: Term) -> Res<Option<Term>> {
        if let OpenText::Map(_, key @ None) = container {
            *key = Some(value);
            self.expect("=>")?;
            return Ok(None);
        }
        match container {
            OpenText::Tuple(elements) | OpenText::List(elements) => elements.push(value),
            OpenText::Tail(elements) => {
                self.expect("]")?;
                return Ok(Some(Term::improper_list(std::mem::take(elements), value)));
            }
            OpenText::Map(pairs, key) => {
                if let Some(key) = key.take() {
                    pairs.push((key, value));
                }
            }
        }
        self.skip_space();
        let next = self.peek();
        match (&mut *container, next) {
            (_, Some(b',')) => {
                self.pos += 1;
                Ok(None)
            }
            (OpenText::List(elements), Some(b'|')) => {
                self.pos += 1;
                let elements = std::mem::take(elements);
                *container = OpenText::Tail(elements);
                Ok(None)
            }
            (OpenText::Tuple(_), Some(b'}'))
            | (OpenText::List(_), Some(b']'))
            | (OpenText::Map(..), Some(b'}')) => {
                self.pos += 1;
                Ok(Some(
                    std::mem::replace(container, OpenText::Tuple(Vec::new())).close(),
                ))
            }
            (OpenText::Tuple(_), _) => Err(self.unexpected("',' or '}'")),
            (OpenText::List(_), _) => Err(self.unexpected("',', '|' or ']'")),
            (_, _) => Err(self.unexpected("',' or '}'")),
        }
    }

    /// A term that is not a tuple, list or map.
    fn leaf(&mut self, start: usize) -> Res<Term> {
        match self.peek() {
            Some(b'#') => self.hash_form(),
            Some(b'<') if self.peek_at(1) == Some(b'<') => self.binary(),
            Some(b'"') => Ok(Term::List(
                self.strings()?
                    .into_iter()
                    .map(|c| Term::Int(i64::from(c)))
                    .collect(),
            )),
            Some(b'\'') => Ok(Term::Atom(self.quoted_atom()?)),
            Some(b'$' | b'0'..=b'9' | b'-' | b'+') => self.number(),
            Some(b'A'..=b'Z' | b'_') => Err(self.error(start, "variables are not terms")),
            Some(_) if self.rest().starts_with(is_atom_start) => {
                let word = self.name();
                if word == "fun" {
                    return self.export_fun();
                }
                self.unquoted_atom(start, word).map(Term::Atom)
            }
            _ => Err(self.unexpected("a term")),
        }
    }

    /// The `#Pid<...>`-style forms.
    fn hash_form(&mut self) -> Res<Term> {
        let start = self.pos;
        self.pos += 1;
        let kind = self.name();
        if self.peek() != Some(b'<') {
            return Err(self.error(start, "expected '#{' or one of #Pid<, #Port<, #Ref<, #Fun<"));
        }
        self.pos += 1;
        let term = match kind {
            "Pid" => {
                let node = self.node()?;
                let id = self.dotted_number(u32::MAX.into())? as u32;
                let serial = self.dotted_number(u32::MAX.into())? as u32;
                let creation = self.dotted_number(u32::MAX.into())? as u32;
                Term::Pid(Pid {
                    node,
                    id,
                    serial,
                    creation,
                })
            }
            "Port" => {
                let node = self.node()?;
                let id = self.dotted_number(u64::MAX)?;
                let creation = self.dotted_number(u32::MAX.into())? as u32;
                Term::Port(Port { node, id, creation })
            }
            "Ref" => {
                let node = self.node()?;
                let mut numbers = Vec::with_capacity(Ref::MAX_WORDS + 1);
                while self.peek_after_space() == Some(b'.') {
                    if numbers.len() > Ref::MAX_WORDS {
                        return Err(
                            self.error(self.pos, "a reference has at most 5 words and a creation")
                        );
                    }
                    numbers.push(self.dotted_number(u32::MAX.into())? as u32);
                }
                let Some((&creation, ids)) = numbers.split_last() else {
                    return Err(self.unexpected("'.'"));
                };
                Term::Ref(Ref::new(node, creation, ids).ok_or_else(|| {
                    self.error(start, "a reference needs 1 to 5 words and a creation")
                })?)
            }
            "Fun" => self.local_fun(start)?,
            other => return Err(self.error(start, format!("unknown form #{other}<"))),
        };
        self.expect(">")?;
        Ok(term)
    }

    fn peek_after_space(&mut self) -> Option<u8> {
        self.skip_space();
        self.peek()
    }

    /// An atom, quoted or not (a node name, a module, a function).
    fn node(&mut self) -> Res<Atom> {
        self.skip_space();
        let start = self.pos;
        match self.peek() {
            Some(b'\'') => self.quoted_atom(),
            _ if self.rest().starts_with(is_atom_start) => {
                let word = self.name();
                self.unquoted_atom(start, word)
            }
            _ => Err(self.unexpected("an atom")),
        }
    }

    /// `.N` with `N` a decimal number no larger than `max`.
    fn dotted_number(&mut self, max: u64) -> Res<u64> {
        self.expect(".")?;
        self.decimal(max)
    }

    /// A plain decimal number no larger than `max`.
    fn decimal(&mut self, max: u64) -> Res<u64> {
        self.skip_space();
        let start = self.pos;
        let digits = self.rest().bytes().take_while(u8::is_ascii_digit).count();
        self.pos += digits;
        self.text[start..self.pos]
            .parse::<u64>()
            .ok()
            .filter(|&value| value <= max)
            .ok_or_else(|| self.error(start, format!("expected a number from 0 to {max}")))
    }

    fn local_fun(&mut self, start: usize) -> Res<Term> {
        self.skip_space();
        let hex_start = self.pos;
        let hex_len = self
            .rest()
            .bytes()
            .take_while(u8::is_ascii_hexdigit)
            .count();
        self.pos += hex_len;
        let hex = &self.text.as_bytes()[hex_start..self.pos];
        if !hex.len().is_multiple_of(2) {
            return Err(self.error(hex_start, "odd number of hex digits in #Fun<...>"));
        }
        let bytes: Vec<u8> = hex
            .chunks(2)
            .map(|pair| {
                let digit = |byte: u8| char::from(byte).to_digit(16).unwrap_or(0) as u8;
                digit(pair[0]) << 4 | digit(pair[1])
            })
            .collect();
        if fun_parts(&bytes).is_none() {
            return Err(self.error(start, "#Fun<...> does not hold a valid fun encoding"));
        }
        Ok(Term::Fun(Fun::from_encoding(Bytes::from(bytes))))
    }

    /// A run of identifier characters (letters, digits, `_`, `@`).
    fn name(&mut self) -> &'s str {
        let rest = self.rest();
        let len = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    fn unquoted_atom(&self, start: usize, word: &str) -> Res<Atom> {
        // `maybe` and `else` are plain atoms unless the `maybe_expr` feature
        // is enabled, and OTP 25 reads them unquoted.
        if RESERVED_WORDS.contains(&word) && !matches!(word, "maybe" | "else") {
            return Err(self.error(
                start,
                format!("'{word}' is a reserved word; quote it to make an atom"),
            ));
        }
        self.atom(start, word)
    }

    /// The atom `text`; `new_from_peer` refuses one longer than an atom may be.
    fn atom(&self, start: usize, text: &str) -> Res<Atom> {
        Atom::new_from_peer(text, None).map_err(|refused| self.error(start, refused.to_string()))
    }

    fn quoted_atom(&mut self) -> Res<Atom> {
        let start = self.pos;
        let codes = self.quoted(b'\'')?;
        let text: String = codes
            .iter()
            .map(|&code| char::from_u32(code))
            .collect::<Option<String>>()
            .ok_or_else(|| self.error(start, "atom holds a code point that is not a character"))?;
        self.atom(start, &text)
    }

    /// One or more adjacent string literals, concatenated.
    fn strings(&mut self) -> Res<Vec<u32>> {
        let mut codes = self.quoted(b'"')?;
        while self.peek_after_space() == Some(b'"') {
            codes.extend(self.quoted(b'"')?);
        }
        Ok(codes)
    }

    /// The code points between `quote` characters, escapes resolved.
    fn quoted(&mut self, quote: u8) -> Res<Vec<u32>> {
        let start = self.pos;
        self.pos += 1;
        let mut codes = Vec::new();
        loop {
            let Some(c) = self.rest().chars().next() else {
                return Err(self.error(start, "quoted text is not closed"));
            };
            self.pos += c.len_utf8();
            match c {
                c if c as u32 == u32::from(quote) => return Ok(codes),
                '\\' => codes.push(self.escape()?),
                c => codes.push(u32::from(c)),
            }
        }
    }

    /// The character after a backslash (which has been consumed).
    fn escape(&mut self) -> Res<u32> {
        let start = self.pos - 1;
        let Some(c) = self.rest().chars().next() else {
            return Err(self.error(start, "escape at the end of the text"));
        };
        self.pos += c.len_utf8();
        Ok(match c {
            'b' => 0x08,
            'd' => 0x7F,
            'e' => 0x1B,
            'f' => 0x0C,
            'n' => 0x0A,
            'r' => 0x0D,
            's' => 0x20,
            't' => 0x09,
            'v' => 0x0B,
            '0'..='7' => {
                let mut value = c as u32 - u32::from(b'0');
                for _ in 0..2 {
                    match self.peek() {
                        Some(digit @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(digit - b'0');
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                value
            }
            'x' if self.peek() == Some(b'{') => {
                self.pos += 1;
                let len = self
                    .rest()
                    .bytes()
                    .take_while(u8::is_ascii_hexdigit)
                    .count();
                let value = u32::from_str_radix(&self.text[self.pos..self.pos + len], 16).ok();
                self.pos += len;
                match (value, self.peek()) {
                    (Some(value), Some(b'}')) if value <= 0x10FFFF => {
                        self.pos += 1;
                        value
                    }
                    _ => return Err(self.error(start, "bad \\x{...} escape")),
                }
            }
            'x' => {
                let hex = self
                    .rest()
                    .get(..2)
                    .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()));
                match hex.and_then(|hex| u32::from_str_radix(hex, 16).ok()) {
                    Some(value) => {
                        self.pos += 2;
                        value
                    }
                    None => return Err(self.error(start, "bad \\xHH escape")),
                }
            }
            '^' => match self.rest().chars().next() {
                Some(control) => {
                    self.pos += control.len_utf8();
                    u32::from(control) & 31
                }
                None => return Err(self.error(start, "escape at the end of the text")),
            },
            other => u32::from(other),
        })
    }

    /// An integer or float, possibly signed, or a `$c` character.
    fn number(&mut self) -> Res<Term> {
        let start = self.pos;
        let negative = match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                true
            }
            Some(b'+') => {
                self.pos += 1;
                false
            }
            _ => false,
        };
        self.skip_space();
        let term = match self.peek() {
            Some(b'$') => {
                self.pos += 1;
                Term::Int(i64::from(self.char_literal()?))
            }
            Some(b'0'..=b'9') => self.unsigned_number()?,
            _ => return Err(self.unexpected("a number")),
        };
        Ok(if negative {
            negate(term).ok_or_else(|| self.error(start, "cannot negate"))?
        } else {
            term
        })
    }

    fn char_literal(&mut self) -> Res<u32> {
        let Some(c) = self.rest().chars().next() else {
            return Err(self.unexpected("a character after '$'"));
        };
        self.pos += c.len_utf8();
        if c == '\\' {
            self.escape()
        } else {
            Ok(u32::from(c))
        }
    }

    /// Decimal digits with `_` allowed between digits; returns them without
    /// the underscores.
    fn digits(&mut self, radix: u32) -> Res<String> {
        let start = self.pos;
        let mut digits = String::new();
        while let Some(c) = self.rest().chars().next() {
            if c.is_digit(radix) {
                digits.push(c);
            } else if c == '_'
                && !digits.is_empty()
                && self.rest()[1..].starts_with(|c: char| c.is_digit(radix))
            {
                // Erlang allows `_` only between two digits.
            } else {
                break;
            }
            self.pos += c.len_utf8();
        }
        if digits.is_empty() {
            return Err(self.error(start, format!("expected digits of base {radix}")));
        }
        Ok(digits)
    }

    fn unsigned_number(&mut self) -> Res<Term> {
        let start = self.pos;
        let digits = self.digits(10)?;
        if self.peek() == Some(b'#') {
            self.pos += 1;
            let radix = digits
                .parse::<u32>()
                .ok()
                .filter(|radix| (2..=36).contains(radix));
            let Some(radix) = radix else {
                return Err(self.error(start, format!("base {digits} is not between 2 and 36")));
            };
            let digits = self.digits(radix)?;
            return self.integer(start, &digits, radix);
        }
        if self.peek() == Some(b'.') && self.peek_at(1).is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
            let mut text = digits;
            text.push('.');
            text.push_str(&self.digits(10)?);
            if matches!(self.peek(), Some(b'e' | b'E')) {
                let sign_len = usize::from(matches!(self.peek_at(1), Some(b'+' | b'-')));
                if self
                    .peek_at(1 + sign_len)
                    .is_some_and(|b| b.is_ascii_digit())
                {
                    text.push('e');
                    text.push_str(&self.text[self.pos + 1..self.pos + 1 + sign_len]);
                    self.pos += 1 + sign_len;
                    text.push_str(&self.digits(10)?);
                }
            }
            return match text.parse::<f64>() {
                Ok(value) if value.is_finite() => Ok(Term::Float(value)),
                _ => Err(self.error(start, format!("float {text:.40} is out of range"))),
            };
        }
        self.integer(start, &digits, 10)
    }

    fn integer(&self, start: usize, digits: &str, radix: u32) -> Res<Term> {
        if let Ok(value) = i64::from_str_radix(digits, radix) {
            return Ok(Term::Int(value));
        }
        let magnitude =
            magnitude_from_digits(digits, radix).ok_or_else(|| self.error(start, "bad integer"))?;
        Ok(BigInt::from_magnitude(false, &magnitude).into_term())
    }

    fn export_fun(&mut self) -> Res<Term> {
        let start = self.pos;
        let module = self.node()?;
        self.expect(":")?;
        let function = self.node()?;
        self.expect("/")?;
        let arity = self.decimal(255)? as u8;
        Fun::export(module, function, arity)
            .map(Term::Fun)
            .map_err(|err| self.error(start, err.to_string()))
    }

    fn binary(&mut self) -> Res<Term> {
        self.pos += 2;
        let mut bits = BitWriter::default();
        if self.eat(">>") {
            return Ok(Term::binary(Bytes::new()));
        }
        loop {
            self.segment(&mut bits)?;
            self.skip_space();
            if self.eat(">>") {
                break;
            }
            if !self.eat(",") {
                return Err(self.unexpected("',' or '>>'"));
            }
        }
        Term::bitstring(&bits.bytes, bits.len).ok_or_else(|| self.error(self.pos, "bad bitstring"))
    }

    fn segment(&mut self, bits: &mut BitWriter) -> Res<()> {
        self.skip_space();
        let start = self.pos;
        let value = match self.peek() {
            Some(b'"') => SegmentValue::Codes(self.strings()?),
            Some(b'$' | b'0'..=b'9' | b'-' | b'+') => SegmentValue::Int(self.number()?),
            _ => return Err(self.unexpected("an integer, a character or a string")),
        };
        let size = if self.eat(":") {
            self.skip_space();
            let size_start = self.pos;
            let size = self.decimal(MAX_BINARY_BITS as u64)? as usize;
            Some((size, size_start))
        } else {
            None
        };
        let utf8 = if self.eat("/") {
            let type_start = self.pos;
            match self.name() {
                "utf8" => true,
                "integer" => false,
                other => {
                    return Err(
                        self.error(type_start, format!("unsupported segment type {other:?}"))
                    )
                }
            }
        } else {
            false
        };
        if utf8 {
            if let Some((_, size_start)) = size {
                return Err(self.error(size_start, "a utf8 segment takes no size"));
            }
            let codes = match value {
                SegmentValue::Codes(codes) => codes,
                SegmentValue::Int(Term::Int(code)) => vec![u32::try_from(code).unwrap_or(u32::MAX)],
                SegmentValue::Int(_) => {
                    return Err(self.error(start, "a utf8 segment must be a character"))
                }
            };
            self.check_room(bits, start, codes.len().saturating_mul(32))?;
            for code in codes {
                let c = char::from_u32(code)
                    .ok_or_else(|| self.error(start, format!("{code} is not a character")))?;
                let mut buffer = [0u8; 4];
                for &byte in c.encode_utf8(&mut buffer).as_bytes() {
                    bits.push_int(false, &[byte], 8);
                }
            }
            return Ok(());
        }
        let size = size.map_or(8, |(size, _)| size);
        match value {
            SegmentValue::Codes(codes) => {
                self.check_room(bits, start, codes.len().saturating_mul(size))?;
                for code in codes {
                    bits.push_int(false, &code.to_le_bytes(), size);
                }
            }
            SegmentValue::Int(Term::Int(value)) => {
                self.check_room(bits, start, size)?;
                bits.push_int(value < 0, &value.unsigned_abs().to_le_bytes(), size);
            }
            SegmentValue::Int(Term::BigInt(big)) => {
                self.check_room(bits, start, size)?;
                bits.push_int(big.negative, &big.magnitude, size);
            }
            SegmentValue::Int(_) => {
                return Err(self.error(start, "a binary segment must be an integer"))
            }
        }
        Ok(())
    }

    fn check_room(&self, bits: &BitWriter, start: usize, more: usize) -> Res<()> {
        if bits.len.saturating_add(more) > MAX_BINARY_BITS {
            return Err(self.error(
                start,
                format!("binary literal larger than {} bytes", MAX_BINARY_BITS / 8),
            ));
        }
        Ok(())
    }
}

/// Keeps the last value given for each key, as Erlang's map syntax does.
fn last_value_wins(pairs: Vec<(Term, Term)>) -> Vec<(Term, Term)> {
    let keep: Vec<bool> = {
        let mut last = std::collections::HashMap::with_capacity(pairs.len());
        for (index, (key, _)) in pairs.iter().enumerate() {
            last.insert(key, index);
        }
        pairs
            .iter()
            .enumerate()
            .map(|(index, (key, _))| last.get(key) == Some(&index))
            .collect()
    };
    pairs
        .into_iter()
        .zip(keep)
        .filter_map(|(pair, keep)| keep.then_some(pair))
        .collect()
}

fn negate(term: Term) -> Option<Term> {
    match term {
        Term::Int(value) => Some(match value.checked_neg() {
            Some(negated) => Term::Int(negated),
            None => Term::BigInt(BigInt::from_i128(-i128::from(value))),
        }),
        Term::BigInt(big) => {
            Some(BigInt::from_magnitude(!big.negative, &big.magnitude).into_term())
        }
        Term::Float(value) => Some(Term::Float(-value)),
        _ => None,
    }
}

/// Latin-1 lowercase letters start unquoted atoms, as in `erl_scan`.
fn is_atom_start(c: char) -> bool {
    c.is_ascii_lowercase() || matches!(c, 'ß'..='ÿ') && c != '÷'
}

/// Latin-1 letters, digits, `_` and `@` continue names.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || c == '_'
        || c == '@'
        || matches!(c, 'À'..='ÿ') && c != '×' && c != '÷'
}

/// Accumulates the bits of a binary literal, most significant bit first.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    len: usize,
}

impl BitWriter {
    /// Appends the low `size` bits of the integer `±magnitude` (little-endian
    /// bytes) in two's complement, as a `Value:Size` segment does.
    fn push_int(&mut self, negative: bool, magnitude: &[u8], size: usize) {
        let magnitude = trimmed(magnitude);
        // -m in two's complement has the bits of !(m - 1).
        let minus_one;
        let (source, flip) = if negative && !magnitude.is_empty() {
            let mut value = magnitude.to_vec();
            for byte in value.iter_mut() {
                let (next, borrow) = byte.overflowing_sub(1);
                *byte = next;
                if !borrow {
                    break;
                }
            }
            minus_one = value;
            (minus_one.as_slice(), 0xFF)
        } else {
            (magnitude, 0x00)
        };
        if self.len.is_multiple_of(8) && size.is_multiple_of(8) {
            // Whole bytes: the sign extension, then the value's low bytes.
            let count = size / 8;
            let extension = count.saturating_sub(source.len());
            self.bytes.resize(self.bytes.len() + extension, flip);
            self.bytes.extend(
                source[..count - extension]
                    .iter()
                    .rev()
                    .map(|byte| byte ^ flip),
            );
            self.len += size;
            return;
        }
        self.bytes.reserve(size / 8 + 1);
        for bit in (0..size).rev() {
            let byte = source.get(bit / 8).copied().unwrap_or(0) ^ flip;
            if self.len.is_multiple_of(8) {
                self.bytes.push(0);
            }
            if byte >> (bit % 8) & 1 == 1 {
                if let Some(last) = self.bytes.last_mut() {
                    *last |= 0x80 >> (self.len % 8);
                }
            }
            self.len += 1;
        }
    }
}
