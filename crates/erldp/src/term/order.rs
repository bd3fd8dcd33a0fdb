//! Equality, hashing and [term
//! order](https://www.erlang.org/doc/system/expressions.html#term-comparisons).
//!
//! Equality is Erlang's exact equality `=:=`: `1` and `1.0` differ, floats
//! compare by their bits (so `0.0` and `-0.0` differ, as from OTP 27 on),
//! maps compare as sets of pairs, references ignore trailing zero words.
//!
//! `Ord` is Erlang's term order: number < atom < reference < fun < port <
//! pid < tuple < map < `[]` < list < bitstring. Numbers compare by exact
//! mathematical value (bignums included), tuples by size and then elements,
//! maps by size, then keys, then values, lists element by element, bitstrings
//! bit by bit with a prefix first. Where Erlang's order calls two different
//! terms equal (`1 == 1.0`, `{0.0} == {-0.0}`), ties are broken by the
//! order the BEAM uses for map keys, in which every integer sorts before
//! every float; so `Ord` agrees with `Eq` and sorting is deterministic.
//!
//! Within a type the details follow OTP 25: pids compare by serial, number,
//! node, creation; ports and references by node, creation, then id (the
//! highest reference word first); local funs sort before export funs.

use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::bigint::{cmp_int_float, cmp_magnitudes, trimmed};
use super::decode::{fun_parts, FunParts};
use super::{Fun, Pid, Port, Ref, Term};

/// How numbers of different types compare.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Erlang's `<`/`==`: by value, `1 == 1.0`.
    Erlang,
    /// The BEAM's map key order: all integers before all floats, floats by
    /// their bits' total order. Total, and consistent with `Eq`.
    Exact,
}

/// `[]`, for comparing the end of a proper list with an improper tail.
static NIL: Term = Term::List(Vec::new());

/// The order in which the BEAM sorts the keys of small maps (and writes
/// them in the external format): term order with every integer before every
/// float.
pub(crate) fn map_key_cmp(a: &Term, b: &Term) -> Ordering {
    compare(a, b, Mode::Exact)
}

impl PartialEq for Term {
    fn eq(&self, other: &Term) -> bool {
        // Containers recurse here with a small frame; everything else is
        // compared out of line.
        match (self, other) {
            (Term::Tuple(a), Term::Tuple(b)) | (Term::List(a), Term::List(b)) => all_equal(a, b),
            (Term::ImproperList(a, a_tail), Term::ImproperList(b, b_tail)) => all_equal(a, b) && a_tail == b_tail,
            _ => leaf_equal(self, other),
        }
    }
}

fn all_equal(a: &[Term], b: &[Term]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return false;
        }
    }
    true
}

#[inline(never)]
fn leaf_equal(a: &Term, b: &Term) -> bool {
    match (a, b) {
        (Term::Atom(x), Term::Atom(y)) => x == y,
        (Term::Int(x), Term::Int(y)) => x == y,
        (Term::Float(x), Term::Float(y)) => x.to_bits() == y.to_bits(),
        (Term::Binary(x), Term::Binary(y)) => x == y,
        (Term::Map(x), Term::Map(y)) => maps_equal(x, y),
        (Term::Pid(x), Term::Pid(y)) => x == y,
        (Term::Port(x), Term::Port(y)) => x == y,
        (Term::Ref(x), Term::Ref(y)) => x == y,
        (Term::Fun(x), Term::Fun(y)) => x == y,
        (Term::Int(_) | Term::BigInt(_), Term::Int(_) | Term::BigInt(_)) => {
            compare_numbers(a, b, Mode::Exact) == Ordering::Equal
        }
        (Term::Binary(_) | Term::Bitstring(_), Term::Binary(_) | Term::Bitstring(_)) => {
            compare_bits(bits_of(a), bits_of(b)) == Ordering::Equal
        }
        _ => false,
    }
}

impl Eq for Term {}

fn maps_equal(a: &[(Term, Term)], b: &[(Term, Term)]) -> bool {
    /// Up to this size a linear search per key beats building a hash map.
    const LINEAR_MAX: usize = 16;
    if a.len() != b.len() {
        return false;
    }
    if a.len() <= LINEAR_MAX {
        return a.iter().all(|(key, value)| b.iter().any(|(k, v)| k == key && v == value));
    }
    let index: HashMap<&Term, &Term> = b.iter().map(|(k, v)| (k, v)).collect();
    a.iter().all(|(key, value)| index.get(key) == Some(&value))
}

impl Hash for Term {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Containers recurse here with a small frame; the rest is hashed out
        // of line. Each type hashes its rank first.
        match self {
            Term::Tuple(elements) | Term::List(elements) => {
                state.write_u8(type_rank(self));
                state.write_usize(elements.len());
                for element in elements {
                    element.hash(state);
                }
            }
            Term::ImproperList(elements, tail) => {
                state.write_u8(NONEMPTY_LIST_RANK);
                state.write_usize(elements.len());
                for element in elements {
                    element.hash(state);
                }
                tail.hash(state);
            }
            leaf => hash_leaf(leaf, state),
        }
    }
}

#[inline(never)]
fn hash_leaf<H: Hasher>(term: &Term, state: &mut H) {
    state.write_u8(type_rank(term));
    match term {
        Term::Int(_) | Term::BigInt(_) => {
            if let Some((negative, magnitude)) = int_parts(term) {
                let magnitude = trimmed(&magnitude);
                state.write_u8(u8::from(negative && !magnitude.is_empty()));
                magnitude.hash(state);
            }
        }
        Term::Float(value) => {
            // Distinct from every integer, which `Eq` keeps apart.
            state.write_u8(2);
            state.write_u64(value.to_bits());
        }
        Term::Atom(atom) => atom.hash(state),
        Term::Ref(reference) => reference.hash(state),
        Term::Fun(fun) => fun.hash(state),
        Term::Port(port) => port.hash(state),
        Term::Pid(pid) => pid.hash(state),
        Term::Map(pairs) => {
            state.write_usize(pairs.len());
            // Pair order does not take part in equality, so combine the
            // pairs' hashes with an operation that ignores order.
            let combined = pairs.iter().fold(0u64, |sum, pair| {
                let mut hasher = DefaultHasher::new();
                pair.hash(&mut hasher);
                sum.wrapping_add(hasher.finish())
            });
            state.write_u64(combined);
        }
        Term::Binary(_) | Term::Bitstring(_) => {
            let (bytes, bits) = bits_of(term);
            state.write_usize(bits);
            state.write(&bytes[..bits / 8]);
            if bits % 8 != 0 {
                state.write_u8(bytes[bits / 8] >> (8 - bits % 8));
            }
        }
        Term::Tuple(_) | Term::List(_) | Term::ImproperList(..) => term.hash(state),
    }
}

impl PartialOrd for Term {
    fn partial_cmp(&self, other: &Term) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Term {
    fn cmp(&self, other: &Term) -> Ordering {
        compare(self, other, Mode::Erlang).then_with(|| compare(self, other, Mode::Exact))
    }
}

/// Position of a term's type in Erlang's term order.
fn type_rank(term: &Term) -> u8 {
    match term {
        Term::Int(_) | Term::BigInt(_) | Term::Float(_) => 0,
        Term::Atom(_) => 1,
        Term::Ref(_) => 2,
        Term::Fun(_) => 3,
        Term::Port(_) => 4,
        Term::Pid(_) => 5,
        Term::Tuple(_) => 6,
        Term::Map(_) => 7,
        Term::List(elements) if elements.is_empty() => 8,
        Term::List(_) | Term::ImproperList(..) => NONEMPTY_LIST_RANK,
        Term::Binary(_) | Term::Bitstring(_) => 10,
    }
}

const NONEMPTY_LIST_RANK: u8 = 9;

/// Containers recurse here with a small frame; everything else is compared
/// out of line.
fn compare(a: &Term, b: &Term, mode: Mode) -> Ordering {
    match (a, b) {
        (Term::Tuple(x), Term::Tuple(y)) => match x.len().cmp(&y.len()) {
            Ordering::Equal => compare_all(x, y, mode),
            unequal => unequal,
        },
        (Term::List(x), Term::List(y)) => {
            for (p, q) in x.iter().zip(y) {
                let order = compare(p, q, mode);
                if order.is_ne() {
                    return order;
                }
            }
            // When one proper list is a prefix of the other, `[]` meets a
            // non-empty list, and `[]` sorts first.
            x.len().cmp(&y.len())
        }
        _ => compare_leaf(a, b, mode),
    }
}

#[inline(never)]
fn compare_leaf(a: &Term, b: &Term, mode: Mode) -> Ordering {
    match (a, b) {
        (Term::Atom(x), Term::Atom(y)) => x.cmp(y),
        (Term::Int(x), Term::Int(y)) => x.cmp(y),
        (Term::Map(x), Term::Map(y)) => compare_maps(x, y, mode),
        (Term::List(x), Term::ImproperList(y, y_tail)) => compare_lists(x, None, y, Some(y_tail), mode),
        (Term::ImproperList(x, x_tail), Term::List(y)) => compare_lists(x, Some(x_tail), y, None, mode),
        (Term::ImproperList(x, x_tail), Term::ImproperList(y, y_tail)) => {
            compare_lists(x, Some(x_tail), y, Some(y_tail), mode)
        }
        (Term::Pid(x), Term::Pid(y)) => compare_pids(x, y),
        (Term::Port(x), Term::Port(y)) => compare_ports(x, y),
        (Term::Ref(x), Term::Ref(y)) => compare_refs(x, y),
        (Term::Fun(x), Term::Fun(y)) => compare_funs(x, y, mode),
        (Term::Binary(_) | Term::Bitstring(_), Term::Binary(_) | Term::Bitstring(_)) => {
            compare_bits(bits_of(a), bits_of(b))
        }
        _ => match (type_rank(a), type_rank(b)) {
            (0, 0) => compare_numbers(a, b, mode),
            (x, y) => x.cmp(&y),
        },
    }
}

fn compare_all(a: &[Term], b: &[Term], mode: Mode) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let order = compare(x, y, mode);
        if order.is_ne() {
            return order;
        }
    }
    Ordering::Equal
}

/// An integer as sign and little-endian magnitude; `None` for a float.
fn int_parts(term: &Term) -> Option<(bool, std::borrow::Cow<'_, [u8]>)> {
    match term {
        Term::Int(value) => Some((*value < 0, value.unsigned_abs().to_le_bytes().to_vec().into())),
        Term::BigInt(big) => Some((big.negative, big.magnitude.as_slice().into())),
        _ => None,
    }
}

fn compare_numbers(a: &Term, b: &Term, mode: Mode) -> Ordering {
    match (a, b) {
        (Term::Int(x), Term::Int(y)) => x.cmp(y),
        (Term::Float(x), Term::Float(y)) => match mode {
            // Erlang calls 0.0 and -0.0 equal; NaN cannot arrive from a peer
            // but a hand-built term may hold one, so never fail.
            Mode::Erlang => x.partial_cmp(y).unwrap_or_else(|| x.total_cmp(y)),
            Mode::Exact => x.total_cmp(y),
        },
        (Term::Float(x), _) => match (mode, int_parts(b)) {
            (Mode::Erlang, Some((negative, magnitude))) => cmp_int_float(negative, &magnitude, *x).reverse(),
            _ => Ordering::Greater,
        },
        (_, Term::Float(y)) => match (mode, int_parts(a)) {
            (Mode::Erlang, Some((negative, magnitude))) => cmp_int_float(negative, &magnitude, *y),
            _ => Ordering::Less,
        },
        _ => match (int_parts(a), int_parts(b)) {
            (Some((x_negative, x)), Some((y_negative, y))) => compare_ints(x_negative, &x, y_negative, &y),
            _ => Ordering::Equal,
        },
    }
}

fn compare_ints(x_negative: bool, x: &[u8], y_negative: bool, y: &[u8]) -> Ordering {
    let sign = |negative: bool, magnitude: &[u8]| match (negative, trimmed(magnitude).is_empty()) {
        (_, true) => 0i8,
        (true, false) => -1,
        (false, false) => 1,
    };
    let (x_sign, y_sign) = (sign(x_negative, x), sign(y_negative, y));
    match x_sign.cmp(&y_sign) {
        Ordering::Equal if x_sign < 0 => cmp_magnitudes(x, y).reverse(),
        Ordering::Equal => cmp_magnitudes(x, y),
        unequal => unequal,
    }
}

/// Compares two lists given as elements and an optional improper tail, as
/// chains of cons cells.
fn compare_lists(a: &[Term], a_tail: Option<&Term>, b: &[Term], b_tail: Option<&Term>, mode: Mode) -> Ordering {
    let common = a.len().min(b.len());
    let order = compare_all(&a[..common], &b[..common], mode);
    if order.is_ne() {
        return order;
    }
    match (a.len() > common, b.len() > common) {
        (true, _) => compare_rest(b_tail.unwrap_or(&NIL), &a[common..], a_tail, mode).reverse(),
        (false, true) => compare_rest(a_tail.unwrap_or(&NIL), &b[common..], b_tail, mode),
        (false, false) => match (a_tail, b_tail) {
            (None, None) => Ordering::Equal,
            _ => compare(a_tail.unwrap_or(&NIL), b_tail.unwrap_or(&NIL), mode),
        },
    }
}

/// Compares what is left of one list (`rest`: `[]` or an improper tail) with
/// the non-empty rest of another.
fn compare_rest(rest: &Term, elements: &[Term], tail: Option<&Term>, mode: Mode) -> Ordering {
    match rest {
        Term::List(others) if !others.is_empty() => compare_lists(others, None, elements, tail, mode),
        Term::ImproperList(others, other_tail) if !others.is_empty() => compare_lists(others, Some(other_tail), elements, tail, mode),
        other => type_rank(other).cmp(&NONEMPTY_LIST_RANK),
    }
}

/// Maps compare by size, then by their keys in map key order, then by the
/// values in that key order.
fn compare_maps(a: &[(Term, Term)], b: &[(Term, Term)], mode: Mode) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| {
        let sorted = |pairs: &[(Term, Term)]| {
            let mut order: Vec<usize> = (0..pairs.len()).collect();
            order.sort_unstable_by(|&x, &y| map_key_cmp(&pairs[x].0, &pairs[y].0));
            order
        };
        let (a_order, b_order) = (sorted(a), sorted(b));
        let pairs = || a_order.iter().zip(&b_order).map(|(&x, &y)| (&a[x], &b[y]));
        pairs()
            .map(|(x, y)| map_key_cmp(&x.0, &y.0))
            .chain(pairs().map(|(x, y)| compare(&x.1, &y.1, mode)))
            .find(|order| order.is_ne())
            .unwrap_or(Ordering::Equal)
    })
}

fn compare_pids(a: &Pid, b: &Pid) -> Ordering {
    (a.serial, a.id, a.node, a.creation).cmp(&(b.serial, b.id, b.node, b.creation))
}

fn compare_ports(a: &Port, b: &Port) -> Ordering {
    (a.node, a.creation, a.id).cmp(&(b.node, b.creation, b.id))
}

fn compare_refs(a: &Ref, b: &Ref) -> Ordering {
    (a.node, a.creation)
        .cmp(&(b.node, b.creation))
        .then_with(|| a.padded_ids().iter().rev().cmp(b.padded_ids().iter().rev()))
}

/// Export funs by module, function, arity; local funs by module, index,
/// uniq and environment; local before export. In exact mode funs that are
/// still equal compare by their encodings, which equality looks at.
fn compare_funs(a: &Fun, b: &Fun, mode: Mode) -> Ordering {
    let by_parts = match (fun_parts(a.encoding()), fun_parts(b.encoding())) {
        (Some(FunParts::Export(m1, f1, a1)), Some(FunParts::Export(m2, f2, a2))) => (m1, f1, a1).cmp(&(m2, f2, a2)),
        (Some(FunParts::Local(x)), Some(FunParts::Local(y))) => (x.module, x.old_index, x.old_uniq, x.free.len())
            .cmp(&(y.module, y.old_index, y.old_uniq, y.free.len()))
            .then_with(|| compare_all(&x.free, &y.free, mode)),
        (Some(FunParts::Local(_)), Some(FunParts::Export(..))) => Ordering::Less,
        (Some(FunParts::Export(..)), Some(FunParts::Local(_))) => Ordering::Greater,
        _ => Ordering::Equal,
    };
    match mode {
        Mode::Erlang => by_parts,
        Mode::Exact => by_parts.then_with(|| a.encoding().cmp(b.encoding())),
    }
}

/// A binary or bitstring as its bytes and its length in bits.
fn bits_of(term: &Term) -> (&[u8], usize) {
    match term {
        Term::Binary(bytes) => (bytes, bytes.len() * 8),
        Term::Bitstring(bits) => match bits.bytes.len() {
            0 => (&[], 0),
            len => (&bits.bytes, (len - 1) * 8 + usize::from(bits.bits.min(8))),
        },
        _ => (&[], 0),
    }
}

/// Bit by bit; a bitstring that is a prefix of another sorts first.
fn compare_bits((a, a_bits): (&[u8], usize), (b, b_bits): (&[u8], usize)) -> Ordering {
    let common = a_bits.min(b_bits);
    let whole = common / 8;
    let order = a[..whole].cmp(&b[..whole]);
    if order.is_ne() {
        return order;
    }
    let partial = common % 8;
    if partial != 0 {
        let order = (a[whole] >> (8 - partial)).cmp(&(b[whole] >> (8 - partial)));
        if order.is_ne() {
            return order;
        }
    }
    a_bits.cmp(&b_bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::{Atom, BigInt};
    use bytes::Bytes;
    use std::collections::HashSet;

    fn hash(term: &Term) -> u64 {
        let mut hasher = DefaultHasher::new();
        term.hash(&mut hasher);
        hasher.finish()
    }

    fn int(value: i64) -> Term {
        Term::Int(value)
    }

    #[test]
    fn exact_equality() {
        assert_ne!(int(1), Term::Float(1.0));
        assert_ne!(Term::Float(0.0), Term::Float(-0.0));
        assert_eq!(Term::Float(0.5), Term::Float(0.5));
        let hand_made = Term::BigInt(BigInt { negative: false, magnitude: vec![5, 0] });
        assert_eq!(hand_made, int(5));
        assert_eq!(hash(&hand_made), hash(&int(5)));
        assert_ne!(Term::nil(), Term::tuple(vec![]));
    }

    #[test]
    fn maps_ignore_pair_order() {
        let a = Term::map(vec![(int(1), int(2)), (Term::atom("k"), Term::atom("v"))]);
        let b = Term::map(vec![(Term::atom("k"), Term::atom("v")), (int(1), int(2))]);
        assert_eq!(a, b);
        assert_eq!(hash(&a), hash(&b));
        let c = Term::map(vec![(Term::atom("k"), Term::atom("v")), (int(1), int(3))]);
        assert_ne!(a, c);
        let big_a = Term::map((0..40).map(|i| (int(i), int(i * 2))).collect());
        let big_b = Term::map((0..40).rev().map(|i| (int(i), int(i * 2))).collect());
        assert_eq!(big_a, big_b);
        assert_eq!(hash(&big_a), hash(&big_b));
        assert_eq!(big_a.cmp(&big_b), Ordering::Equal);
    }

    #[test]
    fn type_order() {
        let node = Atom::new("n@h");
        let ascending = vec![
            Term::Float(-1.0e300),
            int(-5),
            Term::Float(1.5),
            Term::from(1u128 << 70),
            Term::atom("a"),
            Term::Ref(Ref::new(node, 1, &[1, 2, 3]).expect("ref")),
            Term::Fun(Fun::export(Atom::new("m"), Atom::new("f"), 1).expect("fun")),
            Term::Port(Port { node, id: 1, creation: 1 }),
            Term::Pid(Pid { node, id: 1, serial: 0, creation: 1 }),
            Term::tuple(vec![]),
            Term::map(vec![]),
            Term::nil(),
            Term::list(vec![int(1)]),
            Term::binary(Bytes::new()),
        ];
        for (i, a) in ascending.iter().enumerate() {
            for (j, b) in ascending.iter().enumerate() {
                assert_eq!(a.cmp(b), i.cmp(&j), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn numbers_compare_by_value_then_integer_first() {
        assert!(int(1) < Term::Float(1.0));
        assert!(Term::Float(1.0) < int(2));
        assert!(Term::Float(0.5) < int(1));
        assert!(Term::Float(-0.0) < Term::Float(0.0));
        assert!(Term::from(9007199254740993i64) > Term::Float(9007199254740992.0));
        assert!(Term::from(-(1i128 << 80)) < int(i64::MIN));
        assert!(Term::from(1i128 << 80) > int(i64::MAX));
        assert!(Term::from(1i128 << 80) > Term::from(1i128 << 79));
        assert!(Term::from(-(1i128 << 80)) < Term::from(-(1i128 << 79)));
        // Erlang's order decides before the tie-break: {1, 2} > {1.0, 1}.
        assert!(Term::tuple(vec![int(1), int(2)]) > Term::tuple(vec![Term::Float(1.0), int(1)]));
        assert!(Term::tuple(vec![int(1), int(1)]) < Term::tuple(vec![Term::Float(1.0), int(1)]));
    }

    #[test]
    fn map_key_order_puts_integers_first() {
        let mut keys = vec![Term::Float(1.0), int(2), Term::atom("a"), int(-1), Term::Float(0.5)];
        keys.sort_by(map_key_cmp);
        assert_eq!(keys, vec![int(-1), int(2), Term::Float(0.5), Term::Float(1.0), Term::atom("a")]);
    }

    #[test]
    fn maps_order() {
        // Erlang: #{1 => a} < #{1.0 => a}, #{a => 1} == #{a => 1.0}.
        let m = |k: Term, v: Term| Term::map(vec![(k, v)]);
        assert!(m(int(1), Term::atom("a")) < m(Term::Float(1.0), Term::atom("a")));
        assert!(m(int(2), Term::atom("a")) < m(Term::Float(1.0), Term::atom("a")));
        assert!(m(Term::atom("a"), Term::Float(1.0)) < m(Term::atom("a"), int(2)));
        assert!(m(Term::atom("z"), int(1)) < Term::map(vec![(int(0), int(0)), (int(1), int(1))]));
    }

    #[test]
    fn lists_compare_as_cons_cells() {
        let l = |items: &[i64]| Term::list(items.iter().map(|&i| int(i)).collect());
        assert!(l(&[1, 2]) < l(&[1, 3]));
        assert!(l(&[1, 2]) < l(&[1, 2, 0]));
        assert!(Term::nil() < l(&[0]));
        let improper = Term::improper_list(vec![int(1)], Term::atom("z"));
        // [1|z] vs [1,2]: z (atom) < [2] (list).
        assert!(improper < l(&[1, 2]));
        // [1|z] vs [1]: z vs [] -> atom < nil.
        assert!(improper < l(&[1]));
        let improper_bin = Term::improper_list(vec![int(1)], Term::binary(vec![1]));
        assert!(improper_bin > l(&[1, 2]));
    }

    #[test]
    fn bitstrings_compare_bitwise() {
        let bits = |bytes: &[u8], n: usize| Term::bitstring(bytes, n).expect("bits");
        assert!(bits(&[0b1000_0000], 1) < Term::binary(vec![0b1000_0000]));
        assert!(Term::binary(vec![0b0100_0000]) < bits(&[0b1000_0000], 1));
        assert!(Term::binary(Bytes::new()) < bits(&[0], 1));
        assert!(Term::binary(vec![1, 2]) < Term::binary(vec![1, 2, 0]));
        let dirty = Term::Bitstring(crate::term::Bitstring { bytes: Bytes::from_static(&[0xFF]), bits: 1 });
        assert_eq!(dirty, bits(&[0x80], 1));
        assert_eq!(hash(&dirty), hash(&bits(&[0x80], 1)));
    }

    #[test]
    fn identifiers_order_like_otp() {
        let (a, b) = (Atom::new("a@h"), Atom::new("b@h"));
        let pid = |node, id, serial, creation| Term::Pid(Pid { node, id, serial, creation });
        assert!(pid(a, 5, 0, 1) < pid(a, 1, 1, 1));
        assert!(pid(b, 1, 0, 1) < pid(a, 5, 0, 1));
        assert!(pid(b, 1, 0, 1) > pid(a, 1, 0, 2));
        let port = |node, id, creation| Term::Port(Port { node, id, creation });
        assert!(port(a, 5, 1) < port(a, 1, 2));
        assert!(port(b, 1, 1) > port(a, 5, 2));
        let reference = |node, creation, ids: &[u32]| Term::Ref(Ref::new(node, creation, ids).expect("ref"));
        assert!(reference(a, 1, &[1, 2, 3]) > reference(a, 1, &[2, 1, 3]));
        assert!(reference(a, 1, &[9, 9, 9]) < reference(a, 1, &[1, 1, 1, 1]));
        assert!(reference(a, 1, &[9, 9, 9]) < reference(a, 2, &[1, 1, 1]));
        assert_eq!(reference(a, 1, &[1, 2]), reference(a, 1, &[1, 2, 0]));
        assert_eq!(hash(&reference(a, 1, &[1, 2])), hash(&reference(a, 1, &[1, 2, 0])));
    }

    #[test]
    fn export_funs_order() {
        let f = |m: &str, name: &str, a: u8| Term::Fun(Fun::export(Atom::new(m), Atom::new(name), a).expect("fun"));
        assert!(f("lists", "sum", 1) > f("lists", "map", 2));
        assert!(f("erlang", "abs", 1) < f("lists", "abs", 1));
        assert!(f("a", "b", 2) > f("a", "b", 1));
    }

    #[test]
    fn ord_agrees_with_eq_and_hash() {
        let terms = vec![
            int(1),
            Term::Float(1.0),
            Term::Float(-0.0),
            Term::Float(0.0),
            Term::tuple(vec![int(1)]),
            Term::tuple(vec![Term::Float(1.0)]),
            Term::map(vec![(Term::atom("a"), int(1))]),
            Term::map(vec![(Term::atom("a"), Term::Float(1.0))]),
            Term::list(vec![Term::Float(0.0)]),
            Term::list(vec![Term::Float(-0.0)]),
        ];
        let unique: HashSet<&Term> = terms.iter().collect();
        assert_eq!(unique.len(), terms.len());
        for a in &terms {
            for b in &terms {
                assert_eq!(a.cmp(b) == Ordering::Equal, a == b, "{a:?} vs {b:?}");
                assert_eq!(a.cmp(b), b.cmp(a).reverse());
            }
        }
    }
}
