//! The ETF decoder, as peers' messages and `binary_to_term` reach it: any
//! bytes give a term or an error. A term that decodes is well formed: it
//! encodes, decodes back to itself and reads back from its text, and its
//! bounded text is cut where it says.
#![no_main]

use erldp::term::{decode, decode_bytes, encode, Decoder};
use erldp::{Atom, Term};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let decoded = decode(data);
    let shared = decode_bytes(bytes::Bytes::copy_from_slice(data));
    assert_eq!(decoded.is_ok(), shared.is_ok());
    if let Some(body) = data.get(1..) {
        let refs = [Atom::new("cached_a"), Atom::new("a_long_cached_atom")];
        if let Ok(term) = Decoder::new(body).with_atom_refs(&refs).term() {
            check(&term);
        }
    }
    if let Ok(term) = decoded {
        assert!(shared.ok().as_ref() == Some(&term));
        check(&term);
    }
});

fn check(term: &Term) {
    let encoded = encode(term).expect("a decoded term encodes");
    assert!(decode(&encoded).ok().as_ref() == Some(term));
    let text = term.to_string();
    let parsed: Term = text.parse().expect("the text of a decoded term parses");
    assert!(&parsed == term);
    let short = format!("{term:.40}");
    assert!(short.len() <= 43, "{short}");
}
