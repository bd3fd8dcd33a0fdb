//! Requests our node makes and the answers it reads: `erpc` calls,
//! `gen_server` calls and casts, `net_adm:ping`, and the replies to calls
//! that reach us.
//!
//! An rpc is a
//! [`SPAWN_REQUEST`](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#SPAWN_REQUEST)
//! for `erpc:execute_call(Ref, M, F, A)` with the `monitor` option, exactly
//! as `erpc:call/5` sends it; the worker's exit reason carries the result,
//! or the exception's class, reason and stack trace. A `gen_server` call
//! monitors the server and sends `{'$gen_call', {From, [alias | Ref]},
//! Request}` as `gen:call` does since OTP 24; the reply comes back on the
//! alias (or, from older code, to `From` with the plain tag).

use super::control::{Control, ProcRef};
use crate::dest::Dest;
use crate::error::TERM_TEXT_IN_ERRORS;
use crate::term::{Atom, Pid, Ref, Term};
use crate::{Error, Result};

/// The spawn request of `erpc:call(Node, Module, Function, Args)`: `req_id`
/// is also the monitor reference and the tag in the result.
#[inline]
pub(crate) fn rpc_request(
    req_id: Ref,
    from: Pid,
    group_leader: Pid,
    module: Atom,
    function: Atom,
    args: Vec<Term>,
) -> Control {
    Control::SpawnRequest {
        req_id,
        from,
        group_leader,
        module: crate::atom!("erpc"),
        function: crate::atom!("execute_call"),
        args: Term::List(vec![
            Term::Ref(req_id),
            Term::Atom(module),
            Term::Atom(function),
            Term::List(args),
        ]),
        opts: Term::List(vec![Term::Atom(crate::atom!("monitor"))]),
    }
}

/// The module and function of an rpc as atoms, each refused (and named)
/// when no atom could hold it.
pub(crate) fn rpc_names(module: &str, function: &str) -> Result<(Atom, Atom)> {
    Ok((
        Atom::named(module, "module")?,
        Atom::named(function, "function")?,
    ))
}

/// What a `SPAWN_REPLY` means for an rpc: the worker's pid, or the error
/// the rpc fails with when the spawn failed.
#[inline]
pub(crate) fn rpc_spawned(result: Term) -> Result<Pid> {
    match result {
        Term::Pid(worker) => Ok(worker),
        reason => Err(Error::rpc(
            crate::atom!("error"),
            Term::Tuple(vec![Term::atom("erpc"), reason]),
            Term::nil(),
        )),
    }
}

/// What undoes an rpc nobody waits for any more: its monitor goes and its
/// worker is killed.
pub(crate) fn rpc_abandon(from: Pid, worker: Pid, req_id: Ref) -> [Control; 2] {
    [
        Control::DemonitorP {
            from,
            to: ProcRef::Pid(worker),
            reference: req_id,
        },
        Control::Exit2 {
            from,
            to: worker,
            reason: Term::atom("kill"),
        },
    ]
}

/// The result `erpc:execute_call/4` left in its exit reason.
pub(crate) fn rpc_result(reference: Ref, node: Atom, reason: Term) -> Result<Term> {
    let rpc_error =
        |class: Atom, reason: Term, stacktrace: Term| Err(Error::rpc(class, reason, stacktrace));
    if reason.is_atom("noconnection") {
        return Err(Error::connection(node, "connection lost during the rpc"));
    }
    let Term::Tuple(mut fields) = reason else {
        return rpc_error(
            crate::atom!("exit"),
            Term::Tuple(vec![Term::atom("signal"), reason]),
            Term::nil(),
        );
    };
    let ours = fields.first().and_then(Term::as_reference) == Some(reference);
    let class = fields.get(1).and_then(Term::as_atom);
    match (ours, class, fields.len()) {
        (true, Some(class), 3) if class == "return" => Ok(fields.pop().expect("three fields")),
        (true, Some(class), 3) if class == "throw" || class == "exit" || class == "error" => {
            rpc_error(class, fields.pop().expect("three fields"), Term::nil())
        }
        (true, Some(class), 4) if class == "error" => {
            let stacktrace = fields.pop().expect("four fields");
            let reason = fields.pop().expect("four fields");
            rpc_error(class, reason, stacktrace)
        }
        _ => rpc_error(
            crate::atom!("exit"),
            Term::Tuple(vec![Term::atom("signal"), Term::Tuple(fields)]),
            Term::nil(),
        ),
    }
}

/// The process a `gen_server` call to `dest` monitors.
pub(crate) fn call_server(dest: &Dest) -> Result<ProcRef> {
    match *dest {
        Dest::Pid(pid) => Ok(ProcRef::Pid(pid)),
        Dest::Name { name, .. } => Ok(ProcRef::Name(name)),
        Dest::Alias(_) => Err(Error::invalid(
            "a gen_server call needs a pid or [name, node], not an alias",
        )),
        Dest::Global(_) => Err(unresolved()),
    }
}

/// A global name reached this far: it is resolved to its pid first.
fn unresolved() -> Error {
    Error::invalid("a global name must be resolved to its pid before it is used")
}

/// `{'$gen_call', {From, [alias | Reference]}, Request}`.
#[inline]
pub(crate) fn call_request(from: Pid, reference: Ref, request: Term) -> Term {
    let tag = Term::ImproperList(
        vec![Term::Atom(crate::atom!("alias"))],
        Box::new(Term::Ref(reference)),
    );
    gen_call_message(from, tag, request)
}

/// `{'$gen_call', {From, Reference}, Request}`: a call whose reply
/// (`{Reference, Reply}`, per `gen:reply/2`) comes to `From` itself, for our
/// processes that have no alias (the cluster processes).
pub(crate) fn call_request_to_pid(from: Pid, reference: Ref, request: Term) -> Term {
    gen_call_message(from, Term::Ref(reference), request)
}

fn gen_call_message(from: Pid, tag: Term, request: Term) -> Term {
    Term::Tuple(vec![
        Term::Atom(crate::atom!("$gen_call")),
        Term::Tuple(vec![Term::Pid(from), tag]),
        request,
    ])
}

/// The reference in a call tag: `Ref` or `[alias | Ref]`.
pub(crate) fn call_tag(tag: &Term) -> Option<Ref> {
    match tag {
        Term::Ref(reference) => Some(*reference),
        Term::ImproperList(head, tail) if head.len() == 1 && head[0].is_atom("alias") => {
            match **tail {
                Term::Ref(reference) => Some(reference),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A `{Tag, Reply}` answer to a call: the tag's reference and the reply.
#[inline]
pub(crate) fn call_reply(message: &Term) -> Option<(Ref, &Term)> {
    match message {
        Term::Tuple(pair) if pair.len() == 2 => Some((call_tag(&pair[0])?, &pair[1])),
        _ => None,
    }
}

/// What a failed `gen_server` call to `server` on `node` raises, as
/// `gen_server:call/3` exits; the message names the server.
pub(crate) fn call_failure(node: Atom, server: ProcRef, reason: Term) -> Error {
    if reason.is_atom("noconnection") {
        return Error::connection(node, "connection lost during the call");
    }
    let dest = match server {
        ProcRef::Pid(pid) => Dest::Pid(pid),
        ProcRef::Name(name) => Dest::Name { name, node },
    };
    let detail = if reason.is_atom("noproc") {
        format!("no process {dest} to call")
    } else {
        format!("the server {dest} ended during the call")
    };
    Error::rpc(crate::atom!("exit"), reason, Term::nil()).with_detail(detail)
}

/// `{'$gen_cast', Request}`.
pub(crate) fn cast_message(request: Term) -> Term {
    Term::Tuple(vec![Term::Atom(crate::atom!("$gen_cast")), request])
}

/// `net_adm:ping/1` from `us` to `peer`: a call to its `net_kernel`, which
/// answers `yes` once the handshake has proved the cookie.
pub(crate) fn ping_request(us: Atom, peer: Atom) -> (Dest, Term) {
    let dest = Dest::Name {
        name: crate::atom!("net_kernel"),
        node: peer,
    };
    (
        dest,
        Term::Tuple(vec![Term::atom("is_auth"), Term::Atom(us)]),
    )
}

/// Whether a ping's answer is `pong`.
pub(crate) fn is_pong(reply: &Term) -> bool {
    reply.is_atom("yes")
}

/// The `{From, Request}` of a `{'$gen_call', From, Request}` message.
pub(crate) fn gen_call(message: &Term) -> Option<(&Term, &Term)> {
    match message {
        Term::Tuple(fields)
            if fields.len() == 3 && fields[0].is_atom("$gen_call") && gen_call_from(&fields[1]) =>
        {
            Some((&fields[1], &fields[2]))
        }
        _ => None,
    }
}

/// Whether `from` is the `{Pid, Tag}` of a call.
pub(crate) fn gen_call_from(from: &Term) -> bool {
    matches!(from, Term::Tuple(pair) if pair.len() == 2 && matches!(pair[0], Term::Pid(_)))
}

/// Where and what to send to answer a call from `from` (its `{Pid, Tag}`),
/// as `gen:reply/2` does: a tag `[alias | Alias]` (`gen_server:call`, OTP
/// 24+) or `[[alias | Alias] | Mon]` (`gen_server:multi_call`, OTP 27+) is
/// answered on the alias, so that a reply after the caller gave up is
/// dropped, not left in its mailbox.
pub(crate) fn reply(from: &Term, reply: Term) -> Result<(Dest, Term)> {
    let not_a_pair = || {
        Error::invalid(format!(
            "{from:.TERM_TEXT_IN_ERRORS$} is not a {{Pid, Tag}} pair"
        ))
    };
    let (pid, tag) = match from {
        Term::Tuple(pair) if pair.len() == 2 => match &pair[0] {
            Term::Pid(pid) => (*pid, &pair[1]),
            _ => return Err(not_a_pair()),
        },
        _ => return Err(not_a_pair()),
    };
    let dest = reply_alias(tag).map_or(Dest::Pid(pid), Dest::Alias);
    Ok((dest, Term::Tuple(vec![tag.clone(), reply])))
}

/// The alias of a call tag as `gen:reply/2` reads it: `[alias | Alias]`, or
/// a list whose head is one (`[[alias | Alias] | Mon]`).
fn reply_alias(tag: &Term) -> Option<Ref> {
    fn alias(term: &Term) -> Option<Ref> {
        match term {
            Term::ImproperList(head, tail) if head.len() == 1 && head[0].is_atom("alias") => {
                match **tail {
                    Term::Ref(alias) => Some(alias),
                    _ => None,
                }
            }
            _ => None,
        }
    }
    alias(tag).or_else(|| match tag {
        Term::ImproperList(head, _) | Term::List(head) => head.first().and_then(alias),
        _ => None,
    })
}

/// The control message that sends `message` from `from` to `dest` on
/// another node.
#[inline]
pub(crate) fn send(from: Pid, dest: &Dest, message: Term) -> Result<Control> {
    Ok(match *dest {
        Dest::Pid(to) => Control::Send {
            from: Some(from),
            to,
            message,
        },
        Dest::Name { name, .. } => Control::RegSend {
            from,
            to: name,
            message,
        },
        Dest::Alias(alias) => Control::AliasSend {
            from,
            alias,
            message,
        },
        Dest::Global(_) => return Err(unresolved()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tests;

    fn pid() -> Pid {
        tests::pid(7)
    }

    #[test]
    fn a_call_and_its_reply_agree_on_the_tag() {
        let reference = Ref::new(Atom::new("a@b"), 1, &[1, 2, 3]).expect("ref");
        let request = call_request(pid(), reference, Term::atom("ping"));
        let (from, body) = gen_call(&request).expect("a $gen_call");
        assert!(body.is_atom("ping"));
        let (dest, answer) = reply(from, Term::atom("pong")).expect("a {Pid, Tag} pair");
        assert_eq!(dest, Dest::Alias(reference));
        let (tag, value) = call_reply(&answer).expect("{Tag, Reply}");
        assert_eq!(tag, reference);
        assert!(value.is_atom("pong"));

        // gen:call's {Pid, [[alias | Alias] | Monitor]}: the reply goes to the alias, whichever
        // of the two references it is.
        let other = Ref::new(Atom::new("a@b"), 1, &[7, 8, 9]).expect("ref");
        for (alias, monitor) in [(other, reference), (reference, other)] {
            let multi_call = Term::Tuple(vec![
                Term::Pid(pid()),
                Term::ImproperList(
                    vec![Term::ImproperList(
                        vec![Term::atom("alias")],
                        Box::new(Term::Ref(alias)),
                    )],
                    Box::new(Term::Ref(monitor)),
                ),
            ]);
            assert_eq!(
                reply(&multi_call, Term::nil()).expect("pair").0,
                Dest::Alias(alias),
                "alias {alias:?}, monitor {monitor:?}"
            );
        }

        let plain = Term::Tuple(vec![Term::Pid(pid()), Term::Ref(reference)]);
        assert_eq!(
            reply(&plain, Term::nil()).expect("pair").0,
            Dest::Pid(pid())
        );
        assert!(reply(&Term::atom("x"), Term::nil()).is_err());
    }

    #[test]
    fn rpc_results_follow_erpc() {
        let reference = Ref::new(Atom::new("a@b"), 1, &[4, 5, 6]).expect("ref");
        let node = Atom::new("a@b");
        let returned = Term::Tuple(vec![
            Term::Ref(reference),
            Term::atom("return"),
            Term::from(6),
        ]);
        assert_eq!(
            rpc_result(reference, node, returned).expect("value"),
            Term::from(6)
        );
        let raised = Term::Tuple(vec![
            Term::Ref(reference),
            Term::atom("error"),
            Term::atom("badarg"),
            Term::nil(),
        ]);
        let err = rpc_result(reference, node, raised).expect_err("raised");
        assert_eq!(
            err.rpc_term(),
            Some("{error, badarg, []}".parse().expect("term"))
        );
        let err = rpc_result(reference, node, Term::atom("killed")).expect_err("killed");
        assert_eq!(
            err.rpc_term(),
            Some("{exit, {signal, killed}, []}".parse().expect("term"))
        );
        assert!(rpc_spawned(Term::atom("notsup")).is_err());
    }

    #[test]
    fn a_failed_call_names_its_server() {
        let node = Atom::new("app@host");
        let missing = call_failure(
            node,
            ProcRef::Name(Atom::new("my_server")),
            Term::atom("noproc"),
        );
        assert_eq!(
            missing.to_string(),
            "remote exit: noproc (no process {my_server,app@host} to call)"
        );
        assert_eq!(
            missing.rpc_term(),
            Some("{exit, noproc, []}".parse().expect("term"))
        );
        let died = call_failure(node, ProcRef::Pid(pid()), Term::atom("killed"));
        assert!(
            died.to_string()
                .starts_with("remote exit: killed (the server #Pid<"),
            "{died}"
        );
        let lost = call_failure(node, ProcRef::Pid(pid()), Term::atom("noconnection"));
        assert!(matches!(lost, Error::Connection { .. }), "{lost}");
    }
}
