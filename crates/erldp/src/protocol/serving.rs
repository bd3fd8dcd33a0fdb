//! What BEAM sends a node it calls into, and the answers it expects: the
//! spawn requests of `erpc` and of remote `spawn`, the `rex` server's calls,
//! `gen_server` calls and casts, and the exit reasons that carry results.
//!
//! `erpc:call` sends a
//! [`SPAWN_REQUEST`](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#SPAWN_REQUEST)
//! for `erpc:execute_call(Ref, M, F, A)`; the worker's exit reason is the
//! result, `{Ref, return, Value}` or `{Ref, error, Reason, Stack}`
//! (`erpc.erl`). The requester's node keeps `{reply, _}` and `{reply_tag, _}`
//! to itself (`erts_internal:dist_spawn_request/4` in `dist.c`): the options
//! that arrive are `link`, `monitor` and spawn options that tune a BEAM
//! process, and a
//! [`SPAWN_REPLY`](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#SPAWN_REPLY)
//! is always owed. `rpc:block_call` and `rpc:call` before OTP 23 call the
//! [`rex`](https://www.erlang.org/doc/apps/kernel/rpc.html) server, whose
//! replies `rpc.erl` shapes. A module the node does not expose is `undef`,
//! exactly as on a BEAM node without it.

use super::control::{spawn_reply, Control};
use super::requests;
use crate::serve::{Exception, RequestKind};
use crate::term::{Atom, Pid, Ref, Term};

/// A function and its arguments, as a spawn request or `rex` names them.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Mfa {
    pub(crate) module: Atom,
    pub(crate) function: Atom,
    /// The arguments as they came: a proper list from any well-behaved peer.
    pub(crate) args: Term,
}

impl Mfa {
    /// The arguments, when they are a proper list (anything else cannot
    /// reach a handler, and is `undef`).
    pub(crate) fn args(&self) -> Option<Vec<Term>> {
        match &self.args {
            Term::List(args) => Some(args.clone()),
            _ => None,
        }
    }

    /// The stack trace of calling a function that does not exist:
    /// `[{M, F, Args, []}]`, or `[{Fun, Args, []}]` when a fun is applied
    /// (`Node.spawn(node, fn -> ... end)`), as BEAM reports a fun whose
    /// module it lacks.
    pub(crate) fn undef_stack(&self) -> Term {
        if self.module == crate::atom!("erlang") && self.function == crate::atom!("apply") {
            if let Term::List(args) = &self.args {
                if let [Term::Fun(fun), fun_args] = args.as_slice() {
                    return Term::List(vec![Term::Tuple(vec![
                        Term::Fun(fun.clone()),
                        fun_args.clone(),
                        Term::nil(),
                    ])]);
                }
            }
        }
        Term::List(vec![Term::Tuple(vec![
            Term::Atom(self.module),
            Term::Atom(self.function),
            self.args.clone(),
            Term::nil(),
        ])])
    }
}

/// What a spawn request asks to run.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Spawned {
    /// `erpc:execute_call(Tag, M, F, A)`: `erpc:call`, `rpc:call` (OTP 23+),
    /// `erpc:multicall`, `erpc:send_request`.
    Call { tag: Ref, mfa: Mfa },
    /// `erpc:execute_cast(M, F, A)`: `erpc:cast`, `rpc:cast`.
    Cast { mfa: Mfa },
    /// Anything else: `spawn(Node, M, F, A)`, `Node.spawn/2` with a fun.
    Apply { mfa: Mfa },
}

impl Spawned {
    /// The function that would run.
    pub(crate) fn mfa(&self) -> &Mfa {
        match self {
            Spawned::Call { mfa, .. } | Spawned::Cast { mfa } | Spawned::Apply { mfa } => mfa,
        }
    }
}

/// The arguments of `global:resolve_it/4`, the one function of OTP's own that BEAM nodes call
/// on ours (a clash over a global name held by one of our processes), which the node answers
/// whatever it exposes.
pub(crate) fn global_resolve_it(mfa: &Mfa) -> Option<Vec<Term>> {
    let args = mfa.args()?;
    (mfa.module == crate::atom!("global")
        && mfa.function == crate::atom!("resolve_it")
        && args.len() == 4)
        .then_some(args)
}

/// Reads what the spawn request of `module:function(args...)` asks for.
pub(crate) fn spawned(module: Atom, function: Atom, args: Term) -> Spawned {
    if module == crate::atom!("erpc") {
        if let Term::List(items) = &args {
            let named = |m: &Term, f: &Term, a: &Term| match (m, f, a) {
                (Term::Atom(m), Term::Atom(f), Term::List(_)) => Some(Mfa {
                    module: *m,
                    function: *f,
                    args: a.clone(),
                }),
                _ => None,
            };
            if function == crate::atom!("execute_call") {
                if let [Term::Ref(tag), m, f, a] = items.as_slice() {
                    if let Some(mfa) = named(m, f, a) {
                        return Spawned::Call { tag: *tag, mfa };
                    }
                }
            } else if function == crate::atom!("execute_cast") {
                if let [m, f, a] = items.as_slice() {
                    if let Some(mfa) = named(m, f, a) {
                        return Spawned::Cast { mfa };
                    }
                }
            }
        }
    }
    Spawned::Apply {
        mfa: Mfa {
            module,
            function,
            args,
        },
    }
}

/// The options of a spawn request that concern us.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SpawnOptions {
    /// Link the new process to the requester.
    pub(crate) link: bool,
    /// The requester monitors it, with the request id as the reference.
    pub(crate) monitor: bool,
}

impl SpawnOptions {
    /// The `SPAWN_REPLY` flags saying what was set up.
    pub(crate) fn reply_flags(self) -> u32 {
        let mut flags = 0;
        if self.link {
            flags |= spawn_reply::LINK;
        }
        if self.monitor {
            flags |= spawn_reply::MONITOR;
        }
        flags
    }
}

/// Reads the option list of a spawn request; `None` when it is not a proper
/// list, which erts answers with `badopt`. Options for a BEAM process
/// (`priority`, heap sizes, ...) mean nothing here and are let be.
pub(crate) fn spawn_options(opts: &Term) -> Option<SpawnOptions> {
    let Term::List(items) = opts else {
        return None;
    };
    let mut options = SpawnOptions::default();
    for item in items {
        if item.is_atom("link") {
            options.link = true;
        } else if item.is_atom("monitor") {
            options.monitor = true;
        }
    }
    Some(options)
}

/// The `SPAWN_REPLY` to `from` for request `req_id`: the new process, or
/// the atom saying why there is none.
pub(crate) fn spawn_answer(req_id: Ref, from: Pid, flags: u32, result: Term) -> Control {
    Control::SpawnReply {
        req_id,
        to: from,
        flags,
        result,
    }
}

/// How a call into an exposed module ended.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outcome {
    Value(Term),
    Raised(Exception),
    /// The module is not exposed.
    Undef,
}

/// The exit reason of the process a spawn request started, as BEAM's would
/// be: the result of an `erpc` call, or how a spawned function ended.
pub(crate) fn exit_reason(spawned: &Spawned, outcome: Outcome) -> Term {
    let normal = || Term::Atom(crate::atom!("normal"));
    let undef = || Term::Atom(crate::atom!("undef"));
    let mfa = spawned.mfa();
    match (spawned, outcome) {
        (Spawned::Call { tag, .. }, Outcome::Value(value)) => Term::Tuple(vec![
            Term::Ref(*tag),
            Term::Atom(crate::atom!("return")),
            value,
        ]),
        (Spawned::Call { tag, .. }, Outcome::Raised(raised)) => {
            erpc_error(*tag, raised.reason(), raised.stacktrace())
        }
        (Spawned::Call { tag, .. }, Outcome::Undef) => erpc_error(*tag, undef(), mfa.undef_stack()),
        (Spawned::Cast { .. } | Spawned::Apply { .. }, Outcome::Value(_)) => normal(),
        (Spawned::Cast { .. }, Outcome::Raised(raised)) => {
            cast_crash(raised.reason(), raised.stacktrace())
        }
        (Spawned::Cast { .. }, Outcome::Undef) => cast_crash(undef(), mfa.undef_stack()),
        (Spawned::Apply { .. }, Outcome::Raised(raised)) => {
            Term::Tuple(vec![raised.reason(), raised.stacktrace()])
        }
        (Spawned::Apply { .. }, Outcome::Undef) => Term::Tuple(vec![undef(), mfa.undef_stack()]),
    }
}

/// `{Tag, error, Reason, Stack}`: `erpc:call` raises `error:{exception,
/// Reason, Stack}`, `rpc:call` returns `{badrpc, {'EXIT', {Reason, Stack}}}`.
fn erpc_error(tag: Ref, reason: Term, stack: Term) -> Term {
    Term::Tuple(vec![
        Term::Ref(tag),
        Term::Atom(crate::atom!("error")),
        reason,
        stack,
    ])
}

/// How `erpc:execute_cast/3` ends when the function raises: with the error
/// `{exception, {Reason, Stack}}`.
fn cast_crash(reason: Term, stack: Term) -> Term {
    Term::Tuple(vec![
        Term::Tuple(vec![
            Term::Atom(crate::atom!("exception")),
            Term::Tuple(vec![reason, stack]),
        ]),
        Term::nil(),
    ])
}

/// What reached the `rex` server.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RexRequest {
    /// `gen_server:call(rex, {call | block_call, M, F, A, GroupLeader})`.
    Call { from: Term, mfa: Mfa },
    /// `{From, {call, M, F, A, GroupLeader}}`, as C nodes' `ei_rpc` sends
    /// it; answered with `From ! {rex, Reply}`.
    Message { from: Pid, mfa: Mfa },
    /// `gen_server:cast(rex, {cast, M, F, A, GroupLeader})`.
    Cast { mfa: Mfa },
    /// `{From, features_request}`: `rpc`'s nodes observer asks each node
    /// that comes up whether it runs `erpc`.
    Features { from: Pid },
    /// Anything else, which `rex` ignores.
    Other,
}

/// Reads a message to `rex`.
pub(crate) fn rex_request(message: &Term) -> RexRequest {
    let mfa = |request: &Term, tags: &[&str]| match request {
        Term::Tuple(fields) if fields.len() == 5 && tags.iter().any(|t| fields[0].is_atom(t)) => {
            match (&fields[1], &fields[2], &fields[3]) {
                (Term::Atom(module), Term::Atom(function), args @ Term::List(_)) => Some(Mfa {
                    module: *module,
                    function: *function,
                    args: args.clone(),
                }),
                _ => None,
            }
        }
        _ => None,
    };
    if let Some((from, request)) = requests::gen_call(message) {
        return match mfa(request, &["call", "block_call"]) {
            Some(mfa) => RexRequest::Call {
                from: from.clone(),
                mfa,
            },
            None => RexRequest::Other,
        };
    }
    let Term::Tuple(fields) = message else {
        return RexRequest::Other;
    };
    match fields.as_slice() {
        [tag, request] if tag.is_atom("$gen_cast") => match mfa(request, &["cast"]) {
            Some(mfa) => RexRequest::Cast { mfa },
            None => RexRequest::Other,
        },
        [Term::Pid(from), request] if request.is_atom("features_request") => {
            RexRequest::Features { from: *from }
        }
        [Term::Pid(from), request] => match mfa(request, &["call"]) {
            Some(mfa) => RexRequest::Message { from: *from, mfa },
            None => RexRequest::Other,
        },
        _ => RexRequest::Other,
    }
}

/// `rex`'s reply to a call, as `rpc:execute_call/3` shapes it: the value,
/// or `{badrpc, {'EXIT', {Reason, Stack}}}`.
pub(crate) fn rex_reply(mfa: &Mfa, outcome: Outcome) -> Term {
    let badrpc = |reason: Term, stack: Term| {
        Term::Tuple(vec![
            Term::Atom(crate::atom!("badrpc")),
            Term::Tuple(vec![
                Term::Atom(crate::atom!("EXIT")),
                Term::Tuple(vec![reason, stack]),
            ]),
        ])
    };
    match outcome {
        Outcome::Value(value) => value,
        Outcome::Raised(raised) => badrpc(raised.reason(), raised.stacktrace()),
        Outcome::Undef => badrpc(Term::Atom(crate::atom!("undef")), mfa.undef_stack()),
    }
}

/// `{rex, Reply}`: the answer to a `{From, {call, ...}}` message.
pub(crate) fn rex_message_reply(reply: Term) -> Term {
    Term::Tuple(vec![Term::Atom(crate::atom!("rex")), reply])
}

/// `{features_reply, Node, [erpc]}`: this node runs spawn-based rpc.
pub(crate) fn features_reply(node: Atom) -> Term {
    Term::Tuple(vec![
        Term::Atom(crate::atom!("features_reply")),
        Term::Atom(node),
        Term::List(vec![Term::Atom(crate::atom!("erpc"))]),
    ])
}

/// A message to a served name, read as a `gen_server` reads it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Incoming {
    pub(crate) kind: RequestKind,
    /// The request of a call or cast, else the whole message.
    pub(crate) message: Term,
    /// `{Pid, Tag}` of a call.
    pub(crate) from: Option<Term>,
    /// The caller's monitor of the served process, which a raising handler
    /// fires and a demonitor cancels by.
    pub(crate) monitor: Option<Ref>,
}

/// Reads `{'$gen_call', {Pid, Tag}, Request}`, `{'$gen_cast', Request}` or
/// any other message.
pub(crate) fn incoming(message: Term) -> Incoming {
    let info = |message| Incoming {
        kind: RequestKind::Info,
        message,
        from: None,
        monitor: None,
    };
    let Term::Tuple(mut fields) = message else {
        return info(message);
    };
    if fields.len() == 3 && fields[0].is_atom("$gen_call") && requests::gen_call_from(&fields[1]) {
        let request = fields.pop().expect("three fields");
        let from = fields.pop().expect("three fields");
        let monitor = match &from {
            Term::Tuple(pair) => call_monitor(&pair[1]),
            _ => None,
        };
        return Incoming {
            kind: RequestKind::Call,
            message: request,
            from: Some(from),
            monitor,
        };
    }
    if fields.len() == 2 && fields[0].is_atom("$gen_cast") {
        return Incoming {
            kind: RequestKind::Cast,
            message: fields.pop().expect("two fields"),
            from: None,
            monitor: None,
        };
    }
    info(Term::Tuple(fields))
}

/// The monitor reference in a call's tag: the tag itself (`gen:call` before
/// OTP 24), the `Ref` of `[alias | Ref]`, or the `Mon` of OTP 27's
/// `multi_call` tag `[[alias | Alias] | Mon]`.
pub(crate) fn call_monitor(tag: &Term) -> Option<Ref> {
    match tag {
        Term::ImproperList(head, tail) if head.len() == 1 && !head[0].is_atom("alias") => {
            tail.as_reference()
        }
        _ => requests::call_tag(tag),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tests::pid;

    fn reference(n: u32) -> Ref {
        Ref::new(Atom::new("a@b"), 1, &[n, 2, 3]).expect("ref")
    }

    fn term(text: &str) -> Term {
        text.parse().expect("term")
    }

    #[test]
    fn spawn_requests_are_read_as_erpc_does_them() {
        let tag = reference(1);
        let call = spawned(
            Atom::new("erpc"),
            Atom::new("execute_call"),
            Term::List(vec![
                Term::Ref(tag),
                Term::atom("m"),
                Term::atom("f"),
                term("[1, 2]"),
            ]),
        );
        let mfa = Mfa {
            module: Atom::new("m"),
            function: Atom::new("f"),
            args: term("[1, 2]"),
        };
        assert_eq!(
            call,
            Spawned::Call {
                tag,
                mfa: mfa.clone()
            }
        );
        assert_eq!(
            spawned(
                Atom::new("erpc"),
                Atom::new("execute_cast"),
                term("[m, f, [1, 2]]")
            ),
            Spawned::Cast { mfa: mfa.clone() }
        );
        // A malformed erpc request is a spawn of erpc's function itself.
        let odd = spawned(
            Atom::new("erpc"),
            Atom::new("execute_call"),
            term("[m, f, [1]]"),
        );
        assert!(matches!(odd, Spawned::Apply { ref mfa } if mfa.module == Atom::new("erpc")));

        assert_eq!(
            exit_reason(&call, Outcome::Undef).to_string(),
            format!("{{{tag},error,undef,[{{m,f,[1,2],[]}}]}}")
        );
        assert_eq!(
            exit_reason(&call, Outcome::Value(Term::from(3))).to_string(),
            format!("{{{tag},return,3}}")
        );
        let plain = Spawned::Apply { mfa };
        assert_eq!(
            exit_reason(&plain, Outcome::Undef).to_string(),
            "{undef,[{m,f,[1,2],[]}]}"
        );
        let raised = Exception::new("ArgumentError", "bad x");
        assert_eq!(
            exit_reason(&plain, Outcome::Raised(raised)).to_string(),
            "{{'ArgumentError',<<\"bad x\">>},[]}"
        );
    }

    #[test]
    fn options_give_the_reply_flags() {
        assert_eq!(
            spawn_options(&term("[monitor]")).map(|o| o.reply_flags()),
            Some(2)
        );
        assert_eq!(
            spawn_options(&term("[link, {priority, high}, monitor]")).map(|o| o.reply_flags()),
            Some(3)
        );
        assert_eq!(spawn_options(&term("[]")).map(|o| o.reply_flags()), Some(0));
        assert_eq!(spawn_options(&term("monitor")), None);
    }

    #[test]
    fn rex_requests_and_replies_follow_rpc() {
        let from = Term::Tuple(vec![Term::Pid(pid(1)), Term::Ref(reference(2))]);
        let call = Term::Tuple(vec![
            Term::atom("$gen_call"),
            from.clone(),
            term("{block_call, m, f, [1], user}"),
        ]);
        let RexRequest::Call { from: got, mfa } = rex_request(&call) else {
            panic!("a call");
        };
        assert_eq!(got, from);
        assert_eq!(
            rex_reply(&mfa, Outcome::Undef).to_string(),
            "{badrpc,{'EXIT',{undef,[{m,f,[1],[]}]}}}"
        );
        assert_eq!(
            rex_reply(&mfa, Outcome::Raised(Exception::new("E", "m"))).to_string(),
            "{badrpc,{'EXIT',{{'E',<<\"m\">>},[]}}}"
        );
        let info = Term::Tuple(vec![Term::Pid(pid(1)), term("{call, m, f, [], user}")]);
        assert!(matches!(rex_request(&info), RexRequest::Message { .. }));
        let features = Term::Tuple(vec![Term::Pid(pid(1)), Term::atom("features_request")]);
        assert_eq!(
            rex_request(&features),
            RexRequest::Features { from: pid(1) }
        );
        assert!(matches!(
            rex_request(&term("{'$gen_cast', {cast, m, f, [], user}}")),
            RexRequest::Cast { .. }
        ));
        assert_eq!(rex_request(&term("{'$gen_cast', stop}")), RexRequest::Other);
    }

    #[test]
    fn served_messages_are_read_as_a_gen_server_reads_them() {
        let (alias, mon) = (reference(3), reference(4));
        let tags = [
            (Term::Ref(mon), mon),
            (
                Term::ImproperList(vec![Term::atom("alias")], Box::new(Term::Ref(mon))),
                mon,
            ),
            (
                Term::ImproperList(
                    vec![Term::ImproperList(
                        vec![Term::atom("alias")],
                        Box::new(Term::Ref(alias)),
                    )],
                    Box::new(Term::Ref(mon)),
                ),
                mon,
            ),
        ];
        for (tag, monitor) in tags {
            let from = Term::Tuple(vec![Term::Pid(pid(1)), tag]);
            let call = Term::Tuple(vec![
                Term::atom("$gen_call"),
                from.clone(),
                term("{add, 1}"),
            ]);
            assert_eq!(
                incoming(call),
                Incoming {
                    kind: RequestKind::Call,
                    message: term("{add, 1}"),
                    from: Some(from),
                    monitor: Some(monitor),
                }
            );
        }
        assert_eq!(incoming(term("{'$gen_cast', hi}")).kind, RequestKind::Cast);
        let odd = term("{'$gen_call', nobody, hi}");
        assert_eq!(
            incoming(odd.clone()),
            Incoming {
                kind: RequestKind::Info,
                message: odd,
                from: None,
                monitor: None,
            }
        );
    }
}
