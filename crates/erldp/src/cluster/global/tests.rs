//! global against transcripts of real OTP 25 nodes (`a_25`, `b_25`, `c_25`, `d_25`): the
//! messages a BEAM node sent are fed in as our node would receive them, and what we send must
//! be what a BEAM node in our place sent. Our node is `u`.

use super::table::{Inserter, NewName};
use super::*;
use crate::cluster::transcript::Transcript;

const FIRST_TAG: i64 = MIN_SMALL + 1;

fn setup(me: &str, others: &[(&str, &str)]) -> (Transcript, Global) {
    setup_with(me, others, Limits::default())
}

fn setup_with(me: &str, others: &[(&str, &str)], limits: Limits) -> (Transcript, Global) {
    let mut nodes = vec![("u", me)];
    nodes.extend_from_slice(others);
    let t = Transcript::new(&nodes);
    let global = Global::new(Config {
        node: t.node("u"),
        host: "vm".into(),
        creation: 7,
        locker: t.pid("<u:locker>"),
        registrar: t.pid("<u:registrar>"),
        prevent_overlapping_partitions: true,
        seed: 42,
        limits,
    });
    (t, global)
}

fn gns(t: &Transcript, label: &str) -> Dest {
    server_of(t.node(label))
}

/// What our server sends to the server of `label`.
fn to_gns(t: &Transcript, label: &str, msg: &str) -> Action {
    Action::Send {
        from: Proc::Server,
        to: gns(t, label),
        msg: t.term(msg),
    }
}

/// What our server casts to the server of `label` (`request` without its `$gen_cast`).
fn cast_to_gns(t: &Transcript, label: &str, request: &str) -> Action {
    Action::Cast {
        from: Proc::Server,
        to: gns(t, label),
        msg: t.term(&format!("{{'$gen_cast',{request}}}")).into(),
    }
}

/// What `pick` takes from each of `actions` it matches, in order.
fn picked<T>(actions: &[Action], pick: impl FnMut(&Action) -> Option<T>) -> Vec<T> {
    actions.iter().filter_map(pick).collect()
}

fn sends_of(actions: &[Action]) -> Vec<(Dest, Term)> {
    picked(actions, |a| match a {
        Action::Send { to, msg, .. } => Some((*to, msg.clone())),
        Action::Cast { to, msg, .. } => Some((*to, Term::clone(msg))),
        _ => None,
    })
}

/// Answers the first call among `actions` with the atom `reply`.
fn answer_first(global: &mut Global, actions: &[Action], reply: &str) -> Vec<Action> {
    global.call_done(calls_of(actions)[0].0, Some(Term::atom(reply)))
}

/// The last of `actions` ends `request` with the atom `result`.
#[track_caller]
fn assert_done(actions: &[Action], request: u64, result: &str) {
    assert_eq!(
        actions.last(),
        Some(&Action::Done {
            request,
            result: Term::atom(result)
        }),
        "request {request} should end with {result}"
    );
}

/// `actions` send one `$gen_cast` of `request` to the server of `label`, and nothing else.
#[track_caller]
fn assert_cast(t: &Transcript, actions: &[Action], label: &str, request: &str) {
    assert_eq!(
        sends_of(actions),
        vec![(gns(t, label), t.term(&format!("{{'$gen_cast',{request}}}")))],
        "one cast of {request} to {label}"
    );
}

/// Each of `texts`, sent by node `a` to our server, is a violation.
#[track_caller]
fn assert_violations(global: &mut Global, t: &Transcript, texts: &[&str]) {
    for text in texts {
        let from_a = global.message(Proc::Server, t.node("a"), &t.term(text));
        assert!(from_a.is_err(), "{text}");
    }
}

fn calls_of(actions: &[Action]) -> Vec<(u64, Atom, Term)> {
    picked(actions, |a| match a {
        Action::Call {
            id, node, request, ..
        } => Some((*id, *node, request.clone())),
        _ => None,
    })
}

fn timers_of(actions: &[Action]) -> Vec<u64> {
    picked(actions, |a| match a {
        Action::Timer { id, .. } => Some(*id),
        _ => None,
    })
}

fn disconnects_of(actions: &[Action]) -> Vec<Atom> {
    picked(actions, |a| match a {
        Action::Disconnect { node } => Some(*node),
        _ => None,
    })
}

fn lock_id(t: &Transcript, a: &str, b: &str) -> Term {
    let mut pair = vec![Term::from(t.pid(a)), Term::from(t.pid(b))];
    pair.sort();
    Term::tuple(vec![Term::atom("global"), Term::list(pair)])
}

/// A message to our server that came over the connection of the node labelled `from`.
fn msg(global: &mut Global, t: &Transcript, from: &str, text: &str) -> Vec<Action> {
    global
        .message(Proc::Server, t.node(from), &t.term(text))
        .unwrap_or_else(|v| panic!("{text}: {v:?}"))
}

/// A `$gen_cast` of `request` from the server of node `from` to ours.
fn cast_from(global: &mut Global, t: &Transcript, from: &str, request: &str) -> Vec<Action> {
    msg(global, t, from, &format!("{{'$gen_cast',{request}}}"))
}

/// Both init_connects and acks, as in the transcript "A connects to B" with us as b.
fn greet(global: &mut Global, t: &Transcript, peer: &str) -> i64 {
    let node = t.node(peer);
    let actions = global.node_up(node);
    let our_tag = FIRST_TAG;
    assert_eq!(
        actions,
        vec![cast_to_gns(
            t,
            peer,
            &format!(
                "{{init_connect,{{8,{our_tag}}},'{}',{{locker,no_longer_a_pid,#{{}},'<u:locker>'}}}}",
                t.node("u").as_str()
            )
        )]
    );
    let his_tag = -576460752303423486_i64;
    let actions = msg(global, t, peer,
        &format!(
            "{{'$gen_cast',{{init_connect,{{8,{his_tag}}},'{}',{{locker,no_longer_a_pid,#{{}},'<{peer}:locker>'}}}}}}",
            node.as_str()
        ),
    );
    assert_eq!(
        sends_of(&actions),
        vec![(
            gns(t, peer),
            t.term(&format!(
                "{{init_connect_ack,'{}',{his_tag},{our_tag}}}",
                t.node("u").as_str()
            ))
        )]
    );
    assert_eq!(
        timers_of(&actions).len(),
        1,
        "the locker waits for its turn"
    );
    let actions = msg(
        global,
        t,
        peer,
        &format!(
            "{{init_connect_ack,'{}',{our_tag},{his_tag}}}",
            node.as_str()
        ),
    );
    assert_eq!(actions, vec![], "the ack matches: nothing to do");
    his_tag
}

/// The BEAM node's locker takes the lock first (we answer its set_lock and its lock_set), then
/// names are exchanged and both sides finish: `b_25`'s side of "A connects to B".
#[test]
fn a_beam_node_connects_and_its_locker_leads() {
    let (t, mut global) = setup("us@vm", &[("a", "a_25@vm")]);
    let his_tag = greet(&mut global, &t, "a");
    let lock = lock_id(&t, "<u:locker>", "<a:locker>");

    let set_lock =
        format!("{{'$gen_call',{{'<a:locker>',{{'#Ref2@a','us@vm'}}}},{{set_lock,{lock}}}}}");
    let actions = msg(&mut global, &t, "a", &set_lock);
    assert!(matches!(&actions[0], Action::Monitor { pid, .. } if *pid == t.pid("<a:locker>")));
    assert_eq!(
        actions[1],
        Action::Reply {
            from: t.term("{'<a:locker>',{'#Ref2@a','us@vm'}}"),
            reply: Term::atom("true")
        }
    );

    let actions = cast_from(
        &mut global,
        &t,
        "a",
        &format!("{{lock_set,'<a:locker>',true,[],{FIRST_TAG}}}"),
    );
    assert_eq!(
        sends_of(&actions),
        vec![
            (
                gns(&t, "a"),
                t.term(&format!(
                    "{{'$gen_cast',{{lock_set,'<u:locker>',true,[],{his_tag}}}}}"
                ))
            ),
            (
                gns(&t, "a"),
                t.term(&format!(
                    "{{'$gen_cast',{{exchange,'us@vm',[],[],{his_tag}}}}}"
                ))
            ),
        ],
        "our partition (just us, the boss) is locked at once; then our names"
    );

    let actions = cast_from(
        &mut global,
        &t,
        "a",
        &format!("{{exchange,'a_25@vm',[],[],{FIRST_TAG}}}"),
    );
    assert_cast(
        &t,
        &actions,
        "a",
        &format!("{{resolved,'us@vm',[],[],unused,[],{his_tag}}}"),
    );

    let actions = cast_from(
        &mut global,
        &t,
        "a",
        &format!("{{resolved,'a_25@vm',[],[],unused,[],{FIRST_TAG}}}"),
    );
    assert_eq!(sends_of(&actions), vec![], "nobody else to tell about a");
    assert_eq!(global.known_nodes(), vec![t.node("a")]);

    let del_lock =
        format!("{{'$gen_call',{{'<a:locker>',{{'#Ref4@a','us@vm'}}}},{{del_lock,{lock}}}}}");
    let actions = msg(&mut global, &t, "a", &del_lock);
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::Reply { reply, .. } if reply.is_atom("true"))));
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::Demonitor { .. })));
    assert!(!global.table.is_locked(&Term::atom("global")));
}

/// Our locker's timer fires first: it locks our node and the peer's, tells the peer, and
/// after the exchange gives the locks back, the boss last.
#[test]
fn our_locker_leads_against_a_beam_node() {
    let (t, mut global) = setup("us@vm", &[("a", "a_25@vm")]);
    let actions = global.node_up(t.node("a"));
    assert_eq!(actions.len(), 1);
    let his_tag = -576460752303423486_i64;
    let actions = cast_from(&mut global, &t, "a", &format!("{{init_connect,{{8,{his_tag}}},'a_25@vm',{{locker,no_longer_a_pid,#{{}},'<a:locker>'}}}}"));
    let timer = timers_of(&actions)[0];
    let lock = lock_id(&t, "<u:locker>", "<a:locker>");

    let actions = global.timer(timer);
    let calls = calls_of(&actions);
    assert_eq!(
        calls,
        vec![(
            calls[0].0,
            t.node("a"),
            t.term(&format!("{{set_lock,{lock}}}"))
        )],
        "the boss (us) is locked locally, then the other node"
    );
    let actions = global.call_done(calls[0].0, Some(Term::atom("true")));
    assert_cast(
        &t,
        &actions,
        "a",
        &format!("{{lock_set,'<u:locker>',true,[],{his_tag}}}"),
    );

    let actions = cast_from(
        &mut global,
        &t,
        "a",
        &format!("{{lock_set,'<a:locker>',true,[],{FIRST_TAG}}}"),
    );
    assert_cast(
        &t,
        &actions,
        "a",
        &format!("{{exchange,'us@vm',[],[],{his_tag}}}"),
    );
    cast_from(
        &mut global,
        &t,
        "a",
        &format!("{{exchange,'a_25@vm',[],[],{FIRST_TAG}}}"),
    );
    let actions = cast_from(
        &mut global,
        &t,
        "a",
        &format!("{{resolved,'a_25@vm',[],[],unused,[],{FIRST_TAG}}}"),
    );
    let calls = calls_of(&actions);
    assert_eq!(
        calls,
        vec![(
            calls[0].0,
            t.node("a"),
            t.term(&format!("{{del_lock,{lock}}}"))
        )],
        "the peer's lock goes first, the boss's (ours, local) last"
    );
    assert!(global.table.is_locked(&Term::atom("global")));
    global.call_done(calls[0].0, Some(Term::atom("true")));
    assert!(!global.table.is_locked(&Term::atom("global")));
    assert_eq!(global.known_nodes(), vec![t.node("a")]);
}

/// "A: global:register_name(ga, P1)" seen from b (OTP 25 From tags), then the process exits;
/// OTP 29's aliased From is answered as given.
#[test]
fn registrations_of_beam_nodes_are_kept() {
    let (t, mut global) = setup("us@vm", &[("a", "a_25@vm")]);
    let ga = Term::atom("ga");
    let set =
        "{'$gen_call',{'<a:registrar>',{'#Ref11@a','us@vm'}},{set_lock,{global,'<a:registrar>'}}}";
    let actions = msg(&mut global, &t, "a", set);
    assert!(matches!(actions.last(), Some(Action::Reply { reply, .. }) if reply.is_atom("true")));
    let register =
        "{'$gen_call',{'<a:registrar>',{'#Ref14@a','us@vm'}},{register,ga,'<a:p1>',method}}";
    let actions = msg(&mut global, &t, "a", register);
    let name_monitor = actions
        .iter()
        .find_map(|a| match a {
            Action::Monitor { id, pid } if *pid == t.pid("<a:p1>") => Some(*id),
            _ => None,
        })
        .expect("the name's pid is monitored");
    assert!(matches!(actions.last(), Some(Action::Reply { reply, .. }) if reply.is_atom("yes")));
    assert_eq!(global.whereis(&ga), Some(t.pid("<a:p1>")));
    msg(
        &mut global,
        &t,
        "a",
        "{'$gen_call',{'<a:registrar>',{'#Ref16@a','us@vm'}},{del_lock,{global,'<a:registrar>'}}}",
    );
    assert_eq!(global.registered_names(), vec![ga.clone()]);

    global.down(name_monitor);
    assert_eq!(
        global.whereis(&ga),
        None,
        "the DOWN of the pid removes the name"
    );

    let actions = msg(
        &mut global,
        &t,
        "a",
        "{'$gen_call',{'<a:registrar>',[[alias|'#Ref2@a']|'#Ref3@a']},{unregister,ga}}",
    );
    assert_eq!(
        actions,
        vec![Action::Reply {
            from: t.term("{'<a:registrar>',[[alias|'#Ref2@a']|'#Ref3@a']}"),
            reply: Term::atom("ok")
        }]
    );
    assert_eq!(
        msg(
            &mut global,
            &t,
            "a",
            "{'$gen_call',{'<a:registrar>',t},what_is_this}"
        ),
        vec![],
        "unknown calls are not answered, as by BEAM"
    );
}

/// A register call whose caller does not hold the `global` lock that someone else holds is
/// answered `yes` but does not stand (`lock_still_set/3`).
#[test]
fn a_registration_outside_the_lock_does_not_stand() {
    let (t, mut global) = setup("us@vm", &[("a", "a_25@vm")]);
    msg(
        &mut global,
        &t,
        "a",
        "{'$gen_call',{'<a:registrar>',{'#Ref1@a','us@vm'}},{set_lock,{global,'<a:registrar>'}}}",
    );
    let actions = msg(
        &mut global,
        &t,
        "a",
        "{'$gen_call',{'<a.9>',{'#Ref2@a','us@vm'}},{register,late,'<a:p1>',method}}",
    );
    assert!(matches!(actions.last(), Some(Action::Reply { reply, .. }) if reply.is_atom("yes")));
    assert_eq!(global.whereis(&Term::atom("late")), None);
}

/// Our own registration: lock the boss, lock everyone, register everywhere, unlock (boss last).
#[test]
fn we_register_a_name_on_every_known_node() {
    let (t, mut global) = setup("us@vm", &[("a", "a_25@vm")]);
    greet(&mut global, &t, "a");
    global.known.insert(t.node("a"), 8);
    let me = t.pid("<u:p1>");
    let reg = Term::tuple(vec![Term::atom("global"), t.pid("<u:registrar>").into()]);

    let (request, actions) = global.register(Term::atom("svc"), me);
    let calls = calls_of(&actions);
    assert_eq!(
        calls.iter().map(|c| (c.1, c.2.clone())).collect::<Vec<_>>(),
        vec![(
            t.node("a"),
            Term::tuple(vec![Term::atom("set_lock"), reg.clone()])
        )],
        "the boss is us (locked locally), then every node"
    );
    let actions = global.call_done(calls[0].0, Some(Term::atom("true")));
    let calls = calls_of(&actions);
    let method =
        Term::from(Fun::export(Atom::new("global"), Atom::new("random_exit_name"), 3).unwrap());
    assert_eq!(
        calls.iter().map(|c| (c.1, c.2.clone())).collect::<Vec<_>>(),
        vec![(
            t.node("a"),
            Term::tuple(vec![
                Term::atom("register"),
                Term::atom("svc"),
                me.into(),
                method
            ])
        )]
    );
    assert_eq!(global.whereis(&Term::atom("svc")), Some(me));
    let actions = global.call_done(calls[0].0, Some(Term::atom("yes")));
    let calls = calls_of(&actions);
    assert_eq!(
        calls.iter().map(|c| (c.1, c.2.clone())).collect::<Vec<_>>(),
        vec![(t.node("a"), Term::tuple(vec![Term::atom("del_lock"), reg]))]
    );
    let actions = global.call_done(calls[0].0, Some(Term::atom("true")));
    assert_done(&actions, request, "yes");
    assert!(!global.table.is_locked(&Term::atom("global")));

    let (request, actions) = global.register(Term::atom("svc"), t.pid("<u:p2>"));
    let actions = answer_first(&mut global, &actions, "true");
    let calls = calls_of(&actions);
    assert_eq!(
        calls.len(),
        1,
        "the name is taken: no register calls, only the unlock"
    );
    assert!(calls[0]
        .2
        .as_tuple()
        .is_some_and(|c| c[0].is_atom("del_lock")));
    let actions = global.call_done(calls[0].0, Some(Term::atom("true")));
    assert_done(&actions, request, "no");
    assert_eq!(global.whereis(&Term::atom("svc")), Some(me));
}

/// The peer says no to our lock: we give back what we got, wait, and try again.
#[test]
fn a_refused_registration_lock_is_retried() {
    let (t, mut global) = setup("us@vm", &[("a", "a_25@vm")]);
    global.known.insert(t.node("a"), 8);
    let (request, actions) = global.register(Term::atom("svc"), t.pid("<u:p1>"));
    let actions = answer_first(&mut global, &actions, "false");
    assert_eq!(
        calls_of(&actions),
        vec![],
        "our own grant is given back locally"
    );
    assert!(!global.table.is_locked(&Term::atom("global")));
    let timer = timers_of(&actions)[0];
    let actions = global.timer(timer);
    let actions = answer_first(&mut global, &actions, "true");
    let actions = answer_first(&mut global, &actions, "yes");
    let actions = answer_first(&mut global, &actions, "true");
    assert_done(&actions, request, "yes");
}

/// "D connects to A: name clash on gc" with us as the smaller node: we resolve with the
/// method of our entry. Our own pid's clash is resolved here; a BEAM pid's by rpc on its node.
#[test]
fn we_resolve_clashes_as_the_smaller_node() {
    let (t, mut global) = setup("aa@vm", &[("d", "d_25@vm"), ("b", "b_25@vm")]);
    let ours = t.pid("<u:p4>");
    let default =
        Term::from(Fun::export(Atom::new("global"), Atom::new("random_exit_name"), 3).unwrap());
    let session = Inserter::Caller(t.pid("<u:registrar>"));
    for (name, pid) in [("gc", ours), ("gb", t.pid("<b:p1>"))] {
        let entry = NewName {
            name: Term::atom(name),
            pid,
            method: default.clone(),
            ext: None,
        };
        global
            .table
            .insert(entry, &session, &mut global.ids, &mut global.out);
    }
    global.take();
    let lock = lock_id(&t, "<u:locker>", "<d:locker>");
    let his_tag = -576460752303423486_i64;
    global.node_up(t.node("d"));
    let actions = cast_from(
        &mut global,
        &t,
        "d",
        &format!("{{init_connect,{{8,{his_tag}}},'d_25@vm',{{locker,x,#{{}},'<d:locker>'}}}}"),
    );
    assert!(!actions.is_empty());
    msg(
        &mut global,
        &t,
        "d",
        &format!("{{'$gen_call',{{'<d:locker>',{{'#R@d','aa@vm'}}}},{{set_lock,{lock}}}}}"),
    );
    cast_from(
        &mut global,
        &t,
        "d",
        &format!("{{lock_set,'<d:locker>',true,[],{FIRST_TAG}}}"),
    );
    let actions = cast_from(&mut global, &t, "d", &format!("{{exchange,'d_25@vm',[{{gc,'<d:p1>',m}},{{gb,'<d:p2>',m}},{{gnew,'<d:p3>',m}}],[],{FIRST_TAG}}}"));
    assert!(actions.contains(&Action::Exit {
        pid: t.pid("<d:p1>"),
        reason: Term::atom("kill")
    }));
    let rpc = actions
        .iter()
        .find_map(|a| match a {
            Action::ResolveRpc { id, node, args } => Some((*id, *node, args.clone())),
            _ => None,
        })
        .expect("gb is held by a pid of b: resolved there");
    assert_eq!(rpc.1, t.node("b"));
    assert_eq!(
        rpc.2,
        vec![
            default.clone(),
            Term::atom("gb"),
            t.pid("<d:p2>").into(),
            t.pid("<b:p1>").into()
        ]
    );
    let actions = global.rpc_done(rpc.0, t.term("{badrpc,nodedown}"));
    let resolved = sends_of(&actions)
        .into_iter()
        .find(|(_, m)| format!("{m}").contains("resolved"))
        .expect("resolved is sent once all names are done")
        .1;
    let Some([_, _, res, ..]) = resolved.as_tuple().and_then(|c| c[1].as_tuple()) else {
        panic!("{resolved}");
    };
    assert_eq!(
        *res,
        Term::list(vec![Term::tuple(vec![
            Term::atom("insert"),
            Term::tuple(vec![Term::atom("gc"), ours.into(), default.clone()])
        ])]),
        "d is told to keep our gc"
    );

    cast_from(
        &mut global,
        &t,
        "d",
        &format!("{{resolved,'d_25@vm',[],[],unused,[],{FIRST_TAG}}}"),
    );
    assert_eq!(global.whereis(&Term::atom("gc")), Some(ours));
    assert_eq!(
        global.whereis(&Term::atom("gb")),
        Some(t.pid("<d:p2>")),
        "badrpc: the other side's pid is kept, as global does"
    );
    assert_eq!(global.whereis(&Term::atom("gnew")), Some(t.pid("<d:p3>")));
}

/// "C connects to A (late joiner)" seen from b: A's new_nodes names c; we connect to it and
/// tell it we are in sync; its in_sync completes our side.
#[test]
fn new_nodes_are_met() {
    let (t, mut global) = setup("us@vm", &[("a", "a_25@vm"), ("c", "c_25@vm")]);
    global.known.insert(t.node("a"), 8);
    let actions = msg(&mut global, &t, "a",
        "{'$gen_cast',{new_nodes,'a_25@vm',[{insert,{gx,'<c:p1>',m}}],[],[{'c_25@vm',8}],[{vsn,8},{lock,{global,['<a:locker>','<c:locker>']}}]}}",
    );
    assert!(actions.contains(&Action::Connect { node: t.node("c") }));
    assert_eq!(
        global.whereis(&Term::atom("gx")),
        Some(t.pid("<c:p1>")),
        "no global lock here: the ops stand"
    );
    let actions = global.connect_done(t.node("c"), true);
    assert_eq!(
        actions,
        vec![cast_to_gns(&t, "c", "{in_sync,'us@vm',true}")]
    );
    assert_eq!(global.known_nodes(), vec![t.node("a"), t.node("c")]);
    assert_eq!(
        global.node_up(t.node("c")),
        vec![],
        "c is known: no init_connect"
    );
    msg(
        &mut global,
        &t,
        "c",
        "{'$gen_cast',{in_sync,'c_25@vm',true}}",
    );
    assert!(global.synced.contains(&t.node("c")));
}

/// "A: erlang:disconnect_node(B)" and "C halts": lost connections are reported, and the
/// receivers drop the lost node.
#[test]
fn lost_connections_are_reported_and_acted_on() {
    let (t, mut global) = setup(
        "us@vm",
        &[("a", "a_25@vm"), ("b", "b_25@vm"), ("c", "c_25@vm")],
    );
    for n in ["a", "b", "c"] {
        global.known.insert(t.node(n), 8);
    }
    let actions = global.node_down(t.node("c"));
    let xcre = global.creation_extension + 7 - MIN_SMALL;
    let sends = sends_of(&actions);
    assert_eq!(sends.len(), 2, "to a and b");
    for (to, m) in &sends {
        assert_ne!(*to, gns(&t, "c"));
        let Some([tag, from, x, _, lost]) = m.as_tuple() else {
            panic!("{m}")
        };
        assert!(tag.is_atom("lost_connection"));
        assert_eq!(*from, Term::atom("us@vm"));
        assert_eq!(*x, Term::Int(xcre));
        assert_eq!(*lost, Term::atom("c_25@vm"));
    }

    let report = "{lost_connection,'a_25@vm',1598326472745136375,-576460752303423483,'b_25@vm'}";
    let actions = msg(&mut global, &t, "a", report);
    assert!(
        actions.contains(&to_gns(&t, "b", report)),
        "forwarded to all but a"
    );
    assert!(actions.contains(&to_gns(&t, "b", "{remove_connection,'us@vm'}")));
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::Send { to, .. } if *to == gns(&t, "a"))));
    assert_eq!(global.known_nodes(), vec![t.node("a")]);
    assert_eq!(msg(&mut global, &t, "a", report), vec![], "seen already");

    let actions = global.node_down(t.node("b"));
    assert_eq!(
        sends_of(&actions),
        vec![],
        "b was removed on purpose: its nodedown is not reported"
    );
}

#[test]
fn resolve_it_on_our_node_applies_globals_rules() {
    let (t, mut global) = setup("us@vm", &[("a", "a_25@vm")]);
    let (ours, theirs) = (t.pid("<u:p1>"), t.pid("<a:p1>"));
    let exit =
        Term::from(Fun::export(Atom::new("global"), Atom::new("random_exit_name"), 3).unwrap());
    let notify =
        Term::from(Fun::export(Atom::new("global"), Atom::new("notify_all_name"), 3).unwrap());
    let (winner, actions) = global.resolve_it(&[exit, Term::atom("n"), ours.into(), theirs.into()]);
    assert_eq!(winner, Term::from(theirs), "a_25@vm < us@vm: a's pid stays");
    assert_eq!(
        actions,
        vec![Action::Exit {
            pid: ours,
            reason: Term::atom("kill")
        }]
    );
    let (winner, actions) =
        global.resolve_it(&[notify, Term::atom("n"), ours.into(), theirs.into()]);
    assert_eq!(winner, Term::atom("none"));
    assert_eq!(actions.len(), 2);
}

#[test]
fn shapes_that_would_crash_a_beam_node_are_violations() {
    let (t, mut global) = setup("us@vm", &[("a", "a_25@vm")]);
    global.node_up(t.node("a"));
    assert_violations(
        &mut global,
        &t,
        &[
            "{'$gen_cast',{lock_set,notapid,true,[],1}}",
            "{'$gen_cast',{init_connect,{8,1},'a_25@vm',{locker,x,y,notapid}}}",
            "{'$gen_cast',{exchange,'a_25@vm',[{n,notapid,m}],[],1}}",
            "{'$gen_cast',{resolved,'a_25@vm',[],[\"a\"],unused,[],1}}",
            "{'$gen_cast',{new_nodes,'a_25@vm',[{insert,{n,x,m}}],[],[],[]}}",
            "{'$gen_call',{'<a.1>',t},{register,n,notapid,m}}",
            "{'$gen_call',{'<a.1>',t},{set_lock,notatuple}}",
            "{'$gen_call',notafrom,{set_lock,{r,i}}}",
        ],
    );
    for ignored in ["hello", "{'$gen_cast',{who,knows}}", "{async_del_name,n,p}"] {
        assert_eq!(
            global.message(Proc::Server, t.node("a"), &t.term(ignored)),
            Ok(vec![]),
            "{ignored}"
        );
    }
}

#[test]
fn we_unregister_everywhere_and_a_missing_name_at_once() {
    let (t, mut global) = setup("us@vm", &[("a", "a_25@vm")]);
    global.known.insert(t.node("a"), 8);
    let (request, actions) = global.unregister(Term::atom("nobody"));
    assert_eq!(
        actions,
        vec![Action::Done {
            request,
            result: Term::atom("ok")
        }]
    );
    msg(
        &mut global,
        &t,
        "a",
        "{'$gen_call',{'<a:registrar>',{'#R1@a','us@vm'}},{register,svc,'<a:p1>',m}}",
    );
    let (request, actions) = global.unregister(Term::atom("svc"));
    let actions = answer_first(&mut global, &actions, "true");
    let calls = calls_of(&actions);
    assert_eq!(calls[0].2, t.term("{unregister,svc}"));
    assert_eq!(
        global.whereis(&Term::atom("svc")),
        None,
        "gone here at once"
    );
    let actions = global.call_done(calls[0].0, Some(Term::atom("ok")));
    let actions = answer_first(&mut global, &actions, "true");
    assert_done(&actions, request, "ok");
}

/// Our locker led, the other side could not lock its partition: our locks are given back
/// (the peer's node first, the boss last) and the locker waits for its next turn.
#[test]
fn a_refused_connect_lock_is_given_back() {
    let (t, mut global) = setup("us@vm", &[("a", "a_25@vm")]);
    global.node_up(t.node("a"));
    let his_tag = -5_i64;
    let actions = cast_from(
        &mut global,
        &t,
        "a",
        &format!("{{init_connect,{{8,{his_tag}}},'a_25@vm',{{locker,x,#{{}},'<a:locker>'}}}}"),
    );
    let actions = global.timer(timers_of(&actions)[0]);
    answer_first(&mut global, &actions, "true");
    let actions = cast_from(
        &mut global,
        &t,
        "a",
        &format!("{{lock_set,'<a:locker>',false,[],{FIRST_TAG}}}"),
    );
    let calls = calls_of(&actions);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].1, t.node("a"));
    assert!(calls[0]
        .2
        .as_tuple()
        .is_some_and(|c| c[0].is_atom("del_lock")));
    let actions = global.call_done(calls[0].0, Some(Term::atom("true")));
    assert!(!global.table.is_locked(&Term::atom("global")));
    assert_eq!(timers_of(&actions).len(), 1, "the locker tries again later");
}

/// A lock_set from a node we have no session with is refused in the old form, straight to the
/// other locker (`send_lock_set/5` with version 5); one with a stale tag is not even passed on.
#[test]
fn lock_sets_without_a_session_are_refused() {
    let (t, mut global) = setup("us@vm", &[("a", "a_25@vm")]);
    let actions = global
        .message(
            Proc::Locker,
            t.node("a"),
            &t.term("{lock_set,'<a:locker>',true,['a_25@vm']}"),
        )
        .unwrap();
    assert_eq!(
        actions,
        vec![Action::Cast {
            from: Proc::Locker,
            to: Dest::Pid(t.pid("<a:locker>")),
            msg: t.term("{lock_set,'<u:locker>',false,[]}").into(),
        }]
    );
    global.node_up(t.node("a"));
    let actions = msg(
        &mut global,
        &t,
        "a",
        "{'$gen_cast',{lock_set,'<a:locker>',true,[],12345}}",
    );
    assert_eq!(
        actions,
        vec![],
        "a tag of no session of ours: dropped by the server"
    );
}

/// An init_connect that comes before our nodeup is kept and handled then (`pre_connect`).
#[test]
fn an_early_init_connect_waits_for_nodeup() {
    let (t, mut global) = setup("us@vm", &[("a", "a_25@vm")]);
    let early = "{'$gen_cast',{init_connect,{8,-9},'a_25@vm',{locker,x,#{},'<a:locker>'}}}";
    assert_eq!(msg(&mut global, &t, "a", early), vec![]);
    let actions = global.node_up(t.node("a"));
    let sends = sends_of(&actions);
    assert_eq!(sends.len(), 2, "our init_connect, then the ack of theirs");
    assert_eq!(
        sends[1],
        (
            gns(&t, "a"),
            t.term(&format!("{{init_connect_ack,'us@vm',-9,{FIRST_TAG}}}"))
        )
    );
}

/// The node's `in_sync` ends our session with it, and its `init_connect_ack` of that session
/// comes after (the two are sent by different processes of the node): the ack is out of sync,
/// so the node hears `cancel_connect`, but no session follows, so the names of its processes
/// stay (OTP 27 drops them and loses them for good here, while every other node keeps them).
#[test]
fn a_late_ack_of_an_ended_session_keeps_the_nodes_names() {
    let (t, mut global) = setup("us@vm", &[("a", "a_25@vm")]);
    let his_tag = greet(&mut global, &t, "a");
    cast_from(&mut global, &t, "a", "{in_sync,'a_25@vm',true}");
    msg(
        &mut global,
        &t,
        "a",
        "{'$gen_call',{'<a:registrar>',{'#Ref11@a','us@vm'}},{set_lock,{global,'<a:registrar>'}}}",
    );
    msg(
        &mut global,
        &t,
        "a",
        "{'$gen_call',{'<a:registrar>',{'#Ref14@a','us@vm'}},{register,ga,'<a:p1>',method}}",
    );
    msg(
        &mut global,
        &t,
        "a",
        "{'$gen_call',{'<a:registrar>',{'#Ref16@a','us@vm'}},{del_lock,{global,'<a:registrar>'}}}",
    );
    let late = format!("{{init_connect_ack,'a_25@vm',{FIRST_TAG},{his_tag}}}");
    let actions = msg(&mut global, &t, "a", &late);
    assert_eq!(
        sends_of(&actions),
        vec![(
            gns(&t, "a"),
            t.term(&format!("{{cancel_connect,'us@vm',{his_tag}}}"))
        )]
    );
    assert_eq!(global.whereis(&Term::atom("ga")), Some(t.pid("<a:p1>")));
}

/// Two, three and four of our nodes meet in every order the network allows: each run ends
/// with every node knowing every other and no lock left.
#[test]
fn our_nodes_mesh_whatever_the_interleaving() {
    for seed in 0..200 {
        let mut sim = sim::Sim::new(&["a", "b"], seed);
        sim.connect(0, 1);
        sim.run(100_000);
        sim.assert_meshed();

        let mut sim = sim::Sim::new(&["a", "b", "c"], seed);
        sim.connect(0, 1);
        sim.run(100_000);
        sim.connect(2, 0);
        sim.run(100_000);
        sim.assert_meshed();

        let mut sim = sim::Sim::new(&["a", "b", "c", "d"], seed);
        sim.connect(0, 1);
        sim.connect(2, 3);
        sim.run(100_000);
        sim.connect(1, 2);
        sim.run(100_000);
        sim.assert_meshed();

        // Every connection at once.
        let mut sim = sim::Sim::new(&["a", "b", "c", "d", "e"], seed);
        for i in 0..5 {
            for j in i + 1..5 {
                sim.connect(i, j);
            }
        }
        sim.run(200_000);
        sim.assert_meshed();
    }
}

/// A node killed at any point of its sync with a meshed pair: the pair stays meshed and
/// lock-free, and the node, restarted, meshes with both.
#[test]
fn a_node_killed_mid_sync_leaves_the_rest_working() {
    for seed in 0..40 {
        for cut in [1, 3, 6, 10, 15, 25, 40, 60] {
            let mut sim = sim::Sim::new(&["a", "b", "c"], seed);
            sim.connect(0, 1);
            sim.run(100_000);
            sim.connect(2, 0);
            for _ in 0..cut {
                sim.step();
            }
            sim.kill(2);
            sim.run(100_000);
            let (a, b) = (&sim.nodes[0], &sim.nodes[1]);
            assert_eq!(a.known_nodes(), vec![sim.node(1)], "seed {seed}, cut {cut}");
            assert_eq!(b.known_nodes(), vec![sim.node(0)], "seed {seed}, cut {cut}");
            for g in [a, b] {
                assert!(!g.table.is_locked(&Term::atom("global")));
            }
            sim.restart(2);
            sim.connect(2, 1);
            sim.run(100_000);
            sim.assert_meshed();
        }
    }
}

/// Names registered in two partitions before they meet: a clash keeps one holder
/// everywhere, the other names are everywhere.
#[test]
fn names_of_two_partitions_merge() {
    for seed in 0..50 {
        let mut sim = sim::Sim::new(&["a", "b", "c"], seed);
        sim.connect(0, 1);
        sim.run(100_000);
        let pid = |sim: &sim::Sim, i: usize, id: u32| Pid {
            node: sim.node(i),
            id,
            serial: 0,
            creation: 1,
        };
        let (pa, pa2, pc) = (pid(&sim, 0, 10), pid(&sim, 0, 11), pid(&sim, 2, 10));
        for (i, name, p) in [(0, "x", pa), (0, "only_a", pa2), (2, "x", pc)] {
            let (_, actions) = sim.nodes[i].register(Term::atom(name), p);
            sim.handle(i, actions);
            sim.run(100_000);
        }
        let pc2 = pid(&sim, 2, 11);
        let (_, actions) = sim.nodes[2].register(Term::atom("only_c"), pc2);
        sim.handle(2, actions);
        sim.run(100_000);
        sim.connect(2, 1);
        sim.run(100_000);
        sim.assert_meshed();
        for g in &sim.nodes {
            assert_eq!(
                g.registered_names(),
                vec![Term::atom("only_a"), Term::atom("only_c"), Term::atom("x")]
            );
            assert_eq!(
                g.whereis(&Term::atom("x")),
                Some(pa),
                "a < c: the pid of a stays"
            );
        }
        assert!(
            sim.log.iter().any(|(_, a)| *a
                == Action::Exit {
                    pid: pc,
                    reason: Term::atom("kill")
                }),
            "the other holder is killed"
        );
    }
}

/// A `new_nodes` goes to every known node as one message shared by its casts, not a copy
/// each: its ops may carry a million names and global may know thousands of nodes.
#[test]
fn one_new_nodes_message_is_shared_by_its_casts() {
    let mut sim = sim::Sim::new(&["a", "b", "c", "d"], 1);
    sim.connect(0, 1);
    sim.run(100_000);
    sim.connect(0, 2);
    sim.run(100_000);
    sim.connect(3, 0);
    sim.run(100_000);
    sim.assert_meshed();
    let casts: Vec<&std::sync::Arc<Term>> = sim
        .log
        .iter()
        .filter_map(|(at, action)| match action {
            Action::Cast { msg, .. } if *at == 0 && format!("{msg}").contains("new_nodes") => {
                Some(msg)
            }
            _ => None,
        })
        .collect();
    let mut pairs = 0;
    for (i, a) in casts.iter().enumerate() {
        for b in casts[i + 1..].iter().filter(|b| a == *b) {
            assert!(std::sync::Arc::ptr_eq(a, b), "a copy of {a}");
            pairs += 1;
        }
    }
    assert!(pairs > 0, "a's new_nodes went to b and c: {casts:?}");
}

/// Ops apply as `do_ops/5` does whatever their order: external inserts, other inserts, then
/// deletes (a delete wins over an insert of the same name).
#[test]
fn ops_apply_inserts_then_deletes() {
    let (t, mut global) = setup("us@vm", &[("a", "a_25@vm"), ("c", "c_25@vm")]);
    global.known.insert(t.node("a"), 8);
    msg(
        &mut global,
        &t,
        "a",
        "{'$gen_cast',{new_nodes,'a_25@vm',\
           [{delete,gone},{insert,{gone,'<c:p1>',m}},{insert,{kept,'<c:p2>',m}},\
            {insert,{ext,'<c:p3>',m}}],\
           [{ext,'<c:p3>','a_25@vm'},{other,'<c:p9>','a_25@vm'}],\
           [],[{vsn,8},{lock,{global,['<a:locker>','<c:locker>']}}]}}",
    );
    assert_eq!(global.whereis(&Term::atom("gone")), None);
    assert_eq!(global.whereis(&Term::atom("kept")), Some(t.pid("<c:p2>")));
    assert_eq!(
        global.table.ext_list(),
        t.term("[{ext,'<c:p3>','a_25@vm'}]"),
        "an external name is one named in both lists"
    );
}

/// Every message that names its sender must come over that node's connection: a peer cannot
/// open sessions, hold locks or end syncs in the name of another node.
#[test]
fn messages_in_the_name_of_another_node_are_violations() {
    let (t, mut global) = setup("us@vm", &[("a", "a_25@vm"), ("c", "c_25@vm")]);
    global.node_up(t.node("a"));
    assert_violations(
        &mut global,
        &t,
        &[
            "{'$gen_cast',{init_connect,{8,1},'c_25@vm',{locker,x,#{},'<c:locker>'}}}",
            "{'$gen_cast',{init_connect,{8,1},'a_25@vm',{locker,x,#{},'<c:locker>'}}}",
            "{init_connect_ack,'c_25@vm',1,2}",
            "{cancel_connect,'c_25@vm',1}",
            "{'$gen_cast',{exchange,'c_25@vm',[],[],1}}",
            "{'$gen_cast',{resolved,'c_25@vm',[],[],unused,[],1}}",
            "{'$gen_cast',{new_nodes,'c_25@vm',[],[],[],[]}}",
            "{'$gen_cast',{in_sync,'c_25@vm',true}}",
            "{'$gen_cast',{lock_set,'<c:locker>',true,[],1}}",
            "{'$gen_cast',{lock_set,'<c:locker>',true,[]}}",
            "{remove_connection,'c_25@vm'}",
            "{'$gen_call',{'<c:registrar>',t},{set_lock,{global,'<c:registrar>'}}}",
        ],
    );
    assert!(global
        .message(
            Proc::Locker,
            t.node("a"),
            &t.term("{lock_set,'<c:locker>',true,[]}")
        )
        .is_err());
    assert!(
        global.sessions.keys().all(|&n| n == t.node("a")),
        "no session was opened for c"
    );
}

/// Names, locks, nodes, lost connections and waiting lock_sets stay within [`Limits`].
#[test]
fn peers_cannot_grow_our_tables_beyond_the_limits() {
    let limits = Limits {
        max_names: 2,
        max_locks: 2,
        max_nodes: 2,
    };
    let (t, mut global) = setup_with("us@vm", &[("a", "a_25@vm")], limits);
    let a = t.node("a");
    let mut send = |text: &str| global.message(Proc::Server, a, &t.term(text));
    for name in ["n1", "n2"] {
        let call = format!("{{'$gen_call',{{'<a:r>',t}},{{register,{name},'<a:p1>',m}}}}");
        assert!(send(&call).is_ok());
    }
    assert!(
        send("{'$gen_call',{'<a:r>',t},{register,n1,'<a:p2>',m}}").is_ok(),
        "a name held already takes no room"
    );
    assert!(send("{'$gen_call',{'<a:r>',t},{register,n3,'<a:p1>',m}}").is_err());
    // Locks count by holder: two processes on r1 fill the room.
    assert!(send("{'$gen_call',{'<a:r>',t},{set_lock,{r1,x}}}").is_ok());
    assert!(send("{'$gen_call',{'<a:s>',t},{set_lock,{r1,x}}}").is_ok());
    assert!(
        send("{'$gen_call',{'<a:s>',t},{set_lock,{r1,x}}}").is_ok(),
        "a lock held already takes no room"
    );
    assert!(send("{'$gen_call',{'<a:r>',t},{set_lock,{r2,x}}}").is_err());
    assert!(send("{'$gen_call',{'<a:u>',t},{set_lock,{r1,x}}}").is_err());
    assert!(send(
        "{'$gen_cast',{exchange,'a_25@vm',[{x,'<a:p>',m},{y,'<a:p>',m},{z,'<a:p>',m}],[],1}}"
    )
    .is_err());
    assert!(send("{'$gen_cast',{new_nodes,'a_25@vm',[],[],['b@vm','c@vm','d@vm'],[]}}").is_err());
    assert!(send("{'$gen_cast',{new_nodes,'a_25@vm',[],[],['b@vm'],[]}}").is_ok());
    assert!(send("{'$gen_cast',{new_nodes,'a_25@vm',[],[],['b@vm','c@vm'],[]}}").is_ok());
    assert!(send("{'$gen_cast',{new_nodes,'a_25@vm',[],[],['d@vm'],[]}}").is_err());
    for lost in ["x@vm", "y@vm", "z@vm"] {
        let report = format!("{{lost_connection,'{lost}',1,1,'q@vm'}}");
        assert!(send(&report).is_ok());
    }
    assert_eq!(global.lost.len(), 2, "the oldest report is forgotten");
    assert!(global
        .lost
        .contains_key(&(Atom::new("z@vm"), Atom::new("q@vm"))));

    // Our locker busy with a call to a: the lock_sets a sends meanwhile wait, up to a bound.
    let init = "{'$gen_cast',{init_connect,{8,-5},'a_25@vm',{locker,x,#{},'<a:locker>'}}}";
    global.known.clear();
    global.node_up(a);
    let actions = global.message(Proc::Server, a, &t.term(init)).unwrap();
    let timer = timers_of(&actions)[0];
    assert_eq!(calls_of(&global.timer(timer)).len(), 1);
    let old_form = t.term("{lock_set,'<a:other>',true,[]}");
    for _ in 0..2 {
        assert!(global.message(Proc::Locker, a, &old_form).is_ok());
    }
    assert!(global.message(Proc::Locker, a, &old_form).is_err());
}

/// Timers a peer's messages arm are cancelled when they are replaced: a `lost_connection`
/// report's by the next report of the same pair or by its eviction, the locker's wait by the
/// next one. Without it, a peer repeating reports grew the driver's timers without end.
#[test]
fn replaced_timers_are_cancelled() {
    let limits = Limits {
        max_nodes: 2,
        ..Limits::default()
    };
    let (t, mut global) = setup_with("us@vm", &[("a", "a_25@vm")], limits);
    let a = t.node("a");
    let mut live = HashSet::new();
    let mut count = |actions: Vec<Action>| {
        for action in actions {
            match action {
                Action::Timer { id, .. } => assert!(live.insert(id)),
                Action::CancelTimer { id } => assert!(live.remove(&id), "{id} is live"),
                _ => {}
            }
        }
    };
    global.node_up(a);
    let init = "{'$gen_cast',{init_connect,{8,-5},'a_25@vm',{locker,x,#{},'<a:locker>'}}}";
    count(global.message(Proc::Server, a, &t.term(init)).unwrap());
    for op in 1..=50 {
        let lost = ["x@vm", "y@vm", "z@vm"][op % 3];
        let report = format!("{{lost_connection,'{lost}',1,{op},'q@vm'}}");
        count(global.message(Proc::Server, a, &t.term(&report)).unwrap());
        let nothing_new = "{'$gen_cast',{new_nodes,'a_25@vm',[],[],[],[]}}";
        count(
            global
                .message(Proc::Server, a, &t.term(nothing_new))
                .unwrap(),
        );
    }
    assert_eq!(global.lost.len(), 2);
    assert_eq!(
        live.len(),
        3,
        "one timer per remembered report and the locker's wait: {live:?}"
    );
}

/// While our locker waits for a call's reply, messages that would change nothing when their
/// turn came are not queued, and each node's `lock_set`s are bounded apart. Before, a peer
/// sending `new_nodes` of no new node and `exchange`s of no session's tag grew the queue
/// without end, each message scanning all before it, and one node's `lock_set`s filled the
/// room of every node's.
#[test]
fn a_busy_locker_queues_nothing_moot_and_bounds_each_nodes_lock_sets() {
    let limits = Limits {
        max_nodes: 3,
        ..Limits::default()
    };
    let (t, mut global) = setup_with("us@vm", &[("a", "a_25@vm"), ("b", "b_25@vm")], limits);
    let (a, b) = (t.node("a"), t.node("b"));
    global.node_up(a);
    let init = "{'$gen_cast',{init_connect,{8,-5},'a_25@vm',{locker,x,#{},'<a:locker>'}}}";
    let actions = global.message(Proc::Server, a, &t.term(init)).unwrap();
    let timer = timers_of(&actions)[0];
    assert_eq!(calls_of(&global.timer(timer)).len(), 1, "the locker waits");
    for tag in 0..1000 {
        let nothing_new = "{'$gen_cast',{new_nodes,'a_25@vm',[],[],[],[]}}";
        global
            .message(Proc::Server, a, &t.term(nothing_new))
            .unwrap();
        let no_session = format!("{{'$gen_cast',{{exchange,'a_25@vm',[],[],{tag}}}}}");
        global
            .message(Proc::Server, a, &t.term(&no_session))
            .unwrap();
    }
    assert_eq!(global.locker.queued(), 0);

    let lock_set = |node: &str| t.term(&format!("{{lock_set,'<{node}:other>',true,[]}}"));
    for _ in 0..3 {
        global.message(Proc::Locker, a, &lock_set("a")).unwrap();
    }
    assert!(global.message(Proc::Locker, a, &lock_set("a")).is_err());
    assert!(global.message(Proc::Locker, b, &lock_set("b")).is_ok());
    assert_eq!(global.locker.queued(), 4);
}

/// A call that finds the table full costs the node whose processes hold the most of it its
/// connection, and what they hold, rather than the caller's: before, a node that filled the
/// table made the next node to register a name or take a lock lose its connection.
#[test]
fn a_full_table_costs_its_largest_holder_its_connection_not_the_next_callers() {
    let nodes = [("a", "a_25@vm"), ("b", "b_25@vm")];
    let (t, mut global) = setup_with("us@vm", &nodes, tables(3, 3));
    let (a, b) = (t.node("a"), t.node("b"));
    let mut call = |node: Atom, text: &str| global.message(Proc::Server, node, &t.term(text));
    for name in ["n1", "n2", "n3"] {
        call(a, &register_call("a", name)).unwrap();
    }
    let actions = call(b, &register_call("b", "nb")).unwrap();
    assert_eq!(disconnects_of(&actions), vec![a]);
    for r in ["r1", "r2", "r3"] {
        call(b, &set_lock_call("b", r)).unwrap();
    }
    assert!(
        call(b, &set_lock_call("b", "r4")).is_err(),
        "b holds the most: its own call is the violation"
    );
    assert_eq!(global.registered_names(), vec![t.term("nb")]);
    assert_eq!(global.table.holdings(), 3);
}

/// Room for `names` global names and `locks` locks; the other limits their defaults.
fn tables(names: usize, locks: usize) -> Limits {
    Limits {
        max_names: names,
        max_locks: locks,
        ..Limits::default()
    }
}

/// A process of `node` registers `name` for a pid of `node` named after it.
fn register_call(node: &str, name: &str) -> String {
    format!("{{'$gen_call',{{'<{node}:r>',t}},{{register,{name},'<{node}:{name}>',m}}}}")
}

/// A process of `node` named after `resource` takes a lock on it.
fn set_lock_call(node: &str, resource: &str) -> String {
    format!("{{'$gen_call',{{'<{node}:{resource}>',t}},{{set_lock,{{{resource},x}}}}}}")
}

/// Only what is full counts: with the locks full of b's, a lock c takes costs b its
/// connection, not a, whose processes hold more names than b's hold locks.
#[test]
fn a_full_lock_table_costs_a_holder_of_locks_not_of_names() {
    let nodes = [("a", "a_25@vm"), ("b", "b_25@vm"), ("c", "c_25@vm")];
    let (t, mut global) = setup_with("us@vm", &nodes, tables(5, 2));
    let (a, b, c) = (t.node("a"), t.node("b"), t.node("c"));
    let mut call = |node: Atom, text: &str| global.message(Proc::Server, node, &t.term(text));
    for name in ["n1", "n2", "n3", "n4", "n5"] {
        call(a, &register_call("a", name)).unwrap();
    }
    for r in ["r1", "r2"] {
        call(b, &set_lock_call("b", r)).unwrap();
    }
    let actions = call(c, &set_lock_call("c", "r3")).unwrap();
    assert_eq!(disconnects_of(&actions), vec![b]);
    assert_eq!(global.registered_names().len(), 5);
    assert_eq!(global.table.holdings(), 1);
}

/// What we pass on to our partition in `new_nodes` is checked as BEAM reads it: external
/// names must be a proper list (a list comprehension over anything else crashes global).
#[test]
fn external_names_that_beam_could_not_read_are_violations() {
    let (t, mut global) = setup("us@vm", &[("a", "a_25@vm")]);
    assert_violations(
        &mut global,
        &t,
        &[
            "{'$gen_cast',{resolved,'a_25@vm',[],[],unused,notalist,1}}",
            "{'$gen_cast',{new_nodes,'a_25@vm',[],[{n,'<a:p>','a_25@vm'}|tail],[],[]}}",
        ],
    );
}

/// `fun random_exit_name/3` as `global:register_name/2` sends it (a local fun of module
/// global, taken from an OTP 25 node) is global's default rule; a fun of another module,
/// which only BEAM could run, makes both sides delete the name and kills nobody, as a BEAM
/// node that cannot run the method does.
#[test]
fn resolve_methods_we_cannot_run_kill_nobody() {
    let (t, mut global) = setup("us@vm", &[("a", "a_25@vm")]);
    let (ours, theirs) = (t.pid("<u:p1>"), t.pid("<a:p1>"));
    let beam_default = crate::term::decode::decode(&[
        131, 112, 0, 0, 0, 73, 3, 215, 64, 169, 178, 165, 243, 6, 57, 45, 13, 118, 130, 71, 140,
        64, 34, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 6, 103, 108, 111, 98, 97, 108, 97, 0, 98, 6, 186,
        5, 77, 88, 100, 0, 12, 102, 101, 110, 99, 49, 52, 53, 55, 50, 64, 118, 109, 0, 0, 0, 9, 0,
        0, 0, 0, 107, 19, 180, 100,
    ])
    .expect("#Fun<global.0.112854349>");
    let (winner, actions) =
        global.resolve_it(&[beam_default, Term::atom("n"), ours.into(), theirs.into()]);
    assert_eq!(winner, Term::from(theirs));
    assert_eq!(
        actions,
        vec![Action::Exit {
            pid: ours,
            reason: Term::atom("kill")
        }]
    );

    let foreign =
        Term::from(Fun::export(Atom::new("lists"), Atom::new("reverse"), 3).expect("short"));
    let (result, actions) =
        global.resolve_it(&[foreign, Term::atom("n"), ours.into(), theirs.into()]);
    assert!(
        matches!(result.as_tuple(), Some([tag, _]) if tag.is_atom("EXIT")),
        "{result}"
    );
    assert_eq!(actions, vec![], "nobody is killed");
}
