//! Hostile input: the decoder and the parser must turn every input into a
//! term or an error, never a panic, a stack overflow or a huge allocation.
//! This is a plain test (no cargo-fuzz needed): truncated and randomly
//! mutated encodings of the whole corpus, from a fixed-seed generator so
//! that a failure can be replayed.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write as _;

use erldp::term::decode::{DEFAULT_MAX_TERMS, MAX_DEPTH};
use erldp::term::{decode, decode_bytes, encode, encode_into, encoded_size, Decoder, Limits};
use erldp::{Atom, Error, Term};

/// Counts the bytes each thread allocates, to show that lying lengths are
/// rejected before anything is reserved for them.
struct CountingAllocator;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|total| total.set(total.get() + layout.size()));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Bytes allocated by this thread while running `f`.
fn allocated_by<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATED.with(Cell::get);
    let value = f();
    (value, ALLOCATED.with(Cell::get) - before)
}

/// SplitMix64: small, fast, and the same sequence on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        // Favour the values at the edges of lengths and tags.
        const SPECIAL: [u8; 12] = [0, 1, 0x7F, 0x80, 0xFF, 0xFE, 97, 104, 106, 108, 116, 119];
        if self.below(4) == 0 {
            SPECIAL[self.below(SPECIAL.len())]
        } else {
            self.next() as u8
        }
    }
}

/// Changes `bytes` in one of several ways a broken or malicious peer might.
fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        if bytes.is_empty() {
            bytes.push(rng.byte());
            continue;
        }
        let at = rng.below(bytes.len());
        match rng.below(7) {
            0 | 1 => bytes[at] = rng.byte(),
            2 => bytes[at] ^= 1 << rng.below(8),
            3 => bytes.insert(at, rng.byte()),
            4 => {
                bytes.remove(at);
            }
            5 => {
                // A length field that claims far more than there is.
                let claim: [u8; 4] = match rng.below(3) {
                    0 => u32::MAX.to_be_bytes(),
                    1 => (bytes.len() as u32 + 1).to_be_bytes(),
                    _ => (rng.next() as u32).to_be_bytes(),
                };
                for (offset, byte) in claim.iter().enumerate() {
                    if let Some(slot) = bytes.get_mut(at + offset) {
                        *slot = *byte;
                    }
                }
            }
            _ => {
                let end = (at + 1 + rng.below(16)).min(bytes.len());
                let chunk: Vec<u8> = bytes[at..end].to_vec();
                bytes.splice(at..at, chunk);
            }
        }
    }
}

fn compressed(encoding: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&encoding[1..]).expect("compressing");
    let mut out = vec![131, 80];
    out.extend_from_slice(&((encoding.len() - 1) as u32).to_be_bytes());
    out.extend_from_slice(&encoder.finish().expect("compressing"));
    out
}

/// Feeds `bytes` to every decoding entry point. Whatever decodes must be a
/// well-formed term: it encodes, decodes back to itself, and reads back
/// from its text.
fn check_input(bytes: &[u8], atom_refs: &[Atom]) -> bool {
    let decoded = decode(bytes);
    let shared = decode_bytes(bytes.to_vec().into());
    assert_eq!(
        decoded.is_ok(),
        shared.is_ok(),
        "decode and decode_bytes disagree on {bytes:?}"
    );
    if let Some(body) = bytes.get(1..) {
        let mut decoder = Decoder::new(body).with_atom_refs(atom_refs);
        if let Ok(term) = decoder.term() {
            assert_well_formed(&term, bytes);
        }
    }
    match decoded {
        Ok(term) => {
            assert_eq!(shared.ok().as_ref(), Some(&term));
            assert_well_formed(&term, bytes);
            true
        }
        Err(Error::Decode { offset, .. }) => {
            assert!(
                offset <= bytes.len(),
                "offset {offset} beyond {} bytes of input",
                bytes.len()
            );
            false
        }
        Err(other) => panic!("decode gave a non-decode error {other:?} for {bytes:?}"),
    }
}

fn assert_well_formed(term: &Term, input: &[u8]) {
    let encoded =
        encode(term).unwrap_or_else(|err| panic!("{term:?} from {input:?} does not encode: {err}"));
    assert_eq!(decode(&encoded).as_ref().ok(), Some(term), "{input:?}");
    let mut dist = Vec::new();
    encode_into(term, &mut dist)
        .unwrap_or_else(|err| panic!("{term:?} does not encode_into: {err}"));
    assert_eq!(dist.len(), encoded_size(term));
    let text = term.to_string();
    match text.parse::<Term>() {
        Ok(parsed) => assert_eq!(&parsed, term, "text {text}"),
        Err(err) => panic!("text {text} of {term:?} does not parse: {err}"),
    }
}

#[test]
fn truncated_and_mutated_encodings_never_panic() {
    let atom_refs = [Atom::new("cached_a"), Atom::new("cached_b")];
    let mut rng = Rng(0x5EED_E7F0_0D15_EA5E);
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for entry in common::corpus() {
        let encoding = encode(&entry.term).expect("corpus encodes");
        inputs.push(compressed(&encoding));
        inputs.push(encoding);
    }
    // Funs, old tags and cache references are not in the text corpus.
    let fun: Vec<u8> = vec![
        131, 112, 0, 0, 0, 69, 0, 235, 182, 33, 238, 35, 197, 75, 118, 66, 65, 93, 119, 63, 41,
        174, 24, 0, 0, 0, 0, 0, 0, 0, 1, 119, 1, 102, 97, 0, 98, 7, 93, 177, 15, 88, 119, 13, 110,
        111, 110, 111, 100, 101, 64, 110, 111, 104, 111, 115, 116, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0,
        0, 97, 1,
    ];
    inputs.push(fun);
    inputs.push(vec![131, 104, 3, 82, 0, 82, 1, 113, 82, 0, 82, 1, 97, 2]);
    inputs.push(vec![
        131, 103, 100, 0, 3, b'a', b'@', b'h', 0, 0, 0, 1, 0, 0, 0, 2, 3,
    ]);
    inputs.push(vec![
        131, 114, 0, 2, 115, 3, b'a', b'@', b'h', 2, 0, 0, 0, 5, 0, 0, 0, 6,
    ]);
    let mut old_float = vec![131, 99];
    old_float.extend_from_slice(b"1.50000000000000000000e+00");
    old_float.resize(33, 0);
    inputs.push(old_float);

    let (mut cases, mut decoded) = (0usize, 0usize);
    for input in &inputs {
        // Every prefix of short inputs, a sample of long ones.
        let cuts: Vec<usize> = if input.len() <= 300 {
            (0..input.len()).collect()
        } else {
            (0..64).map(|_| rng.below(input.len())).collect()
        };
        for cut in cuts {
            assert!(!check_input(&input[..cut], &atom_refs) || cut == input.len());
            cases += 1;
        }
        let mutants = if input.len() <= 4096 { 150 } else { 20 };
        for _ in 0..mutants {
            let mut mutant = input.clone();
            mutate(&mut rng, &mut mutant);
            decoded += usize::from(check_input(&mutant, &atom_refs));
            cases += 1;
        }
    }
    for _ in 0..5000 {
        let len = rng.below(40);
        let mut noise = vec![131];
        noise.extend((0..len).map(|_| rng.byte()));
        decoded += usize::from(check_input(&noise, &atom_refs));
        cases += 1;
    }
    println!("{cases} cases, {decoded} decoded");
    assert!(cases > 50_000, "only {cases} cases");
    assert!(
        decoded > 1000,
        "mutations should often still decode, only {decoded} of {cases} did"
    );
}

#[test]
fn random_and_mutated_text_never_panics() {
    const PIECES: &[&str] = &[
        "[",
        "]",
        "{",
        "}",
        "#{",
        "=>",
        "<<",
        ">>",
        ",",
        "|",
        ".",
        ":",
        "/",
        "'",
        "\"",
        "$",
        "\\",
        "\\x{",
        "#",
        "-",
        "+",
        "_",
        "e",
        "E",
        "16#",
        "0",
        "1",
        "9",
        "255",
        "1.0",
        "a",
        "ok",
        "fun",
        "utf8",
        "#Pid<",
        "#Ref<",
        "#Port<",
        "#Fun<",
        ">",
        " ",
        "\n",
        "%",
        "é",
        "日",
        "😀",
        "\u{0}",
        "and",
        "Var",
        "@",
        "1e",
        "99999999999999999999",
    ];
    let mut rng = Rng(0x7E47_0000_5EED);
    let corpus: Vec<String> = common::corpus()
        .into_iter()
        .map(|entry| entry.text)
        .collect();
    let mut parsed = 0usize;
    let mut check = |text: &str| {
        if let Ok(term) = text.parse::<Term>() {
            parsed += 1;
            let encoded = encode(&term)
                .unwrap_or_else(|err| panic!("{text:?} parses to an unencodable term: {err}"));
            assert_eq!(decode(&encoded).as_ref().ok(), Some(&term), "{text:?}");
            assert_eq!(
                term.to_string().parse::<Term>().as_ref().ok(),
                Some(&term),
                "{text:?}"
            );
        }
    };
    for _ in 0..20_000 {
        let pieces = 1 + rng.below(12);
        let text: String = (0..pieces)
            .map(|_| PIECES[rng.below(PIECES.len())])
            .collect();
        check(&text);
    }
    for _ in 0..20_000 {
        let line = &corpus[rng.below(corpus.len())];
        let mut chars: Vec<char> = line.chars().take(2000).collect();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(chars.len() + 1);
            match rng.below(3) {
                0 => chars.truncate(at),
                1 => {
                    let piece = PIECES[rng.below(PIECES.len())];
                    chars.splice(at..at, piece.chars());
                }
                _ => {
                    if at < chars.len() {
                        chars.remove(at);
                    }
                }
            }
        }
        check(&chars.into_iter().collect::<String>());
    }
    println!("{parsed} texts parsed");
    assert!(parsed > 1000, "only {parsed} texts parsed");
}

/// Asserts that `error` is a decode error at `offset` whose reason mentions `words`.
fn assert_decode_error(error: Option<Error>, offset: usize, words: &str) {
    let Some(Error::Decode { offset: at, reason }) = error else {
        panic!("not a decode error: {error:?}")
    };
    assert_eq!(at, offset, "{reason}");
    assert!(reason.contains(words), "{reason}");
}

#[test]
fn lying_lengths_fail_before_allocating() {
    // LIST_EXT claiming 2^32-1 elements: the five bytes of tag and length,
    // as a term body and as a whole encoding with one more byte.
    let body = [108, 255, 255, 255, 255];
    let (error, bytes) = allocated_by(|| Decoder::new(&body).term().err());
    assert_decode_error(error, 5, "4294967295 elements but only 0 bytes are left");
    assert!(bytes < 1024, "allocated {bytes} bytes for a 5-byte input");
    let input = [131, 108, 255, 255, 255, 255, 106];
    let (error, bytes) = allocated_by(|| decode(&input).err());
    assert_decode_error(error, 6, "4294967295 elements");
    assert!(bytes < 1024, "allocated {bytes} bytes for a 7-byte input");

    for input in [
        &[131, 105, 255, 255, 255, 255, 97][..],
        &[131, 116, 127, 255, 255, 255, 97, 1],
        &[131, 109, 255, 255, 255, 255, 1, 2, 3],
        &[131, 111, 255, 255, 255, 255, 0, 1],
        &[131, 107, 255, 255, 1],
        &[131, 112, 255, 255, 255, 255, 0],
        &[131, 90, 255, 255, 119, 1, b'a'],
    ] {
        let (error, bytes) = allocated_by(|| decode(input).err());
        assert!(error.is_some(), "{input:?}");
        assert!(bytes < 1024, "allocated {bytes} bytes for {input:?}");
    }
}

/// Issue 13, item 5: lists nested one in the next, each claiming as many
/// elements as there are bytes left. Each count alone fits the input, so
/// each used to reserve its 56-byte terms: 64 levels of a 1 MiB input asked
/// for 3.5 GiB. Together they cannot fit, and nothing beyond what one level
/// could really hold is reserved.
#[test]
fn nested_counts_cannot_reserve_more_than_the_input_holds() {
    let len = 1 << 20;
    let mut input = vec![131];
    for level in 0..64 {
        input.push(108);
        input.extend_from_slice(&((len - 5 * level - 8) as u32).to_be_bytes());
    }
    input.resize(len, 106);
    let (error, bytes) = allocated_by(|| decode(&input).err());
    assert_decode_error(error, 11, "the containers around it still expect");
    let term = std::mem::size_of::<Term>();
    assert!(
        bytes <= term * len + 4096,
        "allocated {bytes} bytes for a {len}-byte input"
    );
}

/// Issue 13, item 5: a term of more elements than `max_terms` is refused
/// when the container that would pass the limit opens, before anything is
/// reserved for it: 15 MiB of `[]`s used to become 840 MiB of terms.
#[test]
fn max_terms_bounds_the_whole_term() {
    let nils = |count: usize| {
        let mut input = vec![131, 108];
        input.extend_from_slice(&(count as u32).to_be_bytes());
        input.resize(6 + count, 106);
        input.push(106);
        input
    };
    let input = nils(15 << 20);
    let (error, bytes) = allocated_by(|| decode(&input).err());
    let reason = error.expect("refused").to_string();
    assert!(
        reason.contains(&format!("limit of {DEFAULT_MAX_TERMS} elements")),
        "{reason}"
    );
    assert!(bytes < 1024, "allocated {bytes} bytes");

    // The count runs over every container, nested ones and strings too.
    let limits = Limits {
        max_terms: 6,
        ..Limits::default()
    };
    let within = encode(&"{[1, 2], \"ab\"}".parse::<Term>().expect("term")).expect("encodes");
    let decode_within =
        |bytes: &[u8], limits: Limits| Decoder::new(&bytes[1..]).with_limits(limits).term();
    decode_within(&within, limits).expect("six elements");
    let over = Limits {
        max_terms: 5,
        ..limits
    };
    let reason = decode_within(&within, over).expect_err("five").to_string();
    assert!(reason.contains("string of 2 elements"), "{reason}");

    // So may the size a compressed term claims.
    let packed = compressed(&encode(&Term::binary(vec![0u8; 5000])).expect("encodes"));
    let small = Limits {
        max_inflated_size: 4096,
        ..Limits::default()
    };
    let reason = Decoder::new(&packed)
        .with_limits(small)
        .versioned_term()
        .expect_err("5005 bytes inflated")
        .to_string();
    assert!(reason.contains("claims 5005 bytes"), "{reason}");

    // max_depth may be lowered.
    let shallow = Limits {
        max_depth: 2,
        ..Limits::default()
    };
    let deep = encode(&"[[[]]]".parse::<Term>().expect("term")).expect("encodes");
    decode_within(&deep, shallow).expect("two levels");
    let deeper = encode(&"[[[a]]]".parse::<Term>().expect("term")).expect("encodes");
    let reason = decode_within(&deeper, shallow)
        .expect_err("three")
        .to_string();
    assert!(reason.contains("deeper than 2 levels"), "{reason}");
}

#[test]
fn compression_bombs_are_refused() {
    // A claim no deflate stream of this length could honour.
    let mut bomb = vec![131, 80, 0x40, 0, 0, 0];
    bomb.extend_from_slice(&[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    let (error, bytes) = allocated_by(|| decode(&bomb).err());
    assert!(error
        .expect("refused")
        .to_string()
        .contains("claims 1073741824 bytes"));
    assert!(bytes < 1024, "allocated {bytes} bytes");
    // A real 1:1000 stream is fine, and claiming one byte less is not.
    let mut body = vec![109, 0, 1, 0x86, 0xA0];
    body.resize(100_005, 0);
    let mut encoding = vec![131];
    encoding.extend_from_slice(&body);
    let packed = compressed(&encoding);
    assert!(packed.len() < 1000);
    assert_eq!(
        decode(&packed).expect("inflates"),
        Term::binary(vec![0u8; 100_000])
    );
    let mut short_claim = packed.clone();
    short_claim[2..6].copy_from_slice(&(100_004u32).to_be_bytes());
    assert!(decode(&short_claim).is_err());
}

/// A term nested `depth` containers deep, cycling through every kind of
/// container: list element, improper tail (never a list, which would merge
/// into its parent), tuple element, map value, map key.
fn nested(depth: usize) -> Vec<u8> {
    let mut open = Vec::new();
    let mut close = Vec::new();
    for level in 0..depth {
        let (head, tail): (&[u8], &[u8]) = match level % 5 {
            0 => (&[108, 0, 0, 0, 1], &[106]),
            1 => (&[108, 0, 0, 0, 1, 97, 5], &[]),
            2 => (&[104, 2, 97, 1], &[]),
            3 => (&[116, 0, 0, 0, 1, 97, 7], &[]),
            _ => (&[116, 0, 0, 0, 1], &[97, 0]),
        };
        open.extend_from_slice(head);
        close.push(tail);
    }
    let mut bytes = vec![131];
    bytes.extend_from_slice(&open);
    bytes.extend_from_slice(&[109, 0, 0, 0, 0]);
    for tail in close.iter().rev() {
        bytes.extend_from_slice(tail);
    }
    bytes
}

#[test]
fn deepest_terms_fit_a_two_mebibyte_stack() {
    let deepest = nested(MAX_DEPTH);
    let too_deep = nested(MAX_DEPTH + 1);
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let term = decode(&deepest).expect("MAX_DEPTH levels decode");
            let mut out = Vec::new();
            encode_into(&term, &mut out).expect("encodes");
            assert_eq!(out, deepest[1..]);
            assert_eq!(encoded_size(&term), out.len());
            let text = term.to_string();
            let parsed: Term = text.parse().expect("parses");
            assert!(parsed == term);
            assert!(parsed.cmp(&term).is_eq());
            let copy = term.clone();
            let (mut a, mut b) = (DefaultHasher::new(), DefaultHasher::new());
            term.hash(&mut a);
            copy.hash(&mut b);
            assert_eq!(a.finish(), b.finish());
            let packed = compressed(&deepest);
            assert!(decode(&packed).expect("compressed decodes") == term);
            let err = decode(&too_deep).expect_err("one level more fails");
            assert!(
                err.to_string()
                    .contains(&format!("deeper than {MAX_DEPTH}")),
                "{err}"
            );
            // The innermost `[]` is not a container, so this opens MAX_DEPTH + 1.
            let text_too_deep =
                format!("{}{}", "[".repeat(MAX_DEPTH + 2), "]".repeat(MAX_DEPTH + 2));
            assert!(text_too_deep.parse::<Term>().is_err());
        });
    worker
        .expect("spawning")
        .join()
        .expect("no stack overflow at MAX_DEPTH");
}
