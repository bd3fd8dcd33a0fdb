//! The process-wide limit on atoms that peers and parsed text add to the
//! atom table (`set_max_peer_atoms`), alone in its own test process: it is
//! the process's table.

use erldp::term::{decode, set_max_peer_atoms, MAX_PEER_ATOMS};
use erldp::{Atom, Term};

fn long_atom(i: usize) -> Vec<u8> {
    let text = format!("a_long_atom_from_a_peer_{i}");
    let mut etf = vec![131, 119, text.len() as u8];
    etf.extend_from_slice(text.as_bytes());
    etf
}

#[test]
fn peers_add_long_atoms_up_to_the_process_limit() {
    let (_, added) = Atom::table_size();
    set_max_peer_atoms(added + 3);
    for i in 0..3 {
        decode(&long_atom(i)).expect("within the limit");
    }
    let err = decode(&long_atom(3)).expect_err("past the limit");
    assert!(err.to_string().contains("set_max_peer_atoms"), "{err}");
    // Short atoms and atoms the table holds are not counted.
    assert_eq!(
        decode(&[131, 119, 2, b'o', b'k']).expect("short"),
        Term::atom("ok")
    );
    decode(&long_atom(0)).expect("already in the table");
    Atom::new("a_long_atom_from_a_peer_3");
    decode(&long_atom(3)).expect("made by the program since");
    assert!(
        "a_long_atom_from_text_too".parse::<Term>().is_err(),
        "text counts as a peer"
    );
    set_max_peer_atoms(MAX_PEER_ATOMS);
    decode(&long_atom(4)).expect("the default again");
}
