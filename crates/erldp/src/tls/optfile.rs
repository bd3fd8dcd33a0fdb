//! BEAM's `-ssl_dist_optfile`: the file `ssl_dist_sup` reads when a node runs with
//! `-proto_dist inet_tls`.
//!
//! The file holds one Erlang term, `[{server, Opts}, {client, Opts}]`, where each `Opts` is a
//! list of `ssl` options (`ssl_dist_sup:consult/1` evaluates one expression; literal terms
//! are what people mostly write there, and all this parser reads: a function call or a fun,
//! such as `{cacerts, public_key:cacerts_get()}` or `{password, fun() -> ... end}`, is an error
//! that names the option it is in and what to write instead, except for
//! `public_key:pkix_verify_hostname_match_fun(https)` as `customize_hostname_check`'s
//! `match_fun`, which lets host names match wildcards). See the [SSL distribution
//! guide](https://www.erlang.org/doc/apps/ssl/ssl_distribution.html) and `ssl:tls_option()`.
//!
//! The options read are those of [`RoleOptions`]; options that only tune BEAM's own
//! implementation or what it logs (`reuse_sessions`, `secure_renegotiate`, `hibernate_after`,
//! `log_level`, `log_alert`, `ktls`, ...) are accepted and ignored. Options that change what is
//! trusted and that this implementation cannot honour (`verify_fun`, `crl_check`,
//! `partial_chain`, `cacerts` given as DER terms, ...) are errors, so that a file never
//! silently means less than it says, and so is an option of the other role, as for `ssl`.

use std::path::{Path, PathBuf};

use super::{RoleOptions, TlsConfig, TlsVersion, Verify};
use crate::cookie::Secret;
use crate::term::Term;
use crate::{Error, Result};

/// Options that only tune BEAM's implementation of TLS or what it logs, without changing what
/// is accepted.
const IGNORED: &[&str] = &[
    "reuse_sessions",
    "reuse_session",
    "secure_renegotiate",
    "hibernate_after",
    "log_level",
    "ktls",
    "erl_dist",
    "session_tickets",
    "honor_cipher_order",
    "client_renegotiation",
    "middlebox_comp_mode",
    "keep_secrets",
    "padding_check",
    "beast_mitigation",
    "dhfile",
    "log_alert",
    "max_handshake_size",
    "sender_spawn_opts",
    "honor_ecc_order",
    "renegotiate_at",
];

/// Reads an option file from disk. Relative paths inside it are kept as they are (BEAM
/// resolves them against its working directory, and so does this process).
pub(super) fn read(path: &Path) -> Result<TlsConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| Error::io(format!("reading ssl_dist_optfile {}", path.display()), &err))?;
    parse(&text).map_err(|err| match err {
        Error::InvalidArgument(reason) => {
            Error::invalid(format!("ssl_dist_optfile {}: {reason}", path.display()))
        }
        Error::Parse { offset, reason } => Error::invalid(format!(
            "ssl_dist_optfile {}: not an Erlang term: {reason} at byte {offset}",
            path.display()
        )),
        other => other,
    })
}

/// The one function call read: `customize_hostname_check`'s `match_fun` that lets a host
/// name match a certificate's wildcard (what BEAM's documentation gives for that).
const HTTPS_MATCH_FUN: [&str; 6] = [
    "public_key",
    ":",
    "pkix_verify_hostname_match_fun",
    "(",
    "https",
    ")",
];

/// The atom [`HTTPS_MATCH_FUN`] is read as, since the term parser reads no calls.
const HTTPS_MATCH_ATOM: &str = "$https_match_fun";

/// Parses the text of an option file.
pub(super) fn parse(text: &str) -> Result<TlsConfig> {
    let text = &with_https_match_atoms(text);
    let term: Term = text.parse().map_err(|err| match err {
        Error::Parse { offset, .. } => expression_error(text, offset).unwrap_or(err),
        other => other,
    })?;
    let Some(entries) = term.as_list() else {
        return Err(Error::invalid(
            "expected a list [{server, Options}, {client, Options}]",
        ));
    };
    let mut config = TlsConfig {
        server: RoleOptions::default(),
        client: RoleOptions::default(),
    };
    for entry in entries {
        match entry.as_tuple() {
            Some([role, opts]) if role.is_atom("server") => {
                config.server = role_options(opts, "server")?
            }
            Some([role, opts]) if role.is_atom("client") => {
                config.client = role_options(opts, "client")?
            }
            _ => {
                return Err(Error::invalid(format!(
                    "expected {{server, Options}} or {{client, Options}}, found {entry}"
                )))
            }
        }
    }
    Ok(config)
}

fn role_options(opts: &Term, role: &str) -> Result<RoleOptions> {
    let bad = |what: String| Error::invalid(format!("{role} options: {what}"));
    let Some(list) = opts.as_list() else {
        return Err(bad(format!("expected a list of options, found {opts}")));
    };
    let mut out = RoleOptions::default();
    for opt in list {
        let Some([key, value]) = opt.as_tuple() else {
            return Err(bad(format!("expected {{Key, Value}}, found {opt}")));
        };
        let Some(key) = key.as_atom() else {
            return Err(bad(format!("expected an atom as option name, found {key}")));
        };
        let invalid = |expected: &str| bad(format!("{key}: expected {expected}, found {value}"));
        match key.as_str() {
            "certfile" => out.certfile = Some(path(value).ok_or_else(|| invalid("a file name"))?),
            "keyfile" => out.keyfile = Some(path(value).ok_or_else(|| invalid("a file name"))?),
            "cacertfile" => {
                out.cacertfile = Some(path(value).ok_or_else(|| invalid("a file name"))?)
            }
            "password" => {
                out.password = Some(Secret::new(text(value).ok_or_else(|| invalid("a string"))?))
            }
            "verify" => {
                out.verify = Some(match value.as_atom().as_ref().map(|a| a.as_str()) {
                    Some("verify_peer") => Verify::Peer,
                    Some("verify_none") => Verify::None,
                    _ => return Err(invalid("verify_peer or verify_none")),
                })
            }
            "fail_if_no_peer_cert" if role == "server" => {
                out.fail_if_no_peer_cert = Some(boolean(value).ok_or_else(|| invalid("a boolean"))?)
            }
            "depth" => {
                let depth = value
                    .as_i64()
                    .and_then(|d| u8::try_from(d).ok())
                    .ok_or_else(|| invalid("an integer from 0 to 255"))?;
                out.depth = Some(depth);
            }
            "versions" => {
                let versions = value
                    .as_list()
                    .ok_or_else(|| invalid("a list of versions"))?
                    .iter()
                    .map(|v| {
                        v.as_atom()
                            .and_then(|a| TlsVersion::from_erlang(a.as_str()))
                            .ok_or_else(|| {
                                bad(format!(
                                    "versions: {v} is not supported (only 'tlsv1.2' and 'tlsv1.3' are)"
                                ))
                            })
                    })
                    .collect::<Result<Vec<_>>>()?;
                if versions.is_empty() {
                    return Err(invalid("at least one version"));
                }
                out.versions = Some(versions);
            }
            "ciphers" => {
                out.ciphers = Some(ciphers(value).ok_or_else(|| invalid("cipher suites"))?)
            }
            "server_name_indication" if role == "client" => {
                out.server_name_indication = Some(match value {
                    v if v.is_atom("disable") => None,
                    v => Some(text(v).ok_or_else(|| invalid("a host name or disable"))?),
                })
            }
            "customize_hostname_check" if role == "client" => {
                let https = value.as_list().is_some_and(|list| match list {
                    [only] => matches!(only.as_tuple(),
                        Some([key, fun]) if key.is_atom("match_fun") && fun.is_atom(HTTPS_MATCH_ATOM)),
                    _ => false,
                });
                if !https {
                    return Err(invalid(
                        "[{match_fun, public_key:pkix_verify_hostname_match_fun(https)}], the \
                         one host check besides the default that ErlDP implements",
                    ));
                }
                out.match_wildcards = true;
            }
            name if IGNORED.contains(&name) => {}
            "fail_if_no_peer_cert" => {
                return Err(bad(format!(
                    "{key} is a server option (in {{server, Options}}), not a client one"
                )))
            }
            "server_name_indication" | "customize_hostname_check" => {
                return Err(bad(format!(
                    "{key} is a client option (in {{client, Options}}), not a server one"
                )))
            }
            name => {
                return Err(bad(format!(
                    "{name} is not supported by ErlDP's TLS distribution"
                )))
            }
        }
    }
    Ok(out)
}

/// `text` with each [`HTTPS_MATCH_FUN`] call in its code (whitespace allowed between the
/// tokens) replaced by the quoted [`HTTPS_MATCH_ATOM`], padded with spaces to the call's
/// length so that later errors keep their byte offsets.
fn with_https_match_atoms(text: &str) -> String {
    let code = code_mask(text.as_bytes());
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    while let Some(found) = text[at..].find(HTTPS_MATCH_FUN[0]) {
        let start = at + found;
        let after_word = !text[..start].ends_with(identifier);
        match https_match_fun_end(text, start).filter(|_| code[start] && after_word) {
            Some(end) => {
                let atom = format!("'{HTTPS_MATCH_ATOM}'");
                out.push_str(&text[copied..start]);
                out.push_str(&format!("{atom:<width$}", width = end - start));
                copied = end;
                at = end;
            }
            None => at = start + 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Where the [`HTTPS_MATCH_FUN`] call that begins at `start` ends.
fn https_match_fun_end(text: &str, start: usize) -> Option<usize> {
    let mut at = start;
    for token in HTTPS_MATCH_FUN {
        let rest = text[at..].trim_start();
        if !rest.starts_with(token) {
            return None;
        }
        at = text.len() - rest.len() + token.len();
    }
    Some(at)
}

/// The error for a function call or a fun where the term parser stopped at byte `offset`
/// (BEAM evaluates the file, so people write `public_key:cacerts_get()` or `fun() -> ... end`
/// there), naming the option it is in; `None` when the parser stopped at something else.
fn expression_error(text: &str, offset: usize) -> Option<Error> {
    let before = text.get(..offset)?.trim_end();
    let word_start = before
        .char_indices()
        .rev()
        .find(|&(_, c)| !identifier(c))
        .map_or(0, |(at, c)| at + c.len_utf8());
    let word = &before[word_start..];
    let what = if word == "fun" {
        "a fun"
    } else if !word.is_empty() && matches!(text[offset..].chars().next(), Some(':' | '(')) {
        "a function call"
    } else {
        return None;
    };
    let reads = format!(
        "ErlDP reads literal Erlang terms only, not function calls or funs ({what} at byte {offset})"
    );
    Some(Error::invalid(match enclosing_option(text, offset) {
        Some(name) => {
            let instead = match name {
                "password" => "; give the password as a string, {password, \"...\"}",
                "cacerts" => "; name a PEM file of the CAs with {cacertfile, File} instead",
                "customize_hostname_check" | "match_fun" => {
                    "; the one read is {customize_hostname_check, [{match_fun, \
                     public_key:pkix_verify_hostname_match_fun(https)}]}"
                }
                _ => "",
            };
            format!("option {name}: {reads}{instead}")
        }
        None => reads,
    }))
}

/// The name of the innermost `{name, ...` that byte `offset` is in, outside strings, quoted
/// atoms, character literals and comments.
fn enclosing_option(text: &str, offset: usize) -> Option<&str> {
    let code = code_mask(text.as_bytes());
    let mut open = Vec::new();
    for (at, byte) in text.bytes().enumerate().take(offset) {
        match byte {
            b'{' if code[at] => open.push(at),
            b'}' if code[at] => {
                open.pop();
            }
            _ => {}
        }
    }
    open.iter().rev().find_map(|&at| {
        let rest = text[at + 1..].trim_start();
        let end = rest.find(|c: char| !identifier(c))?;
        let name = &rest[..end];
        let starts_lower = name.starts_with(|c: char| c.is_ascii_lowercase());
        (starts_lower && rest[end..].trim_start().starts_with(',')).then_some(name)
    })
}

/// Whether each byte of `text` is code: not in a string, a quoted atom, a character literal
/// (`$c`, `$\c`) or a comment.
fn code_mask(text: &[u8]) -> Vec<bool> {
    let mut code = vec![true; text.len()];
    let mut at = 0;
    while at < text.len() {
        let end = match text[at] {
            b'%' => text[at..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(text.len(), |n| at + n),
            quote @ (b'"' | b'\'') => {
                let mut end = at + 1;
                while end < text.len() && text[end] != quote {
                    end += if text[end] == b'\\' { 2 } else { 1 };
                }
                end + 1
            }
            b'$' if text.get(at + 1) == Some(&b'\\') => at + 3,
            b'$' => at + 2,
            _ => {
                at += 1;
                continue;
            }
        };
        let end = end.min(text.len());
        code[at..end].fill(false);
        at = end;
    }
    code
}

/// Whether `c` may continue an unquoted atom or a variable.
fn identifier(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '@'
}

/// A string as ssl takes one: a charlist or a binary.
fn text(value: &Term) -> Option<String> {
    if let Some(bytes) = value.as_binary() {
        return String::from_utf8(bytes.to_vec()).ok();
    }
    value
        .as_list()?
        .iter()
        .map(|c| char::from_u32(u32::try_from(c.as_i64()?).ok()?))
        .collect()
}

fn path(value: &Term) -> Option<PathBuf> {
    text(value).filter(|p| !p.is_empty()).map(PathBuf::from)
}

fn boolean(value: &Term) -> Option<bool> {
    match value.as_atom()?.as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Cipher suites as ssl accepts them: a list of OpenSSL or RFC names (strings), a list of
/// `#{key_exchange, cipher, mac, prf}` maps, or one string of `:`-separated names.
fn ciphers(value: &Term) -> Option<Vec<String>> {
    if let Some(names) = text(value) {
        return Some(
            names
                .split(':')
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect(),
        );
    }
    value
        .as_list()?
        .iter()
        .map(|suite| text(suite).or_else(|| cipher_map(suite)))
        .collect()
}

/// `#{key_exchange => ecdhe_ecdsa, cipher => aes_256_gcm, mac => aead, prf => sha384}` as the
/// RFC name of the suite (`TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384`); TLS 1.3 suites have
/// `key_exchange => any`.
fn cipher_map(suite: &Term) -> Option<String> {
    let field = |name: &str| {
        suite
            .map_get(&Term::atom(name))
            .and_then(Term::as_atom)
            .map(|a| a.as_str().to_ascii_uppercase())
    };
    let (kex, cipher, prf) = (field("key_exchange")?, field("cipher")?, field("prf")?);
    Some(if kex == "ANY" {
        format!("TLS_{cipher}_{prf}")
    } else {
        format!("TLS_{kex}_WITH_{cipher}_{prf}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_people_put_in_option_files() {
        let config = parse(
            r#"%% comment
            [{server, [{certfile, "/etc/ssl/node.pem"}, {keyfile, <<"/etc/ssl/node.key">>},
                       {cacertfile, "/etc/ssl/ca.pem"}, {verify, verify_peer},
                       {fail_if_no_peer_cert, true}, {secure_renegotiate, true},
                       {log_alert, false}, {max_handshake_size, 262144},
                       {sender_spawn_opts, [{priority, high}]}, {honor_ecc_order, true},
                       {renegotiate_at, 1000},
                       {depth, 2}, {versions, ['tlsv1.2']}]},
             {client, [{certfile, "client.pem"}, {keyfile, "client.key"}, {password, "pw"},
                       {verify, verify_none}, {ciphers, "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"}]}]."#,
        )
        .expect("valid");
        assert_eq!(config.server.certfile, Some("/etc/ssl/node.pem".into()));
        assert_eq!(config.server.keyfile, Some("/etc/ssl/node.key".into()));
        assert_eq!(config.server.verify, Some(Verify::Peer));
        assert_eq!(config.server.fail_if_no_peer_cert, Some(true));
        assert_eq!(config.server.depth, Some(2));
        assert_eq!(config.server.versions, Some(vec![TlsVersion::Tls12]));
        assert_eq!(
            config.client.password.as_ref().map(Secret::reveal),
            Some("pw")
        );
        assert_eq!(config.client.verify, Some(Verify::None));
        assert_eq!(
            config.client.ciphers,
            Some(vec![
                "ECDHE-ECDSA-AES256-GCM-SHA384".to_string(),
                "ECDHE-RSA-AES128-GCM-SHA256".to_string()
            ])
        );
    }

    #[test]
    fn cipher_maps_become_rfc_names() {
        let config = parse(
            "[{client, [{ciphers, [#{key_exchange => ecdhe_rsa, cipher => aes_128_gcm, mac => aead, prf => sha256},
                                   #{key_exchange => any, cipher => aes_256_gcm, mac => aead, prf => sha384}]}]}]",
        )
        .expect("valid");
        assert_eq!(
            config.client.ciphers,
            Some(vec![
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_string(),
                "TLS_AES_256_GCM_SHA384".to_string()
            ])
        );
    }

    #[test]
    fn errors_name_the_option() {
        for (text, expected) in [
            ("{server, []}", "expected a list"),
            ("[{other, []}]", "found {other,[]}"),
            (
                "[{server, [{verify, maybe}]}]",
                "verify: expected verify_peer or verify_none",
            ),
            (
                "[{server, [{verify_fun, {m, f, []}}]}]",
                "verify_fun is not supported",
            ),
            (
                "[{client, [{fail_if_no_peer_cert, true}]}]",
                "client options: fail_if_no_peer_cert is a server option",
            ),
            (
                "[{server, [{server_name_indication, disable}]}]",
                "server options: server_name_indication is a client option",
            ),
            (
                "[{client, [{versions, ['tlsv1.1']}]}]",
                "'tlsv1.1' is not supported",
            ),
            (
                "[{client, [{depth, 256}]}]",
                "depth: expected an integer from 0 to 255",
            ),
            (
                "[{client, [{certfile, 42}]}]",
                "certfile: expected a file name, found 42",
            ),
        ] {
            let err = parse(text).expect_err(text).to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
        assert!(matches!(parse("[{server,"), Err(Error::Parse { .. })));
    }

    #[test]
    fn the_https_match_fun_is_the_one_call_read() {
        let config = parse(
            "[{client, [{customize_hostname_check, [{match_fun,\n \
             public_key : pkix_verify_hostname_match_fun( https )}]}]}]",
        )
        .expect("the https match fun");
        assert!(config.client.match_wildcards);
        assert!(!parse("[{client, []}]").unwrap().client.match_wildcards);
        // Not in a string, and later errors keep their offsets.
        let text = "[{client, [{password, \"public_key:pkix_verify_hostname_match_fun(https)\"}]}]";
        assert_eq!(
            parse(text)
                .unwrap()
                .client
                .password
                .as_ref()
                .map(Secret::reveal),
            Some("public_key:pkix_verify_hostname_match_fun(https)")
        );
        let text = "[{client, [{customize_hostname_check, [{match_fun, \
                    public_key:pkix_verify_hostname_match_fun(https)}]}, {cacerts, x:y()}]}]";
        let offset = text.find(":y").unwrap();
        let err = parse(text).expect_err(text).to_string();
        assert!(err.contains(&format!("at byte {offset}")), "{err}");
        for (text, expected) in [
            (
                "[{server, [{customize_hostname_check, [{match_fun, \
                 public_key:pkix_verify_hostname_match_fun(https)}]}]}]",
                "customize_hostname_check is a client option",
            ),
            (
                "[{client, [{customize_hostname_check, [{fqdn_fun, \
                 public_key:pkix_verify_hostname_match_fun(https)}]}]}]",
                "customize_hostname_check: expected [{match_fun,",
            ),
            (
                "[{client, [{customize_hostname_check, [{match_fun, \
                 my_public_key:pkix_verify_hostname_match_fun(https)}]}]}]",
                "a function call",
            ),
        ] {
            let err = parse(text).expect_err(text).to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn function_calls_and_funs_are_named_with_their_option() {
        for (text, expected) in [
            (
                "[{client, [{cacertfile, \"ca.pem\"}, {cacerts, public_key:cacerts_get()}]}]",
                &[
                    "option cacerts:",
                    "a function call at byte 55",
                    "{cacertfile, File}",
                ][..],
            ),
            (
                "[{client, [{password, fun() -> \"pw\" end}]}]",
                &["option password:", "a fun at byte 25", "as a string"],
            ),
            (
                "%% {x, {y, \"}\"}}\n[{client, [{password, \"p{w\"}, {customize_hostname_check, \
                 [{match_fun, public_key:pkix_verify_hostname_match_fun(http)}]}]}]",
                &["option match_fun:", "function call"],
            ),
            (
                "[{server, [{depth, $}}, {keyfile, \"a{b\"}, {'ver}', x}, \
                 {verify_fun, {fun(_, _, S) -> {valid, S} end, []}}]}]",
                &["option verify_fun:", "a fun"],
            ),
        ] {
            let err = parse(text).expect_err(text);
            assert!(matches!(err, Error::InvalidArgument(_)), "{text}: {err:?}");
            let err = err.to_string();
            assert_mentions(text, &err, expected);
            assert!(err.contains("literal Erlang terms only"), "{err}");
        }
        assert!(matches!(
            parse("[{client, [{verify verify_peer}]}]"),
            Err(Error::Parse { .. })
        ));
    }

    fn assert_mentions(what: &str, text: &str, words: &[&str]) {
        for word in words {
            assert!(text.contains(word), "{what}: {text:?} lacks {word:?}");
        }
    }
}
