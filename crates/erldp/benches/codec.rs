//! Criterion micro-benchmarks of the ETF codec, so that codec regressions show:
//! `cargo bench -p erldp --bench codec` (criterion keeps the previous run under
//! target/criterion and reports the change).
//!
//! The corpus is tests/corpus.txt (the fixed corpus `make bench` times too); the other
//! terms have the shapes of distribution traffic.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use erldp::term::{decode, decode_bytes, encode, encode_into};
use erldp::Term;

fn corpus() -> Vec<Term> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/corpus.txt");
    std::fs::read_to_string(path)
        .expect("tests/corpus.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('%'))
        .map(|line| line.parse().unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect()
}

fn messages() -> Vec<(&'static str, Term)> {
    let parse = |text: &str| -> Term { text.parse().expect("term") };
    vec![
        ("seq message", parse("{seq, 123456, <<0:128>>}")),
        (
            "gen_server call",
            parse("{'$gen_call',{#Pid<'a@h'.90.0.1>,[alias|#Ref<'a@h'.1.2.3.1>]},{get,user,<<\"id-123\">>}}"),
        ),
        (
            "map, 10 atom keys",
            Term::map((0..10).map(|i| (Term::atom(&format!("key_{i}")), Term::from(i))).collect()),
        ),
        (
            "list of 100 {int, float}",
            Term::list((0..100).map(|i| Term::tuple(vec![Term::from(i), Term::from(f64::from(i) / 3.0)])).collect()),
        ),
        ("charlist, 100", Term::charlist(&"x".repeat(100))),
        ("64 KiB binary", Term::binary(vec![7u8; 65536])),
    ]
}

fn bench_corpus(c: &mut Criterion) {
    let terms = corpus();
    let encoded: Vec<Vec<u8>> = terms.iter().map(|t| encode(t).expect("encodes")).collect();
    let mut group = c.benchmark_group("corpus");
    group.throughput(Throughput::Elements(terms.len() as u64));
    group.bench_function("encode", |b| {
        b.iter(|| {
            for term in &terms {
                black_box(encode(term).expect("encodes"));
            }
        })
    });
    group.bench_function("encode_into reused buffer", |b| {
        let mut out = Vec::with_capacity(1 << 16);
        b.iter(|| {
            for term in &terms {
                out.clear();
                encode_into(term, &mut out).expect("encodes");
            }
            black_box(&out);
        })
    });
    group.bench_function("decode", |b| {
        b.iter(|| {
            for bytes in &encoded {
                black_box(decode(bytes).expect("decodes"));
            }
        })
    });
    group.finish();
}

fn bench_messages(c: &mut Criterion) {
    let mut group = c.benchmark_group("message");
    for (name, term) in messages() {
        let bytes = encode(&term).expect("encodes");
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("encode {name}"), |b| {
            b.iter(|| black_box(encode(&term).expect("encodes")))
        });
        group.bench_function(format!("decode {name}"), |b| {
            b.iter(|| black_box(decode(&bytes).expect("decodes")))
        });
        let shared = Bytes::from(bytes.clone());
        group.bench_function(format!("decode_bytes {name}"), |b| {
            b.iter_batched(
                || shared.clone(),
                |s| black_box(decode_bytes(s).expect("decodes")),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_corpus, bench_messages);
criterion_main!(benches);
