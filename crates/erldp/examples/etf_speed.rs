//! Encode/decode speed of the ETF codec over the term corpus and a few
//! message-shaped terms.
//!
//! ```text
//! cargo run --release -p erldp --example etf_speed [corpus.txt]
//! ```
//!
//! Each term is encoded and decoded repeatedly; the report gives
//! nanoseconds per term (for the corpus, the mean over its terms, each
//! weighted once) and the throughput over all bytes.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use erldp::term::{decode, decode_bytes, encode, encode_into, encoded_size};
use erldp::Term;

/// How long each term is exercised for one measurement.
const PER_TERM: Duration = Duration::from_millis(20);

fn main() {
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus.txt")
        });
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    let corpus: Vec<Term> = text
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('%'))
        .map(|line| line.parse().unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect();

    let messages: Vec<(&str, Term)> = vec![
        ("small int", Term::from(42)),
        ("atom", Term::atom("ok")),
        ("{ok, 42}", "{ok,42}".parse().expect("term")),
        (
            "gen_server call",
            "{'$gen_call',{#Pid<'a@h'.90.0.1>,#Ref<'a@h'.1.2.3.1>},{get,user,<<\"id-123\">>}}"
                .parse()
                .expect("term"),
        ),
        ("map, 10 atom keys", map_of(10)),
        ("map, 100 atom keys", map_of(100)),
        (
            "list of 100 {Int, Float}",
            Term::list(
                (0..100)
                    .map(|i| Term::tuple(vec![Term::from(i), Term::from(i as f64 / 3.0)]))
                    .collect(),
            ),
        ),
        ("1 KiB binary", Term::binary(vec![7u8; 1024])),
        ("64 KiB binary", Term::binary(vec![7u8; 65536])),
        (
            "list of 1000 1 KiB binaries",
            Term::list((0..1000).map(|_| Term::binary(vec![1u8; 1024])).collect()),
        ),
        ("string of 1000 chars", Term::charlist(&"x".repeat(1000))),
    ];

    println!(
        "{:<28} {:>8} {:>10} {:>10} {:>10} {:>12}",
        "term", "bytes", "encode_into", "encode", "decode", "decode_bytes"
    );
    let row = |name: &str, (bytes, into, fresh, decoded, shared): (usize, f64, f64, f64, f64)| {
        println!("{name:<28} {bytes:>8} {into:>10.0} {fresh:>10.0} {decoded:>10.0} {shared:>12.0}");
    };
    for (name, term) in &messages {
        row(name, measure(term));
    }

    // Each corpus term counts once in the mean; the throughput weighs them
    // by size.
    let mut sums = (0usize, 0.0, 0.0, 0.0, 0.0);
    for term in &corpus {
        let (bytes, into, fresh, decoded, shared) = measure(term);
        sums = (
            sums.0 + bytes,
            sums.1 + into,
            sums.2 + fresh,
            sums.3 + decoded,
            sums.4 + shared,
        );
    }
    let count = corpus.len() as f64;
    row(
        &format!("corpus mean ({} terms)", corpus.len()),
        (
            sums.0 / corpus.len(),
            sums.1 / count,
            sums.2 / count,
            sums.3 / count,
            sums.4 / count,
        ),
    );
    println!(
        "corpus throughput: encode_into {:.0} MB/s, decode {:.0} MB/s ({} bytes in all)",
        sums.0 as f64 / sums.1 * 1e3,
        sums.0 as f64 / sums.3 * 1e3,
        sums.0
    );
}

fn map_of(size: usize) -> Term {
    Term::map(
        (0..size)
            .map(|i| (Term::atom(&format!("key_{i}")), Term::from(i)))
            .collect(),
    )
}

/// Encoded size and nanoseconds per encode (into a reused buffer, as the
/// distribution layer does), encode into a fresh vector, decode and
/// zero-copy decode.
fn measure(term: &Term) -> (usize, f64, f64, f64, f64) {
    let encoded = encode(term).expect("encodes");
    let shared = Bytes::from(encoded.clone());
    let mut buffer = Vec::with_capacity(encoded.len());
    let encode_ns = time(|| {
        buffer.clear();
        encode_into(black_box(term), &mut buffer).expect("encodes");
        black_box(&buffer);
    });
    let fresh_ns = time(|| {
        black_box(encode(black_box(term)).expect("encodes"));
    });
    let decode_ns = time(|| {
        black_box(decode(black_box(&encoded)).expect("decodes"));
    });
    let shared_ns = time(|| {
        black_box(decode_bytes(black_box(shared.clone())).expect("decodes"));
    });
    assert_eq!(encoded.len(), 1 + encoded_size(term));
    (encoded.len(), encode_ns, fresh_ns, decode_ns, shared_ns)
}

/// Nanoseconds per call of `f`: the best mean of several rounds of about
/// `PER_TERM` / `ROUNDS` each, so that other load on the machine (which only
/// ever slows a round down) is filtered out.
fn time(mut f: impl FnMut()) -> f64 {
    const ROUNDS: u32 = 5;
    f();
    (0..ROUNDS)
        .map(|_| {
            let mut calls = 0u64;
            let mut batch = 1u64;
            let start = Instant::now();
            while start.elapsed() < PER_TERM / ROUNDS {
                for _ in 0..batch {
                    f();
                }
                calls += batch;
                batch = (batch * 2).min(1 << 14);
            }
            start.elapsed().as_nanos() as f64 / calls as f64
        })
        .fold(f64::INFINITY, f64::min)
}
