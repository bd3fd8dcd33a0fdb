//! Erlang term syntax: `Display` writes it, `FromStr` reads it.
//!
//! The syntax is that of Erlang [data
//! types](https://www.erlang.org/doc/system/data_types.html) as `erl_scan`
//! and `erl_parse:parse_term/1` read them, so the text of any term that has
//! an Erlang literal reads back in `erl` to a term `=:=` to it. Pids, ports,
//! references and local funs have no literal syntax; they are written in
//! ErlDP's own forms, which only `FromStr` reads:
//! `#Pid<'node@host'.Id.Serial.Creation>`, `#Port<'node@host'.Id.Creation>`,
//! `#Ref<'node@host'.Word1.Word2.Word3.Creation>` (one to five words) and
//! `#Fun<hex of the fun's external encoding>`.
//!
//! [`print`](mod@print) writes, [`parse`] reads; the tests here hold each
//! to what the other does.

mod parse;
mod print;

/// Words that `erl_scan` reads as keywords or operators, so atoms with
/// these names must be quoted (`maybe` and `else` only with the `maybe_expr`
/// feature, which is on by default from OTP 27).
const RESERVED_WORDS: &[&str] = &[
    "after", "and", "andalso", "band", "begin", "bnot", "bor", "bsl", "bsr", "bxor", "case",
    "catch", "cond", "div", "else", "end", "fun", "if", "let", "maybe", "not", "of", "or",
    "orelse", "receive", "rem", "try", "when", "xor",
];

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::print::format_float;
    use crate::error::Error;
    use crate::term::decode::MAX_DEPTH;
    use crate::term::{Atom, BigInt, Fun, Pid, Port, Ref, Term};

    fn parse(text: &str) -> Term {
        text.parse()
            .unwrap_or_else(|err| panic!("parsing {text:?}: {err}"))
    }

    fn parse_err(text: &str) -> (usize, String) {
        match text.parse::<Term>() {
            Err(Error::Parse { offset, reason }) => (offset, reason),
            other => panic!("expected a parse error for {text:?}, got {other:?}"),
        }
    }

    fn round_trip(text: &str) {
        let term = parse(text);
        assert_eq!(term.to_string(), text, "display of {term:?}");
        assert_eq!(parse(&term.to_string()), term);
    }

    #[test]
    fn atoms() {
        for text in [
            "ok",
            "a@b",
            "node@host.example",
            "'hello world'",
            "'Caps'",
            "'and'",
            "'maybe'",
            "'else'",
        ] {
            let text = text.replace(".example", "_example");
            round_trip(&text);
        }
        round_trip("'héllo'");
        round_trip("'it\\'s'");
        round_trip("'back\\\\slash'");
        round_trip("'\\n\\t'");
        round_trip("''");
        round_trip("'\\x{1}'");
        assert_eq!(parse("'\\x{3b1}'"), Term::atom("α"));
        assert_eq!(parse("héllo"), Term::atom("héllo"));
        assert_eq!(parse("maybe"), Term::atom("maybe"));
        assert!(parse_err("and").1.contains("reserved"));
        assert!(parse_err("Var").1.contains("variables"));
        assert!(parse_err(&format!("'{}'", "a".repeat(256)))
            .1
            .contains("256 characters"));
        parse(&format!("'{}'", "a".repeat(255)));
    }

    #[test]
    fn integers() {
        round_trip("0");
        round_trip("-1");
        round_trip("9223372036854775807");
        round_trip("-9223372036854775808");
        round_trip("18446744073709551616");
        round_trip("-18446744073709551616");
        assert_eq!(parse("16#FF"), Term::Int(255));
        assert_eq!(parse("-16#ff"), Term::Int(-255));
        assert_eq!(parse("2#1010"), Term::Int(10));
        assert_eq!(parse("36#zz"), Term::Int(1295));
        assert_eq!(parse("16#10000000000000000"), Term::from(1u128 << 64));
        assert_eq!(parse("1_000_000"), Term::Int(1_000_000));
        assert_eq!(parse("- 1"), Term::Int(-1));
        assert_eq!(parse("+7"), Term::Int(7));
        assert_eq!(parse("$a"), Term::Int(97));
        assert_eq!(parse("-$a"), Term::Int(-97));
        assert_eq!(parse("$\\n"), Term::Int(10));
        assert_eq!(parse("$\\x{1F600}"), Term::Int(0x1F600));
        assert_eq!(parse("$ "), Term::Int(32));
        assert_eq!(parse("$\\^a"), Term::Int(1));
        assert_eq!(parse("$\\101"), Term::Int(65));
        assert!(parse_err("37#1").1.contains("base 37"));
        assert!(parse_err("2#2").1.contains("digits of base 2"));
        assert!(parse_err("1__0").1.contains("end of the text"));
        assert!(parse_err("1_").1.contains("end of the text"));
    }

    #[test]
    fn floats() {
        for text in [
            "0.0", "-0.0", "1.5", "0.1", "100.0", "1.0e300", "1.5e-7", "0.0001", "1.0e-5", "1.0e15",
        ] {
            round_trip(text);
        }
        round_trip("123456789012345.0");
        round_trip("1.2345678901234567e19");
        round_trip("5.0e-324");
        round_trip("1.7976931348623157e308");
        round_trip("2.2250738585072014e-308");
        assert_eq!(parse("1.0E10"), Term::Float(1.0e10));
        assert_eq!(parse("1.5e+3"), Term::Float(1500.0));
        assert_eq!(parse("1_0.2_5"), Term::Float(10.25));
        assert!(parse_err("1.0e400").1.contains("out of range"));
        assert_eq!(format_float(-0.0), "-0.0");
        for value in [
            0.1,
            1.0 / 3.0,
            2.0f64.powi(60),
            1e-300,
            123.456,
            6.02214076e23,
        ] {
            assert_eq!(parse(&format_float(value)), Term::Float(value));
        }
    }

    #[test]
    fn strings_and_lists() {
        round_trip("\"abc\"");
        round_trip("[]");
        round_trip("[1,2,3]");
        round_trip("[1,2|c]");
        round_trip("\"a\\nb\\t\\\"q\\\"\"");
        round_trip("\"héllo ☃\"");
        round_trip("[127]");
        round_trip("[0]");
        round_trip("[{a},\"b\"]");
        assert_eq!(parse("\"ab\" \"cd\""), Term::charlist("abcd"));
        assert_eq!(parse("\"\""), Term::nil());
        assert_eq!(
            parse("\"\\x41\\101\\s\\^A\""),
            Term::list(vec![65.into(), 65.into(), 32.into(), 1.into()])
        );
        assert_eq!(parse("[a|[b]]"), parse("[a,b]"));
        assert_eq!(parse("[a|[b|c]]"), parse("[a,b|c]"));
        assert!(parse_err("\"abc").1.contains("not closed"));
        assert!(parse_err("[1,2").1.contains("']'"));
    }

    #[test]
    fn tuples_and_maps() {
        round_trip("{}");
        round_trip("{a,{b,[c]},1.5}");
        round_trip("#{}");
        round_trip("#{a => 1,b => 2}");
        round_trip("#{{x} => #{}}");
        assert_eq!(parse("#{a => 1, a => 2}"), parse("#{a => 2}"));
        assert!(parse_err("#{a 1}").1.contains("=>"));
    }

    #[test]
    fn binaries() {
        round_trip("<<>>");
        round_trip("<<\"abc\">>");
        round_trip("<<\"a\\nb\">>");
        round_trip("<<\"héllo\"/utf8>>");
        round_trip("<<1,2,3>>");
        round_trip("<<255,0>>");
        round_trip("<<1,2,3:5>>");
        round_trip("<<1:1>>");
        assert_eq!(parse("<<\"é\">>"), Term::binary(vec![233]));
        assert_eq!(parse("<<233/utf8>>"), Term::binary("é"));
        assert_eq!(
            parse("<<-1:4>>"),
            Term::bitstring(&[0xF0], 4).expect("bits")
        );
        assert_eq!(parse("<<256>>"), Term::binary(vec![0]));
        assert_eq!(parse("<<1:16>>"), Term::binary(vec![0, 1]));
        assert_eq!(parse("<<\"ab\":16>>"), Term::binary(vec![0, 97, 0, 98]));
        assert_eq!(parse("<<-1:16>>"), Term::binary(vec![255, 255]));
        assert_eq!(parse("<<-256:16>>"), Term::binary(vec![255, 0]));
        assert_eq!(
            parse("<<16#1FFFFFFFFFFFFFFFF:72>>"),
            Term::binary(vec![1, 255, 255, 255, 255, 255, 255, 255, 255])
        );
        assert_eq!(parse("<<$a, \"b\" \"c\">>"), Term::binary("abc"));
        assert_eq!(parse("<<1:0>>"), Term::binary(Bytes::new()));
        assert!(parse_err("<<1:99999999999>>").1.contains("number from 0"));
        assert!(parse_err("<<0:134217728,0:1>>")
            .1
            .contains("larger than 16777216 bytes"));
        assert_eq!(
            parse("<<-2:24,5:16,-1:12,3:4>>"),
            Term::binary(vec![255, 255, 254, 0, 5, 255, 243])
        );
        assert_eq!(parse("<<-300:12,7:3>>"), parse("<<237,39:7>>"));
        assert!(parse_err("<<1.5>>").1.contains("must be an integer"));
        assert!(parse_err("<<a>>").1.contains("integer"));
        assert!(parse_err("<<1/float>>").1.contains("unsupported"));
    }

    #[test]
    fn identifiers() {
        let node = Atom::new("node@host");
        let pid = Term::Pid(Pid {
            node,
            id: 1,
            serial: 2,
            creation: 3,
        });
        assert_eq!(pid.to_string(), "#Pid<'node@host'.1.2.3>");
        assert_eq!(parse("#Pid<'node@host'.1.2.3>"), pid);
        assert_eq!(parse("#Pid<node@host.1.2.3>"), pid);
        let port = Term::Port(Port {
            node,
            id: 1 << 40,
            creation: 3,
        });
        assert_eq!(port.to_string(), "#Port<'node@host'.1099511627776.3>");
        assert_eq!(parse(&port.to_string()), port);
        let reference = Term::Ref(Ref::new(node, 3, &[1, 2, 3, 4, 5]).expect("ref"));
        assert_eq!(reference.to_string(), "#Ref<'node@host'.1.2.3.4.5.3>");
        assert_eq!(parse(&reference.to_string()), reference);
        let short = Term::Ref(Ref::new(node, 3, &[9]).expect("ref"));
        assert_eq!(parse(&short.to_string()), short);
        assert!(parse_err("#Ref<'n@h'.1.2.3.4.5.6.7>")
            .1
            .contains("at most 5"));
        assert!(parse_err("#Ref<'n@h'.1>").1.contains("1 to 5"));
        assert!(parse_err("#Pid<'n@h'.1.2.99999999999>")
            .1
            .contains("number from 0"));
        assert!(parse_err("#Foo<1>").1.contains("#Foo"));
    }

    #[test]
    fn funs() {
        let export = parse("fun lists:sum/1");
        assert_eq!(export.to_string(), "fun lists:sum/1");
        assert_eq!(parse("fun 'a b':'C'/0").to_string(), "fun 'a b':'C'/0");
        let mut encoding = vec![112, 0, 0, 0, 0, 0];
        encoding.extend_from_slice(&[0xAB; 16]);
        encoding.extend_from_slice(&[
            0, 0, 0, 0, 0, 0, 0, 1, 119, 1, b'f', 97, 0, 98, 7, 93, 177, 15,
        ]);
        encoding.extend_from_slice(&[
            88, 119, 3, b'a', b'@', b'h', 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 97, 1,
        ]);
        let size = (encoding.len() - 1) as u32;
        encoding[1..5].copy_from_slice(&size.to_be_bytes());
        let hex: String = encoding.iter().map(|byte| format!("{byte:02X}")).collect();
        let local = parse(&format!("#Fun<{hex}>"));
        assert_eq!(local, Term::Fun(Fun::from_encoding(Bytes::from(encoding))));
        assert_eq!(local.to_string(), format!("#Fun<{hex}>"));
        assert_eq!(parse(&format!("#Fun<{}>", hex.to_lowercase())), local);
        assert!(parse_err("#Fun<0102>").1.contains("valid fun"));
        assert!(parse_err("fun lists:sum/256").1.contains("number from 0"));
    }

    #[test]
    fn precision_bounds_the_text() {
        let short = parse("{ok, [1, 2], #{a => <<\"b\">>}}");
        assert_eq!(format!("{short:.100}"), short.to_string());
        assert_eq!(format!("{short:.5}"), "{ok,[...");
        let text = short.to_string();
        assert_eq!(format!("{short:.len$}", len = text.len()), text);

        let big = Term::binary(vec![b'x'; 20 << 20]);
        assert_eq!(format!("{big:.8}"), "<<\"xxxxx...");
        let bytes = Term::binary(vec![200; 1 << 20]);
        assert_eq!(format!("{bytes:.12}"), "<<200,200,20...");
        let string = Term::charlist(&"y".repeat(1 << 20));
        assert_eq!(format!("{string:.4}"), "\"yyy...");
        let mut mixed = vec![Term::Int(104); 100];
        mixed.push(Term::atom("not_a_char"));
        let list = Term::list(mixed);
        assert!(format!("{list:.200}").starts_with("[104,104,"));
        assert!(format!("{list:.20}").starts_with("\"hhhh"));
        let bits = Term::bitstring(&vec![1; 1 << 20], (8 << 20) - 5).expect("bits");
        assert_eq!(format!("{bits:.9}"), "<<1,1,1,1...");

        // A large integer shows its leading hexadecimal digits.
        let mut magnitude = vec![0x5A; 300_000];
        magnitude.push(0x7F);
        let huge = BigInt::from_magnitude(true, &magnitude).into_term();
        assert_eq!(format!("{huge:.12}"), "-16#7F5A5A5A...");
        let small = BigInt::from_magnitude(false, &[0, 0, 0, 0, 0, 0, 0, 0, 1]).into_term();
        assert_eq!(format!("{small:.100}"), "18446744073709551616");

        // Inside containers, and cut inside a UTF-8 character.
        let nested = Term::tuple(vec![Term::atom("error"), big.clone(), huge]);
        assert_eq!(format!("{nested:.14}"), "{error,<<\"xxxx...");
        let accented = Term::binary("é".repeat(100).into_bytes());
        assert_eq!(format!("{accented:.6}"), "<<\"é...");
    }

    #[test]
    fn document_syntax() {
        assert_eq!(parse("  {a} . "), parse("{a}"));
        assert_eq!(parse("% comment\n[1, % inner\n 2]. % done"), parse("[1,2]"));
        assert_eq!(
            parse_err("{a} b"),
            (4, "expected the end of the text, found 'b'".to_owned())
        );
        assert_eq!(
            parse_err("").1,
            "expected a term, found the end of the text"
        );
        assert!(parse_err("{a,}").1.contains("term"));
    }

    #[test]
    fn deep_nesting_is_bounded() {
        // MAX_DEPTH lists around an empty one are fine; one more is not.
        let ok = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                (
                    ok.parse::<Term>().is_ok(),
                    deep.parse::<Term>().map_err(|err| err.to_string()),
                )
            })
            .expect("thread");
        let (ok, deep) = handle.join().expect("no overflow");
        assert!(ok);
        assert_eq!(
            deep.expect_err("too deep"),
            format!(
                "syntax error at byte {}: terms nest deeper than {MAX_DEPTH} levels",
                MAX_DEPTH
            )
        );
    }
}
