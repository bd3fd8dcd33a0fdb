//! Erlang term text (`Term::from_str`, `erldp_term_parse` in C): any text
//! gives a term or an error, and a term's own text reads back to it.
#![no_main]

use erldp::Term;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(term) = text.parse::<Term>() {
        let again: Term = term.to_string().parse().expect("printed text parses");
        assert!(again == term);
        if let Ok(encoded) = erldp::term::encode(&term) {
            assert!(erldp::term::decode(&encoded).ok().as_ref() == Some(&term));
        }
    }
});
