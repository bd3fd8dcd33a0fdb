//! Erlang term syntax: `Display` writes it, `FromStr` reads it.
//!
//! The syntax is that of Erlang [data
//! types](https://www.erlang.org/doc/system/data_types.html) as `erl_scan`
//! and `erl_parse:parse_term/1` read them, so the text of any term that has
//! an Erlang literal reads back in `erl` to a term `=:=` to it. Pids, ports,
//! references and local funs have no literal syntax; they are written in
//! ErlDP's own forms, which only `FromStr` reads:
//! `#Pid<'node@host'.Id.Serial.Creation>`, `#Port<'node@host'.Id.Creation>`,
//! `#Ref<'node@host'.Word1.Word2.Word3.Creation>` (one to five words) and
//! `#Fun<hex of the fun's external encoding>`.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use bytes::Bytes;

use super::bigint::{magnitude_from_digits, trimmed};
use super::decode::{fun_parts, FunParts, MAX_DEPTH};
use super::{Atom, BigInt, Bitstring, Fun, Pid, Port, Ref, Term, MAX_ATOM_CHARS};
use crate::error::{Error, Result};

/// Words that `erl_scan` reads as keywords or operators, so atoms with
/// these names must be quoted (`maybe` and `else` only with the `maybe_expr`
/// feature, which is on by default from OTP 27).
const RESERVED_WORDS: &[&str] = &[
    "after", "and", "andalso", "band", "begin", "bnot", "bor", "bsl", "bsr", "bxor", "case",
    "catch", "cond", "div", "else", "end", "fun", "if", "let", "maybe", "not", "of", "or",
    "orelse", "receive", "rem", "try", "when", "xor",
];

/// The largest binary literal, in bits (16 MiB): keeps a few bytes of text
/// such as `<<0:99999999999>>` from allocating gigabytes.
const MAX_BINARY_BITS: usize = 1 << 27;

// ---------------------------------------------------------------- writing

impl fmt::Display for Atom {
    /// The atom in Erlang syntax, quoted only when it has to be.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.as_str();
        if needs_quotes(text) {
            write_quoted(f, text, '\'')
        } else {
            f.write_str(text)
        }
    }
}

fn needs_quotes(text: &str) -> bool {
    let mut chars = text.chars();
    !matches!(chars.next(), Some('a'..='z'))
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@')
        || RESERVED_WORDS.contains(&text)
}

fn write_quoted(f: &mut impl fmt::Write, text: &str, quote: char) -> fmt::Result {
    f.write_char(quote)?;
    for c in text.chars() {
        write_escaped(f, u32::from(c), quote)?;
    }
    f.write_char(quote)
}

/// Writes one character inside quotes, escaping what the scanner would not
/// read back as itself.
fn write_escaped(f: &mut impl fmt::Write, code: u32, quote: char) -> fmt::Result {
    let escape = match code {
        0x08 => "\\b",
        0x09 => "\\t",
        0x0A => "\\n",
        0x0B => "\\v",
        0x0C => "\\f",
        0x0D => "\\r",
        0x1B => "\\e",
        0x7F => "\\d",
        0x5C => "\\\\",
        _ => match char::from_u32(code) {
            Some(c) if c == quote => return write!(f, "\\{c}"),
            Some(c) if is_printable(code) => return f.write_char(c),
            _ => return write!(f, "\\x{{{code:X}}}"),
        },
    };
    f.write_str(escape)
}

/// Printable as `io_lib:printable_unicode_list/1` sees it, without the
/// control characters that have escapes.
fn is_printable(code: u32) -> bool {
    matches!(code, 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Control characters that strings may hold (written as escapes).
fn is_string_control(code: u32) -> bool {
    matches!(code, 0x08..=0x0D | 0x1B)
}

impl fmt::Display for Term {
    /// The term in Erlang syntax, which `erl_scan`/`erl_parse` read back to
    /// an equal term: atoms quoted only when needed, floats in their
    /// shortest form with a `.` (`1.0e300`, `-0.0`), printable lists as
    /// strings, binaries as `<<"text">>`, `<<"tëxt"/utf8>>` or `<<1,2>>`,
    /// exports as `fun m:f/1`. Terms without Erlang syntax take ErlDP's own
    /// forms: `#Pid<'node@host'.Id.Serial.Creation>`,
    /// `#Port<'node@host'.Id.Creation>`,
    /// `#Ref<'node@host'.Word1.Word2.Word3.Creation>` and
    /// `#Fun<hex of the external encoding>` for closures.
    ///
    /// A precision bounds the text: `{:.100}` writes at most 100 bytes of
    /// it and then `...` when there was more, and does work in proportion
    /// to what it writes, not to the term (a large integer is then written
    /// as its leading hexadecimal digits, `16#1F0A...`). Error messages
    /// print terms that way.
    ///
    /// ```
    /// let term = erldp::Term::binary(vec![b'x'; 1 << 20]);
    /// assert_eq!(format!("{term:.10}"), "<<\"xxxxxxx...");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(max) = f.precision() else {
            return write_term(f, self, usize::MAX);
        };
        let mut bounded = Bounded {
            out: f,
            left: max,
            cut: false,
        };
        let written = write!(bounded, "{}", Capped(self, max));
        if bounded.cut {
            bounded.out.write_str("...")
        } else {
            written
        }
    }
}

/// Passes text on until `left` bytes have gone, then refuses the rest (the
/// error stops the writing of the term).
struct Bounded<'a, 'b> {
    out: &'a mut fmt::Formatter<'b>,
    left: usize,
    cut: bool,
}

impl fmt::Write for Bounded<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if text.len() <= self.left {
            self.left -= text.len();
            return self.out.write_str(text);
        }
        let end = text.floor_char_boundary(self.left);
        self.out.write_str(&text[..end])?;
        self.left = 0;
        self.cut = true;
        Err(fmt::Error)
    }
}

/// A term written with leaves cut to `cap` bytes of text.
struct Capped<'a>(&'a Term, usize);

impl fmt::Display for Capped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_term(f, self.0, self.1)
    }
}

/// Writes a term. Only containers recurse, and they call this function
/// directly rather than through `write!`, so that a deeply nested term
/// costs little stack per level. Leaves look at no more of their data than
/// `cap` bytes of text need: where they stop short, what they write is
/// longer than `cap`, so a writer that stops at `cap` never shows the cut.
fn write_term(f: &mut fmt::Formatter<'_>, term: &Term, cap: usize) -> fmt::Result {
    match term {
        Term::Tuple(elements) => {
            f.write_char('{')?;
            write_sequence(f, elements, cap)?;
            f.write_char('}')
        }
        Term::List(elements) if !elements.is_empty() && !is_printable_string(elements, cap) => {
            f.write_char('[')?;
            write_sequence(f, elements, cap)?;
            f.write_char(']')
        }
        Term::ImproperList(elements, tail) => {
            if !elements.is_empty() {
                f.write_char('[')?;
                write_sequence(f, elements, cap)?;
                f.write_char('|')?;
            }
            write_term(f, tail, cap)?;
            if !elements.is_empty() {
                f.write_char(']')?;
            }
            Ok(())
        }
        Term::Map(pairs) => {
            f.write_str("#{")?;
            for (index, (key, value)) in pairs.iter().enumerate() {
                if index > 0 {
                    f.write_char(',')?;
                }
                write_term(f, key, cap)?;
                f.write_str(" => ")?;
                write_term(f, value, cap)?;
            }
            f.write_char('}')
        }
        other => write_leaf(f, other, cap),
    }
}

fn write_sequence(f: &mut fmt::Formatter<'_>, elements: &[Term], cap: usize) -> fmt::Result {
    for (index, element) in elements.iter().enumerate() {
        if index > 0 {
            f.write_char(',')?;
        }
        write_term(f, element, cap)?;
    }
    Ok(())
}

/// At most the first `cap + 1` items: enough to write more than `cap` bytes.
fn head<T>(items: &[T], cap: usize) -> &[T] {
    &items[..items.len().min(cap.saturating_add(1))]
}

/// [`head`] of a binary, not ending inside a UTF-8 character, so that text
/// still prints as text.
fn text_head(bytes: &[u8], cap: usize) -> &[u8] {
    let head = &bytes[..bytes.len().min(cap.saturating_add(4))];
    match std::str::from_utf8(head) {
        Err(err) if head.len() < bytes.len() && err.error_len().is_none() => {
            &head[..err.valid_up_to()]
        }
        _ => head,
    }
}

/// Writes a term that holds no other terms (strings included).
#[inline(never)]
fn write_leaf(f: &mut fmt::Formatter<'_>, term: &Term, cap: usize) -> fmt::Result {
    match term {
        Term::Atom(atom) => write!(f, "{atom}"),
        Term::Int(value) => write!(f, "{value}"),
        // Decimal digits are about 2.4 per byte; past the cap, the leading
        // hexadecimal ones say as much and cost nothing to find.
        Term::BigInt(big) if big.magnitude.len() > cap / 2 => write_hex_head(f, big, cap),
        Term::BigInt(big) => write!(f, "{big}"),
        Term::Float(value) => f.write_str(&format_float(*value)),
        Term::Binary(bytes) => write_binary(f, text_head(bytes, cap)),
        Term::Bitstring(bits) => write_bitstring(f, bits, cap),
        Term::Pid(pid) => write_pid(f, pid),
        Term::Port(port) => {
            f.write_str("#Port<")?;
            write_quoted(f, port.node.as_str(), '\'')?;
            write!(f, ".{}.{}>", port.id, port.creation)
        }
        Term::Ref(reference) => write_ref(f, reference),
        Term::List(elements) if elements.is_empty() => f.write_str("[]"),
        Term::List(elements) => {
            f.write_char('"')?;
            for element in head(elements, cap) {
                write_escaped(f, string_code(element).unwrap_or(u32::from('?')), '"')?;
            }
            f.write_char('"')
        }
        Term::Fun(fun) => write_fun(f, fun, cap),
        Term::Tuple(_) | Term::ImproperList(..) | Term::Map(_) => write_term(f, term, cap),
    }
}

/// `16#` and the leading hexadecimal digits of a large integer, more than
/// `cap` of them.
fn write_hex_head(f: &mut fmt::Formatter<'_>, big: &BigInt, cap: usize) -> fmt::Result {
    let magnitude = trimmed(&big.magnitude);
    if big.negative {
        f.write_char('-')?;
    }
    f.write_str("16#")?;
    let mut top = magnitude.iter().rev().take(cap / 2 + 1);
    if let Some(first) = top.next() {
        write!(f, "{first:X}")?;
    }
    for byte in top {
        write!(f, "{byte:02X}")?;
    }
    Ok(())
}

/// The character of a string element: an integer that is a printable
/// character or a control character with an escape.
fn string_code(element: &Term) -> Option<u32> {
    match element {
        Term::Int(value) => u32::try_from(*value)
            .ok()
            .filter(|&c| is_printable(c) || is_string_control(c)),
        _ => None,
    }
}

/// Whether a non-empty list prints as a string, judged by its first `cap
/// + 1` elements.
fn is_printable_string(elements: &[Term], cap: usize) -> bool {
    head(elements, cap)
        .iter()
        .all(|element| string_code(element).is_some())
}

/// The shortest text that reads back as the same float, in Erlang's float
/// syntax (digits on both sides of the point, optional exponent); like
/// `float_to_list(F, [short])`, positional notation unless the exponent
/// form is shorter.
fn format_float(value: f64) -> String {
    if !value.is_finite() {
        // Not an Erlang value: such a float cannot be encoded either.
        return format!("#Float<{value}>");
    }
    // `{:e}` gives the shortest digits that round-trip, e.g. "-1.25e-7".
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let (first, rest) = digits.split_at(1);
    let exponent_form = format!(
        "{sign}{first}.{}e{exponent}",
        if rest.is_empty() { "0" } else { rest }
    );
    let point = exponent + 1;
    let count = digits.len() as i64;
    let positional = if point <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-point) as usize))
    } else if point >= count {
        format!("{sign}{digits}{}.0", "0".repeat((point - count) as usize))
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{sign}{whole}.{fraction}")
    };
    if exponent_form.len() < positional.len() {
        exponent_form
    } else {
        positional
    }
}

fn write_binary(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    if bytes.is_empty() {
        return f.write_str("<<>>");
    }
    let ascii = |byte: &u8| {
        is_printable(u32::from(*byte)) && *byte < 0x80 || is_string_control(u32::from(*byte))
    };
    if bytes.iter().all(ascii) {
        f.write_str("<<\"")?;
        for &byte in bytes {
            write_escaped(f, u32::from(byte), '"')?;
        }
        return f.write_str("\">>");
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        if text
            .chars()
            .all(|c| is_printable(u32::from(c)) || is_string_control(u32::from(c)))
        {
            f.write_str("<<\"")?;
            for c in text.chars() {
                write_escaped(f, u32::from(c), '"')?;
            }
            return f.write_str("\"/utf8>>");
        }
    }
    f.write_str("<<")?;
    for (index, byte) in bytes.iter().enumerate() {
        if index > 0 {
            f.write_char(',')?;
        }
        write!(f, "{byte}")?;
    }
    f.write_str(">>")
}

fn write_bitstring(f: &mut fmt::Formatter<'_>, bits: &Bitstring, cap: usize) -> fmt::Result {
    f.write_str("<<")?;
    if bits.bytes.len() > cap {
        // Each byte takes two characters at least.
        for byte in head(&bits.bytes, cap) {
            write!(f, "{byte},")?;
        }
        return Ok(());
    }
    if let Some((&last, whole)) = bits.bytes.split_last() {
        for byte in whole {
            write!(f, "{byte},")?;
        }
        let used = bits.bits.clamp(1, 8);
        write!(f, "{}:{used}", u16::from(last) >> (8 - used))?;
    }
    f.write_str(">>")
}

fn write_pid(f: &mut fmt::Formatter<'_>, pid: &Pid) -> fmt::Result {
    f.write_str("#Pid<")?;
    write_quoted(f, pid.node.as_str(), '\'')?;
    write!(f, ".{}.{}.{}>", pid.id, pid.serial, pid.creation)
}

fn write_ref(f: &mut fmt::Formatter<'_>, reference: &Ref) -> fmt::Result {
    f.write_str("#Ref<")?;
    write_quoted(f, reference.node.as_str(), '\'')?;
    for id in reference.ids() {
        write!(f, ".{id}")?;
    }
    write!(f, ".{}>", reference.creation)
}

fn write_fun(f: &mut fmt::Formatter<'_>, fun: &Fun, cap: usize) -> fmt::Result {
    let encoding = fun.encoding();
    if encoding.first() == Some(&super::encode::tag::EXPORT_EXT) {
        if let Some(FunParts::Export(module, function, arity)) = fun_parts(encoding) {
            return write!(f, "fun {module}:{function}/{arity}");
        }
    }
    f.write_str("#Fun<")?;
    for byte in head(encoding, cap / 2) {
        write!(f, "{byte:02X}")?;
    }
    f.write_char('>')
}

// ---------------------------------------------------------------- reading

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

    fn atom(&self, start: usize, text: &str) -> Res<Atom> {
        let chars = text.chars().count();
        if chars > MAX_ATOM_CHARS {
            return Err(self.error(
                start,
                format!("atom of {chars} characters exceeds the limit of {MAX_ATOM_CHARS}"),
            ));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Term {
        text.parse()
            .unwrap_or_else(|err| panic!("parsing {text:?}: {err}"))
    }

    fn parse_err(text: &str) -> (usize, String) {
        match text.parse::<Term>() {
            Err(Error::Parse { offset, reason }) => (offset, reason),
            other => panic!("expected a parse error for {text:?}, got {other:?}"),
        }
    }

    fn round_trip(text: &str) {
        let term = parse(text);
        assert_eq!(term.to_string(), text, "display of {term:?}");
        assert_eq!(parse(&term.to_string()), term);
    }

    #[test]
    fn atoms() {
        for text in [
            "ok",
            "a@b",
            "node@host.example",
            "'hello world'",
            "'Caps'",
            "'and'",
            "'maybe'",
            "'else'",
        ] {
            let text = text.replace(".example", "_example");
            round_trip(&text);
        }
        round_trip("'héllo'");
        round_trip("'it\\'s'");
        round_trip("'back\\\\slash'");
        round_trip("'\\n\\t'");
        round_trip("''");
        round_trip("'\\x{1}'");
        assert_eq!(parse("'\\x{3b1}'"), Term::atom("α"));
        assert_eq!(parse("héllo"), Term::atom("héllo"));
        assert_eq!(parse("maybe"), Term::atom("maybe"));
        assert!(parse_err("and").1.contains("reserved"));
        assert!(parse_err("Var").1.contains("variables"));
        assert!(parse_err(&format!("'{}'", "a".repeat(256)))
            .1
            .contains("256 characters"));
        parse(&format!("'{}'", "a".repeat(255)));
    }

    #[test]
    fn integers() {
        round_trip("0");
        round_trip("-1");
        round_trip("9223372036854775807");
        round_trip("-9223372036854775808");
        round_trip("18446744073709551616");
        round_trip("-18446744073709551616");
        assert_eq!(parse("16#FF"), Term::Int(255));
        assert_eq!(parse("-16#ff"), Term::Int(-255));
        assert_eq!(parse("2#1010"), Term::Int(10));
        assert_eq!(parse("36#zz"), Term::Int(1295));
        assert_eq!(parse("16#10000000000000000"), Term::from(1u128 << 64));
        assert_eq!(parse("1_000_000"), Term::Int(1_000_000));
        assert_eq!(parse("- 1"), Term::Int(-1));
        assert_eq!(parse("+7"), Term::Int(7));
        assert_eq!(parse("$a"), Term::Int(97));
        assert_eq!(parse("-$a"), Term::Int(-97));
        assert_eq!(parse("$\\n"), Term::Int(10));
        assert_eq!(parse("$\\x{1F600}"), Term::Int(0x1F600));
        assert_eq!(parse("$ "), Term::Int(32));
        assert_eq!(parse("$\\^a"), Term::Int(1));
        assert_eq!(parse("$\\101"), Term::Int(65));
        assert!(parse_err("37#1").1.contains("base 37"));
        assert!(parse_err("2#2").1.contains("digits of base 2"));
        assert!(parse_err("1__0").1.contains("end of the text"));
        assert!(parse_err("1_").1.contains("end of the text"));
    }

    #[test]
    fn floats() {
        for text in [
            "0.0", "-0.0", "1.5", "0.1", "100.0", "1.0e300", "1.5e-7", "0.0001", "1.0e-5", "1.0e15",
        ] {
            round_trip(text);
        }
        round_trip("123456789012345.0");
        round_trip("1.2345678901234567e19");
        round_trip("5.0e-324");
        round_trip("1.7976931348623157e308");
        round_trip("2.2250738585072014e-308");
        assert_eq!(parse("1.0E10"), Term::Float(1.0e10));
        assert_eq!(parse("1.5e+3"), Term::Float(1500.0));
        assert_eq!(parse("1_0.2_5"), Term::Float(10.25));
        assert!(parse_err("1.0e400").1.contains("out of range"));
        assert_eq!(format_float(-0.0), "-0.0");
        for value in [
            0.1,
            1.0 / 3.0,
            2.0f64.powi(60),
            1e-300,
            123.456,
            6.02214076e23,
        ] {
            assert_eq!(parse(&format_float(value)), Term::Float(value));
        }
    }

    #[test]
    fn strings_and_lists() {
        round_trip("\"abc\"");
        round_trip("[]");
        round_trip("[1,2,3]");
        round_trip("[1,2|c]");
        round_trip("\"a\\nb\\t\\\"q\\\"\"");
        round_trip("\"héllo ☃\"");
        round_trip("[127]");
        round_trip("[0]");
        round_trip("[{a},\"b\"]");
        assert_eq!(parse("\"ab\" \"cd\""), Term::charlist("abcd"));
        assert_eq!(parse("\"\""), Term::nil());
        assert_eq!(
            parse("\"\\x41\\101\\s\\^A\""),
            Term::list(vec![65.into(), 65.into(), 32.into(), 1.into()])
        );
        assert_eq!(parse("[a|[b]]"), parse("[a,b]"));
        assert_eq!(parse("[a|[b|c]]"), parse("[a,b|c]"));
        assert!(parse_err("\"abc").1.contains("not closed"));
        assert!(parse_err("[1,2").1.contains("']'"));
    }

    #[test]
    fn tuples_and_maps() {
        round_trip("{}");
        round_trip("{a,{b,[c]},1.5}");
        round_trip("#{}");
        round_trip("#{a => 1,b => 2}");
        round_trip("#{{x} => #{}}");
        assert_eq!(parse("#{a => 1, a => 2}"), parse("#{a => 2}"));
        assert!(parse_err("#{a 1}").1.contains("=>"));
    }

    #[test]
    fn binaries() {
        round_trip("<<>>");
        round_trip("<<\"abc\">>");
        round_trip("<<\"a\\nb\">>");
        round_trip("<<\"héllo\"/utf8>>");
        round_trip("<<1,2,3>>");
        round_trip("<<255,0>>");
        round_trip("<<1,2,3:5>>");
        round_trip("<<1:1>>");
        assert_eq!(parse("<<\"é\">>"), Term::binary(vec![233]));
        assert_eq!(parse("<<233/utf8>>"), Term::binary("é"));
        assert_eq!(
            parse("<<-1:4>>"),
            Term::bitstring(&[0xF0], 4).expect("bits")
        );
        assert_eq!(parse("<<256>>"), Term::binary(vec![0]));
        assert_eq!(parse("<<1:16>>"), Term::binary(vec![0, 1]));
        assert_eq!(parse("<<\"ab\":16>>"), Term::binary(vec![0, 97, 0, 98]));
        assert_eq!(parse("<<-1:16>>"), Term::binary(vec![255, 255]));
        assert_eq!(parse("<<-256:16>>"), Term::binary(vec![255, 0]));
        assert_eq!(
            parse("<<16#1FFFFFFFFFFFFFFFF:72>>"),
            Term::binary(vec![1, 255, 255, 255, 255, 255, 255, 255, 255])
        );
        assert_eq!(parse("<<$a, \"b\" \"c\">>"), Term::binary("abc"));
        assert_eq!(parse("<<1:0>>"), Term::binary(Bytes::new()));
        assert!(parse_err("<<1:99999999999>>").1.contains("number from 0"));
        assert!(parse_err("<<0:134217728,0:1>>")
            .1
            .contains("larger than 16777216 bytes"));
        assert_eq!(
            parse("<<-2:24,5:16,-1:12,3:4>>"),
            Term::binary(vec![255, 255, 254, 0, 5, 255, 243])
        );
        assert_eq!(parse("<<-300:12,7:3>>"), parse("<<237,39:7>>"));
        assert!(parse_err("<<1.5>>").1.contains("must be an integer"));
        assert!(parse_err("<<a>>").1.contains("integer"));
        assert!(parse_err("<<1/float>>").1.contains("unsupported"));
    }

    #[test]
    fn identifiers() {
        let node = Atom::new("node@host");
        let pid = Term::Pid(Pid {
            node,
            id: 1,
            serial: 2,
            creation: 3,
        });
        assert_eq!(pid.to_string(), "#Pid<'node@host'.1.2.3>");
        assert_eq!(parse("#Pid<'node@host'.1.2.3>"), pid);
        assert_eq!(parse("#Pid<node@host.1.2.3>"), pid);
        let port = Term::Port(Port {
            node,
            id: 1 << 40,
            creation: 3,
        });
        assert_eq!(port.to_string(), "#Port<'node@host'.1099511627776.3>");
        assert_eq!(parse(&port.to_string()), port);
        let reference = Term::Ref(Ref::new(node, 3, &[1, 2, 3, 4, 5]).expect("ref"));
        assert_eq!(reference.to_string(), "#Ref<'node@host'.1.2.3.4.5.3>");
        assert_eq!(parse(&reference.to_string()), reference);
        let short = Term::Ref(Ref::new(node, 3, &[9]).expect("ref"));
        assert_eq!(parse(&short.to_string()), short);
        assert!(parse_err("#Ref<'n@h'.1.2.3.4.5.6.7>")
            .1
            .contains("at most 5"));
        assert!(parse_err("#Ref<'n@h'.1>").1.contains("1 to 5"));
        assert!(parse_err("#Pid<'n@h'.1.2.99999999999>")
            .1
            .contains("number from 0"));
        assert!(parse_err("#Foo<1>").1.contains("#Foo"));
    }

    #[test]
    fn funs() {
        let export = parse("fun lists:sum/1");
        assert_eq!(export.to_string(), "fun lists:sum/1");
        assert_eq!(parse("fun 'a b':'C'/0").to_string(), "fun 'a b':'C'/0");
        let mut encoding = vec![112, 0, 0, 0, 0, 0];
        encoding.extend_from_slice(&[0xAB; 16]);
        encoding.extend_from_slice(&[
            0, 0, 0, 0, 0, 0, 0, 1, 119, 1, b'f', 97, 0, 98, 7, 93, 177, 15,
        ]);
        encoding.extend_from_slice(&[
            88, 119, 3, b'a', b'@', b'h', 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 97, 1,
        ]);
        let size = (encoding.len() - 1) as u32;
        encoding[1..5].copy_from_slice(&size.to_be_bytes());
        let hex: String = encoding.iter().map(|byte| format!("{byte:02X}")).collect();
        let local = parse(&format!("#Fun<{hex}>"));
        assert_eq!(local, Term::Fun(Fun::from_encoding(Bytes::from(encoding))));
        assert_eq!(local.to_string(), format!("#Fun<{hex}>"));
        assert_eq!(parse(&format!("#Fun<{}>", hex.to_lowercase())), local);
        assert!(parse_err("#Fun<0102>").1.contains("valid fun"));
        assert!(parse_err("fun lists:sum/256").1.contains("number from 0"));
    }

    #[test]
    fn precision_bounds_the_text() {
        let short = parse("{ok, [1, 2], #{a => <<\"b\">>}}");
        assert_eq!(format!("{short:.100}"), short.to_string());
        assert_eq!(format!("{short:.5}"), "{ok,[...");
        let text = short.to_string();
        assert_eq!(format!("{short:.len$}", len = text.len()), text);

        let big = Term::binary(vec![b'x'; 20 << 20]);
        assert_eq!(format!("{big:.8}"), "<<\"xxxxx...");
        let bytes = Term::binary(vec![200; 1 << 20]);
        assert_eq!(format!("{bytes:.12}"), "<<200,200,20...");
        let string = Term::charlist(&"y".repeat(1 << 20));
        assert_eq!(format!("{string:.4}"), "\"yyy...");
        let mut mixed = vec![Term::Int(104); 100];
        mixed.push(Term::atom("not_a_char"));
        let list = Term::list(mixed);
        assert!(format!("{list:.200}").starts_with("[104,104,"));
        assert!(format!("{list:.20}").starts_with("\"hhhh"));
        let bits = Term::bitstring(&vec![1; 1 << 20], (8 << 20) - 5).expect("bits");
        assert_eq!(format!("{bits:.9}"), "<<1,1,1,1...");

        // A large integer shows its leading hexadecimal digits.
        let mut magnitude = vec![0x5A; 300_000];
        magnitude.push(0x7F);
        let huge = BigInt::from_magnitude(true, &magnitude).into_term();
        assert_eq!(format!("{huge:.12}"), "-16#7F5A5A5A...");
        let small = BigInt::from_magnitude(false, &[0, 0, 0, 0, 0, 0, 0, 0, 1]).into_term();
        assert_eq!(format!("{small:.100}"), "18446744073709551616");

        // Inside containers, and cut inside a UTF-8 character.
        let nested = Term::tuple(vec![Term::atom("error"), big.clone(), huge]);
        assert_eq!(format!("{nested:.14}"), "{error,<<\"xxxx...");
        let accented = Term::binary("é".repeat(100).into_bytes());
        assert_eq!(format!("{accented:.6}"), "<<\"é...");
    }

    #[test]
    fn document_syntax() {
        assert_eq!(parse("  {a} . "), parse("{a}"));
        assert_eq!(parse("% comment\n[1, % inner\n 2]. % done"), parse("[1,2]"));
        assert_eq!(
            parse_err("{a} b"),
            (4, "expected the end of the text, found 'b'".to_owned())
        );
        assert_eq!(
            parse_err("").1,
            "expected a term, found the end of the text"
        );
        assert!(parse_err("{a,}").1.contains("term"));
    }

    #[test]
    fn deep_nesting_is_bounded() {
        // MAX_DEPTH lists around an empty one are fine; one more is not.
        let ok = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                (
                    ok.parse::<Term>().is_ok(),
                    deep.parse::<Term>().map_err(|err| err.to_string()),
                )
            })
            .expect("thread");
        let (ok, deep) = handle.join().expect("no overflow");
        assert!(ok);
        assert_eq!(
            deep.expect_err("too deep"),
            format!(
                "syntax error at byte {}: terms nest deeper than {MAX_DEPTH} levels",
                MAX_DEPTH
            )
        );
    }
}
