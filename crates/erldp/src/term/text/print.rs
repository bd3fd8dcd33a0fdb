//! Writing terms in Erlang syntax: `Display` for [`Atom`] and [`Term`].
//!
//! What is written is what `erl_scan` and `erl_parse:parse_term/1` read
//! back to an equal term ([data
//! types](https://www.erlang.org/doc/system/data_types.html)), or one of
//! ErlDP's forms for the terms that have no literal. A precision bounds the
//! text, and the work, so that an error message can show any term a peer
//! sends.

use std::fmt::{self, Write as _};

use super::RESERVED_WORDS;
use crate::term::bigint::trimmed;
use crate::term::decode::{fun_parts, FunParts};
use crate::term::encode::tag;
use crate::term::{Atom, BigInt, Bitstring, Fun, Pid, Ref, Term};

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
pub(super) fn format_float(value: f64) -> String {
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
    if encoding.first() == Some(&tag::EXPORT_EXT) {
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
