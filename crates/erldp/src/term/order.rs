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
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::rc::Rc;
use std::sync::LazyLock;

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
pub fn map_key_cmp(a: &Term, b: &Term) -> Ordering {
    key_cmp(a, b, &mut KeyOrders::new())
}

/// Sorts `order`, indices of the keys `key` gives, in map key order, each
/// map met on the way sorted once for the whole sort (see [`KeyOrders`]).
pub(super) fn sort_map_keys<'k>(order: &mut [u8], key: impl Fn(usize) -> &'k Term) {
    let mut orders = KeyOrders::new();
    order.sort_unstable_by(|&a, &b| key_cmp(key(a.into()), key(b.into()), &mut orders));
}

fn key_cmp(a: &Term, b: &Term, orders: &mut KeyOrders) -> Ordering {
    // The usual keys, without setting up a general comparison.
    match (a, b) {
        (Term::Atom(x), Term::Atom(y)) => x.cmp(y),
        (Term::Int(x), Term::Int(y)) => x.cmp(y),
        _ => compare_with(a, b, Mode::Exact, orders),
    }
}

/// The key order of each map met in one comparison, by where its pairs are:
/// maps are compared in key order, and a map that is a key of another is
/// compared with each of its siblings while they are sorted. Sorting it again
/// each time cost ever more per level than the term grew (maps keyed by maps
/// of maps).
type KeyOrders = HashMap<*const (Term, Term), Rc<[usize]>>;

impl PartialEq for Term {
    fn eq(&self, other: &Term) -> bool {
        // Containers recurse here with a small frame; everything else is
        // compared out of line.
        match (self, other) {
            (Term::Tuple(a), Term::Tuple(b)) | (Term::List(a), Term::List(b)) => all_equal(a, b),
            (Term::ImproperList(a, a_tail), Term::ImproperList(b, b_tail)) => {
                all_equal(a, b) && a_tail == b_tail
            }
            (Term::Map(a), Term::Map(b)) => maps_equal(a, b),
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

#[inline(never)]
fn maps_equal(a: &[(Term, Term)], b: &[(Term, Term)]) -> bool {
    /// Up to this size a linear search per key beats building a hash map.
    const LINEAR_MAX: usize = 16;
    if a.len() != b.len() {
        return false;
    }
    if pairwise(a, LINEAR_MAX) {
        for (key, value) in a {
            let mut found = false;
            for (k, v) in b {
                if k == key {
                    found = v == value;
                    break;
                }
            }
            if !found {
                return false;
            }
        }
        return true;
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
            Term::Map(pairs) => hash_map(pairs, state),
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
        Term::Binary(_) | Term::Bitstring(_) => {
            let (bytes, bits) = bits_of(term);
            state.write_usize(bits);
            state.write(&bytes[..bits / 8]);
            if bits % 8 != 0 {
                state.write_u8(bytes[bits / 8] >> (8 - bits % 8));
            }
        }
        Term::Tuple(_) | Term::List(_) | Term::ImproperList(..) | Term::Map(_) => term.hash(state),
    }
}

#[inline(never)]
fn hash_map<H: Hasher>(pairs: &[(Term, Term)], state: &mut H) {
    state.write_u8(7);
    state.write_usize(pairs.len());
    // Pair order does not take part in equality, so combine the pairs'
    // hashes with an operation that ignores order. Their keys are the
    // process's own: with known ones a peer could make map keys whose hashes
    // collide, and have them compared with each other one by one.
    static PAIR_KEYS: LazyLock<RandomState> = LazyLock::new(RandomState::new);
    let mut combined = 0u64;
    for (key, value) in pairs {
        let mut hasher = PAIR_KEYS.build_hasher();
        key.hash(&mut hasher);
        value.hash(&mut hasher);
        combined = combined.wrapping_add(hasher.finish());
    }
    state.write_u64(combined);
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

/// A comparison still to be made. Comparing nested terms pushes their
/// insides onto a stack on the heap instead of recursing, so no nesting
/// depth can exhaust the thread's stack.
enum Work<'t> {
    Terms(&'t Term, &'t Term, Mode),
    Lists(ListView<'t>, ListView<'t>, Mode),
}

/// A list seen as elements followed by a tail (`None` stands for `[]`).
#[derive(Clone, Copy)]
struct ListView<'t> {
    elements: &'t [Term],
    tail: Option<&'t Term>,
}

impl<'t> ListView<'t> {
    /// With no elements left, a tail that is itself a list (which
    /// `Term::improper_list` never builds, but a hand-made term may hold)
    /// is looked at as that list.
    fn normalized(mut self) -> ListView<'t> {
        while self.elements.is_empty() {
            match self.tail {
                Some(Term::List(elements)) => {
                    self = ListView {
                        elements,
                        tail: None,
                    }
                }
                Some(Term::ImproperList(elements, tail)) => {
                    self = ListView {
                        elements,
                        tail: Some(tail),
                    }
                }
                _ => break,
            }
        }
        self
    }
}

fn compare(a: &Term, b: &Term, mode: Mode) -> Ordering {
    compare_with(a, b, mode, &mut KeyOrders::new())
}

fn compare_with(a: &Term, b: &Term, mode: Mode, orders: &mut KeyOrders) -> Ordering {
    let mut stack = Vec::new();
    let mut next = Work::Terms(a, b, mode);
    loop {
        let order = run(next, &mut stack, orders);
        if order.is_ne() {
            return order;
        }
        match stack.pop() {
            Some(work) => next = work,
            None => return Ordering::Equal,
        }
    }
}

/// Makes one comparison as far as it can be made without descending into
/// nested containers; what remains goes onto `stack`, to be compared (in
/// order) only if this returns `Equal`.
fn run<'t>(work: Work<'t>, stack: &mut Vec<Work<'t>>, orders: &mut KeyOrders) -> Ordering {
    match work {
        Work::Terms(a, b, mode) => compare_node(a, b, mode, stack, orders),
        Work::Lists(x, y, mode) => compare_lists(x, y, mode, stack, orders),
    }
}

fn compare_node<'t>(
    a: &'t Term,
    b: &'t Term,
    mode: Mode,
    stack: &mut Vec<Work<'t>>,
    orders: &mut KeyOrders,
) -> Ordering {
    let view = |elements, tail| ListView { elements, tail };
    match (a, b) {
        (Term::Tuple(x), Term::Tuple(y)) => match x.len().cmp(&y.len()) {
            Ordering::Equal => compare_elements(x, y, mode, stack, None, orders),
            unequal => unequal,
        },
        (Term::List(x), Term::List(y)) => {
            compare_lists(view(x, None), view(y, None), mode, stack, orders)
        }
        (Term::List(x), Term::ImproperList(y, y_tail)) => {
            compare_lists(view(x, None), view(y, Some(y_tail)), mode, stack, orders)
        }
        (Term::ImproperList(x, x_tail), Term::List(y)) => {
            compare_lists(view(x, Some(x_tail)), view(y, None), mode, stack, orders)
        }
        (Term::ImproperList(x, x_tail), Term::ImproperList(y, y_tail)) => compare_lists(
            view(x, Some(x_tail)),
            view(y, Some(y_tail)),
            mode,
            stack,
            orders,
        ),
        (Term::Map(x), Term::Map(y)) => compare_maps(x, y, mode, stack, orders),
        _ => compare_leaf(a, b, mode),
    }
}

/// Whether matching up the keys of `pairs` with another map's (or with each
/// other) is cheaper by comparing every key with every other than by hashing
/// them: for up to `small` keys, none of them a container. For container keys
/// the comparisons do the same a level down, which costs ever more per level
/// than the term grows (keys that are maps of maps, differing only at the
/// bottom); hashing touches each key once per map around it.
pub(super) fn pairwise(pairs: &[(Term, Term)], small: usize) -> bool {
    pairs.len() <= small && !pairs.iter().any(|(key, _)| is_container(key))
}

fn is_container(term: &Term) -> bool {
    matches!(
        term,
        Term::Tuple(_) | Term::List(_) | Term::ImproperList(..) | Term::Map(_)
    )
}

/// Compares elements pairwise (`x` and `y` have the same length), then
/// `then`. Pairs of leaves are compared at once; from the first pair of
/// containers on, the rest is left on the stack.
fn compare_elements<'t>(
    x: &'t [Term],
    y: &'t [Term],
    mode: Mode,
    stack: &mut Vec<Work<'t>>,
    then: Option<Work<'t>>,
    orders: &mut KeyOrders,
) -> Ordering {
    for (index, (p, q)) in x.iter().zip(y).enumerate() {
        if is_container(p) && is_container(q) {
            stack.extend(then);
            stack.extend(
                x[index..]
                    .iter()
                    .zip(&y[index..])
                    .rev()
                    .map(|(p, q)| Work::Terms(p, q, mode)),
            );
            return Ordering::Equal;
        }
        let order = compare_leaf(p, q, mode);
        if order.is_ne() {
            return order;
        }
    }
    match then {
        Some(work) => run(work, stack, orders),
        None => Ordering::Equal,
    }
}

/// Lists compare element by element as chains of cons cells: where one
/// runs out, its tail (`[]` or an improper tail) meets the other's rest.
fn compare_lists<'t>(
    x: ListView<'t>,
    y: ListView<'t>,
    mode: Mode,
    stack: &mut Vec<Work<'t>>,
    orders: &mut KeyOrders,
) -> Ordering {
    let (x, y) = (x.normalized(), y.normalized());
    match (x.elements.is_empty(), y.elements.is_empty()) {
        (true, true) => match (x.tail, y.tail) {
            (None, None) => Ordering::Equal,
            (x_tail, y_tail) => compare_node(
                x_tail.unwrap_or(&NIL),
                y_tail.unwrap_or(&NIL),
                mode,
                stack,
                orders,
            ),
        },
        // `[]` or an improper tail against a non-empty list.
        (true, false) => type_rank(x.tail.unwrap_or(&NIL)).cmp(&NONEMPTY_LIST_RANK),
        (false, true) => NONEMPTY_LIST_RANK.cmp(&type_rank(y.tail.unwrap_or(&NIL))),
        (false, false) => {
            let common = x.elements.len().min(y.elements.len());
            let rest = |view: ListView<'t>| ListView {
                elements: &view.elements[common..],
                tail: view.tail,
            };
            let then = Work::Lists(rest(x), rest(y), mode);
            compare_elements(
                &x.elements[..common],
                &y.elements[..common],
                mode,
                stack,
                Some(then),
                orders,
            )
        }
    }
}

/// Maps compare by size, then by their keys in map key order, then by the
/// values in that key order.
fn compare_maps<'t>(
    a: &'t [(Term, Term)],
    b: &'t [(Term, Term)],
    mode: Mode,
    stack: &mut Vec<Work<'t>>,
    orders: &mut KeyOrders,
) -> Ordering {
    if a.len() != b.len() {
        return a.len().cmp(&b.len());
    }
    let (a_order, b_order) = (key_order(a, orders), key_order(b, orders));
    let keys = a_order
        .iter()
        .zip(b_order.iter())
        .map(|(&i, &j)| (&a[i].0, &b[j].0, Mode::Exact));
    let values = a_order
        .iter()
        .zip(b_order.iter())
        .map(|(&i, &j)| (&a[i].1, &b[j].1, mode));
    let items: Vec<(&Term, &Term, Mode)> = keys.chain(values).collect();
    for (index, &(p, q, item_mode)) in items.iter().enumerate() {
        if is_container(p) && is_container(q) {
            stack.extend(
                items[index..]
                    .iter()
                    .rev()
                    .map(|&(p, q, mode)| Work::Terms(p, q, mode)),
            );
            return Ordering::Equal;
        }
        let order = compare_leaf(p, q, item_mode);
        if order.is_ne() {
            return order;
        }
    }
    Ordering::Equal
}

/// Indices of the pairs, sorted by key in map key order: from `orders` when
/// this comparison sorted them already.
fn key_order(pairs: &[(Term, Term)], orders: &mut KeyOrders) -> Rc<[usize]> {
    if let Some(order) = orders.get(&pairs.as_ptr()) {
        return Rc::clone(order);
    }
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    if pairs.len() > 1 {
        order.sort_unstable_by(|&x, &y| key_cmp(&pairs[x].0, &pairs[y].0, orders));
    }
    let order: Rc<[usize]> = order.into();
    orders.insert(pairs.as_ptr(), Rc::clone(&order));
    order
}

/// Compares two terms of which at most one is a container (and two
/// containers of different types): nothing here descends into containers.
fn compare_leaf(a: &Term, b: &Term, mode: Mode) -> Ordering {
    match (a, b) {
        (Term::Atom(x), Term::Atom(y)) => x.cmp(y),
        (Term::Int(x), Term::Int(y)) => x.cmp(y),
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

/// An integer as sign and little-endian magnitude; `None` for a float.
fn int_parts(term: &Term) -> Option<(bool, std::borrow::Cow<'_, [u8]>)> {
    match term {
        Term::Int(value) => Some((
            *value < 0,
            value.unsigned_abs().to_le_bytes().to_vec().into(),
        )),
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
            (Mode::Erlang, Some((negative, magnitude))) => {
                cmp_int_float(negative, &magnitude, *x).reverse()
            }
            _ => Ordering::Greater,
        },
        (_, Term::Float(y)) => match (mode, int_parts(a)) {
            (Mode::Erlang, Some((negative, magnitude))) => cmp_int_float(negative, &magnitude, *y),
            _ => Ordering::Less,
        },
        _ => match (int_parts(a), int_parts(b)) {
            (Some((x_negative, x)), Some((y_negative, y))) => {
                compare_ints(x_negative, &x, y_negative, &y)
            }
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
        (Some(FunParts::Export(m1, f1, a1)), Some(FunParts::Export(m2, f2, a2))) => {
            (m1, f1, a1).cmp(&(m2, f2, a2))
        }
        (Some(FunParts::Local(x)), Some(FunParts::Local(y))) => {
            (x.module, x.old_index, x.old_uniq, x.free.len())
                .cmp(&(y.module, y.old_index, y.old_uniq, y.free.len()))
                .then_with(|| {
                    let pairs = x.free.iter().zip(&y.free);
                    pairs
                        .map(|(p, q)| compare(p, q, mode))
                        .find(|order| order.is_ne())
                        .unwrap_or(Ordering::Equal)
                })
        }
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
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
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
        let hand_made = Term::BigInt(BigInt {
            negative: false,
            magnitude: vec![5, 0],
        });
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
        // Keys that are containers go by hash: order still does not count,
        // and keys equal but for pair order are the same key.
        let keyed = |keys: Vec<Term>| Term::map(keys.into_iter().map(|k| (k, int(0))).collect());
        let x = keyed(vec![a.clone(), Term::tuple(vec![int(1)]), int(5)]);
        let y = keyed(vec![int(5), b.clone(), Term::tuple(vec![int(1)])]);
        assert_eq!(x, y);
        assert_eq!(hash(&x), hash(&y));
        assert_ne!(x, keyed(vec![int(5), c, Term::tuple(vec![int(1)])]));
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
            Term::Port(Port {
                node,
                id: 1,
                creation: 1,
            }),
            Term::Pid(Pid {
                node,
                id: 1,
                serial: 0,
                creation: 1,
            }),
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
        let mut keys = vec![
            Term::Float(1.0),
            int(2),
            Term::atom("a"),
            int(-1),
            Term::Float(0.5),
        ];
        keys.sort_by(map_key_cmp);
        assert_eq!(
            keys,
            vec![
                int(-1),
                int(2),
                Term::Float(0.5),
                Term::Float(1.0),
                Term::atom("a")
            ]
        );
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
        let dirty = Term::Bitstring(crate::term::Bitstring {
            bytes: Bytes::from_static(&[0xFF]),
            bits: 1,
        });
        assert_eq!(dirty, bits(&[0x80], 1));
        assert_eq!(hash(&dirty), hash(&bits(&[0x80], 1)));
    }

    #[test]
    fn identifiers_order_like_otp() {
        let (a, b) = (Atom::new("a@h"), Atom::new("b@h"));
        let pid = |node, id, serial, creation| {
            Term::Pid(Pid {
                node,
                id,
                serial,
                creation,
            })
        };
        assert!(pid(a, 5, 0, 1) < pid(a, 1, 1, 1));
        assert!(pid(b, 1, 0, 1) < pid(a, 5, 0, 1));
        assert!(pid(b, 1, 0, 1) > pid(a, 1, 0, 2));
        let port = |node, id, creation| Term::Port(Port { node, id, creation });
        assert!(port(a, 5, 1) < port(a, 1, 2));
        assert!(port(b, 1, 1) > port(a, 5, 2));
        let reference =
            |node, creation, ids: &[u32]| Term::Ref(Ref::new(node, creation, ids).expect("ref"));
        assert!(reference(a, 1, &[1, 2, 3]) > reference(a, 1, &[2, 1, 3]));
        assert!(reference(a, 1, &[9, 9, 9]) < reference(a, 1, &[1, 1, 1, 1]));
        assert!(reference(a, 1, &[9, 9, 9]) < reference(a, 2, &[1, 1, 1]));
        assert_eq!(reference(a, 1, &[1, 2]), reference(a, 1, &[1, 2, 0]));
        assert_eq!(
            hash(&reference(a, 1, &[1, 2])),
            hash(&reference(a, 1, &[1, 2, 0]))
        );
    }

    #[test]
    fn export_funs_order() {
        let f = |m: &str, name: &str, a: u8| {
            Term::Fun(Fun::export(Atom::new(m), Atom::new(name), a).expect("fun"))
        };
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
