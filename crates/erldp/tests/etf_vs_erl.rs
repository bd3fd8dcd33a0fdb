//! The codec against the real `erl`: for every term of `tests/corpus.txt`,
//! our encoding must equal OTP's byte for byte, we must decode every form
//! OTP writes, and `erl` must read our text back to the same term. Then
//! pids, ports, references and funs made by a live runtime must survive a
//! decode/encode round trip unchanged.
//!
//! `encode` must equal OTP 25's `term_to_binary/1` (which writes Latin-1
//! atoms as `ATOM_EXT`), and so must the same term written piece by piece
//! with the `Writer`'s headers, as the bindings write their own values;
//! `encode_into`, the distribution's form with UTF-8 atoms, must equal
//! `term_to_binary(T, [{minor_version, 2}])`.

mod common;

use common::{corpus, erl_string, from_hex, run_erl, scratch_dir};
use erldp::term::encode::{MapOrder, Writer};
use erldp::term::{decode, decode_bytes, encode, encode_into};
use erldp::{FunKind, Term};

/// The distribution's form: UTF-8 atoms, with the version byte in front.
fn encode_utf8(term: &Term) -> erldp::Result<Vec<u8>> {
    let mut bytes = vec![131];
    encode_into(term, &mut bytes)?;
    Ok(bytes)
}

/// `term_to_binary/1`'s form written piece by piece: headers, then the
/// elements; small maps in `MapOrder`.
fn encode_in_pieces(term: &Term) -> erldp::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut writer = Writer::new(&mut bytes);
    writer.version();
    write_pieces(term, &mut writer)?;
    Ok(bytes)
}

fn write_pieces(term: &Term, writer: &mut Writer<'_>) -> erldp::Result<()> {
    match term {
        Term::Atom(atom) => writer.atom_text(atom.as_str()),
        Term::Int(value) => {
            writer.int(*value);
            Ok(())
        }
        Term::BigInt(big) => writer.bigint(big.negative, &big.magnitude),
        Term::Float(value) => writer.float(*value),
        Term::Binary(bytes) => writer.binary(bytes),
        Term::Bitstring(bits) => writer.bitstring(
            &bits.bytes,
            (bits.bytes.len() - 1) * 8 + usize::from(bits.bits),
        ),
        Term::Pid(pid) => writer.pid(pid),
        Term::Port(port) => writer.port(port),
        Term::Ref(reference) => writer.reference(reference),
        Term::Fun(fun) => writer.fun(fun),
        Term::Tuple(elements) => {
            writer.tuple_header(elements.len())?;
            elements
                .iter()
                .try_for_each(|element| write_pieces(element, writer))
        }
        Term::List(elements) => {
            let byte = |element: &Term| match element {
                Term::Int(byte @ 0..=255) => Some(*byte as u8),
                _ => None,
            };
            if writer.byte_string(elements, byte) {
                return Ok(());
            }
            writer.list_header(elements.len())?;
            for element in elements {
                write_pieces(element, writer)?;
            }
            writer.nil();
            Ok(())
        }
        Term::ImproperList(elements, tail) => {
            writer.list_header(elements.len())?;
            for element in elements {
                write_pieces(element, writer)?;
            }
            write_pieces(tail, writer)
        }
        Term::Map(pairs) => {
            let order = MapOrder::new(pairs.len(), |index| &pairs[index].0).map_err(|index| {
                erldp::Error::Encode {
                    path: String::new(),
                    reason: format!("duplicate key {}", pairs[index].0),
                }
            })?;
            writer.map_header(pairs.len())?;
            for index in order.iter() {
                write_pieces(&pairs[index].0, writer)?;
                write_pieces(&pairs[index].1, writer)?;
            }
            Ok(())
        }
    }
}

#[test]
fn corpus_matches_erl() {
    let entries = corpus();
    assert!(
        entries.len() >= 150,
        "the corpus should be thorough, found {} terms",
        entries.len()
    );
    let dir = scratch_dir("etf-corpus");
    let display_path = dir.join("display.txt");
    let out_path = dir.join("erl.txt");
    let display: String = entries
        .iter()
        .map(|entry| format!("{}\n", entry.term))
        .collect();
    std::fs::write(&display_path, display).expect("writing display.txt");
    // Our term order, as 1-based corpus positions; erl checks that Erlang
    // never puts a term before its predecessor in it.
    let order_path = dir.join("order.txt");
    let mut sorted: Vec<usize> = (0..entries.len()).collect();
    sorted.sort_by(|&a, &b| entries[a].term.cmp(&entries[b].term));
    let order: Vec<String> = sorted.iter().map(|index| (index + 1).to_string()).collect();
    std::fs::write(&order_path, order.join(" ")).expect("writing order.txt");

    // For each term: its encodings with UTF-8 atoms, default, compressed,
    // old floats (minor 0) and minor 1; then whether erl reads our text
    // back to a term =:= to it. Last, the positions in our order where
    // Erlang's `=<` disagrees.
    let code = format!(
        r#"
        {{ok, Terms}} = file:consult({corpus}),
        {{ok, Display}} = file:read_file({display}),
        Lines = binary:split(Display, <<"\n">>, [global, trim]),
        length(Terms) =:= length(Lines) orelse halt(3),
        Hex = fun(T, Opts) -> binary:encode_hex(term_to_binary(T, Opts)) end,
        ReadsBack = fun(T, Line) ->
            case erl_scan:string(unicode:characters_to_list(Line) ++ ".") of
                {{ok, Tokens, _}} ->
                    case erl_parse:parse_term(Tokens) of
                        {{ok, V}} when V =:= T -> <<"same">>;
                        {{ok, _}} -> <<"different">>;
                        _ -> <<"unparsable">>
                    end;
                _ -> <<"unscannable">>
            end
        end,
        Out = [[Hex(T, [{{minor_version, 2}}]), " ", Hex(T, []), " ", Hex(T, [compressed]), " ",
                Hex(T, [{{minor_version, 0}}]), " ", Hex(T, [{{minor_version, 1}}]), " ", ReadsBack(T, L), "\n"]
               || {{T, L}} <- lists:zip(Terms, Lines)],
        {{ok, OrderText}} = file:read_file({order}),
        Sorted = [lists:nth(binary_to_integer(I), Terms) || I <- binary:split(OrderText, <<" ">>, [global])],
        Misplaced = [integer_to_list(P) || {{P, A, B}} <- lists:zip3(lists:seq(1, length(Sorted) - 1),
                                                                  lists:droplast(Sorted), tl(Sorted)), not (A =< B)],
        ok = file:write_file({out}, [Out, "order", [[" ", P] || P <- Misplaced], "\n"]),
        halt().
        "#,
        corpus = erl_string(&common::corpus_path()),
        display = erl_string(&display_path),
        order = erl_string(&order_path),
        out = erl_string(&out_path),
    );
    run_erl(&code);

    let results = std::fs::read_to_string(&out_path).expect("reading erl's results");
    let mut rows: Vec<&str> = results.lines().collect();
    let misplaced = rows
        .pop()
        .expect("the order check")
        .strip_prefix("order")
        .expect("the order line")
        .trim();
    assert_eq!(
        rows.len(),
        entries.len(),
        "erl read a different number of terms from the corpus"
    );
    let mut failures = Vec::new();
    for (entry, row) in entries.iter().zip(rows) {
        let fields: Vec<&str> = row.split(' ').collect();
        let [utf8, default, compressed, minor0, minor1, reads_back] = fields[..] else {
            panic!("bad result row for line {}: {row}", entry.line)
        };
        let mut fail = |what: &str| {
            failures.push(format!(
                "line {}: {what}\n  {}",
                entry.line,
                shorten(&entry.text)
            ))
        };

        let utf8 = from_hex(utf8);
        let default_bytes = from_hex(default);
        for (form, theirs, encoder) in [
            (
                "term_to_binary/1",
                &default_bytes,
                encode as fn(&Term) -> erldp::Result<Vec<u8>>,
            ),
            (
                "term_to_binary/1, written in pieces",
                &default_bytes,
                encode_in_pieces,
            ),
            ("minor_version 2", &utf8, encode_utf8),
        ] {
            match encoder(&entry.term) {
                Ok(ours) if ours == *theirs => {}
                // OTP writes a map of more than 32 pairs in its internal hash
                // order, which for atom keys differs from one VM run to the
                // next; given the pairs in that order, we must write the same.
                Ok(ours) if has_large_map(&entry.term) && ours.len() == theirs.len() => {
                    let again = decode(theirs).ok().and_then(|as_erl| encoder(&as_erl).ok());
                    if again.as_ref() != Some(theirs) {
                        fail(&format!(
                            "large map in erl's order re-encodes differently ({form})"
                        ));
                    }
                }
                Ok(ours) => fail(&format!(
                    "encoding differs from {form}\n  ours: {}\n  erl:  {}",
                    shorten_bytes(&ours),
                    shorten_bytes(theirs)
                )),
                Err(err) => fail(&format!("encode failed: {err}")),
            }
        }
        for (name, hex) in [
            ("utf8", None),
            ("default", Some(default)),
            ("compressed", Some(compressed)),
            ("minor 0", Some(minor0)),
            ("minor 1", Some(minor1)),
        ] {
            let bytes = hex.map_or_else(|| utf8.clone(), from_hex);
            match decode(&bytes) {
                Ok(term) if term == entry.term => {}
                Ok(term) => fail(&format!(
                    "decoding erl's {name} encoding gives {}",
                    shorten(&term.to_string())
                )),
                Err(err) => fail(&format!("decoding erl's {name} encoding failed: {err}")),
            }
            match decode_bytes(bytes.into()) {
                Ok(term) if term == entry.term => {}
                other => fail(&format!(
                    "decode_bytes of erl's {name} encoding gives {other:?}"
                )),
            }
        }
        if reads_back != "same" {
            fail(&format!(
                "erl reads our text {:?} as {reads_back}",
                shorten(&entry.term.to_string())
            ));
        }
        match entry.term.to_string().parse::<Term>() {
            Ok(term) if term == entry.term => {}
            other => fail(&format!("our text does not parse back: {other:?}")),
        }
    }
    for position in misplaced.split_whitespace() {
        let position: usize = position.parse().expect("a position");
        let (a, b) = (&entries[sorted[position - 1]], &entries[sorted[position]]);
        failures.push(format!(
            "term order: erl puts line {} before line {}\n  {}\n  {}",
            b.line,
            a.line,
            shorten(&a.text),
            shorten(&b.text)
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn identifiers_and_funs_from_a_live_runtime() {
    let dir = scratch_dir("etf-live");
    let out_path = dir.join("erl.txt");
    // self(), a port, references (plain and alias), a closure with free
    // variables, an export, terms holding them, and identifiers from other
    // nodes with the widest fields OTP 25 keeps (a 64-bit port id).
    let code = format!(
        r#"
        Port = open_port({{spawn, "cat"}}, []),
        X = 5, Name = <<"free">>,
        Closure = fun(Y) -> {{X + Y, Name}} end,
        Alias = alias(),
        V4Port = binary_to_term(<<131, 120, 119, 8, "peer@far", 1:32, 2:32, 3:32>>),
        OldPid = binary_to_term(<<131, 103, 100, 0, 8, "peer@far", 7:32, 1:32, 2>>),
        OldRef = binary_to_term(<<131, 114, 0, 3, 100, 0, 8, "peer@far", 1, 1:32, 2:32, 3:32>>),
        Terms = [self(), Port, make_ref(), Alias, Closure, fun lists:sum/1, fun() -> ok end,
                 V4Port, OldPid, OldRef,
                 {{self(), [make_ref()], #{{pid => self(), port => Port}}, [Closure]}}],
        Out = [[binary:encode_hex(term_to_binary(T, [{{minor_version, 2}}])), " ",
                binary:encode_hex(term_to_binary(T)), "\n"] || T <- Terms],
        ok = file:write_file({out}, Out),
        port_close(Port),
        halt().
        "#,
        out = erl_string(&out_path),
    );
    run_erl(&code);
    let results = std::fs::read_to_string(&out_path).expect("reading erl's results");
    let mut kinds = Vec::new();
    for row in results.lines() {
        let (utf8, default) = row.split_once(' ').expect("two encodings");
        let (utf8, default) = (from_hex(utf8), from_hex(default));
        let term = decode(&utf8).unwrap_or_else(|err| panic!("decoding {row}: {err}"));
        assert_eq!(encode_utf8(&term).expect("re-encodes"), utf8, "{term}");
        assert_eq!(decode_bytes(utf8.clone().into()).expect("decodes"), term);
        let text = term.to_string();
        assert_eq!(
            text.parse::<Term>()
                .unwrap_or_else(|err| panic!("parsing {text}: {err}")),
            term,
            "{text}"
        );
        let from_default =
            decode(&default).unwrap_or_else(|err| panic!("decoding default {row}: {err}"));
        // Closures are kept as their encodings, which differ in the atom tags.
        if !contains_local_fun(&term) {
            assert_eq!(from_default, term);
            assert_eq!(
                encode(&term).expect("encodes"),
                default,
                "term_to_binary/1 form of {term}"
            );
        }
        kinds.push(match &term {
            Term::Pid(_) => "pid",
            Term::Port(_) => "port",
            Term::Ref(_) => "ref",
            Term::Fun(fun) if fun.kind() == FunKind::Export => "export",
            Term::Fun(_) => "fun",
            Term::Tuple(_) => "tuple",
            _ => "other",
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        kinds,
        ["pid", "port", "ref", "ref", "fun", "export", "fun", "port", "pid", "ref", "tuple"],
        "erl produced unexpected terms"
    );
}

fn has_large_map(term: &Term) -> bool {
    match term {
        Term::Map(pairs) => {
            pairs.len() > 32
                || pairs
                    .iter()
                    .any(|(k, v)| has_large_map(k) || has_large_map(v))
        }
        Term::Tuple(items) | Term::List(items) => items.iter().any(has_large_map),
        Term::ImproperList(items, tail) => items.iter().any(has_large_map) || has_large_map(tail),
        _ => false,
    }
}

fn contains_local_fun(term: &Term) -> bool {
    match term {
        Term::Fun(fun) => fun.kind() == FunKind::Local,
        Term::Tuple(items) | Term::List(items) => items.iter().any(contains_local_fun),
        Term::ImproperList(items, tail) => {
            items.iter().any(contains_local_fun) || contains_local_fun(tail)
        }
        Term::Map(pairs) => pairs
            .iter()
            .any(|(k, v)| contains_local_fun(k) || contains_local_fun(v)),
        _ => false,
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}... ({} bytes)", &text[..cut], text.len()),
        None => text.to_owned(),
    }
}

fn shorten_bytes(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes.iter().take(80).map(u8::to_string).collect();
    format!(
        "[{}{}] ({} bytes)",
        shown.join(","),
        if bytes.len() > 80 { ",..." } else { "" },
        bytes.len()
    )
}
