//! Cluster membership against real BEAM clusters (`BeamCluster`: one cookie, `-kernel start_pg
//! true`, meshed by global): our visible node in global (sync, names both ways, trans, clashes,
//! late joiners, a node killed mid-sync), pg scopes from hidden and visible nodes, node events,
//! and Phoenix.PubSub's pg adapter reproduced by `tests/erlang/erldp_pubsub.erl`.
//!
//! The system OTP (25) runs every test; with the OTP 27 and 29 chroots, mixed clusters run the
//! global tests (25, 27 and 29 together) and the pg tests where pg's versions allow it (25 with
//! 27, 27 with 29: OTP 25's pg cannot share a scope with OTP 29's, see `pg_compatible`).
//! Waits poll with a deadline; nothing asserts how fast anything is.

use std::time::Duration;

use erldp::{Dest, Mailbox, MessageKind, Node, Pid, Reply, ServeOptions, Term, DEFAULT_SCOPE};
use erldp_testkit::{
    erl_atom, eventually_some, pg_compatible, random_name, BeamCluster, BeamPeer, Otp,
};

mod common;
use common::next_message;

/// The longest any wait here may take before the test fails.
const T: Duration = Duration::from_secs(30);

fn start_node(cluster: &BeamCluster, prefix: &str, hidden: bool) -> Node {
    Node::builder(random_name(prefix))
        .cookie(cluster.cookie())
        .hidden(hidden)
        .start()
        .expect("node")
}

/// Our visible node joined to `cluster` through its first node, meshed and synced everywhere.
fn joined(cluster: &mut BeamCluster, prefix: &str) -> Node {
    let node = start_node(cluster, prefix, false);
    node.connect(&cluster.nodes()[0]).expect("connect");
    cluster.await_mesh(&[node.name().as_str()]);
    node
}

/// A cluster of `otps`' visible nodes with our visible node joined to it.
fn joined_visible(otps: &[Otp]) -> (BeamCluster, Node) {
    let mut cluster = cluster_of(otps, false);
    let node = joined(&mut cluster, "rs");
    (cluster, node)
}

/// A new mailbox of ours, registered in global as `name`; `label` names the
/// cluster's releases.
fn registered(node: &Node, name: &str, label: &str) -> Mailbox {
    let inbox = node.mailbox(None).expect("mailbox");
    assert!(
        node.register_global(&Term::atom(name), inbox.pid())
            .expect("register"),
        "{label}: {name}"
    );
    inbox
}

/// Every BEAM node of the cluster and ours, as an Erlang list.
fn all_nodes(cluster: &BeamCluster, node: &Node) -> String {
    let mut nodes = cluster.nodes();
    nodes.push(node.name().to_string());
    format!(
        "[{}]",
        nodes
            .iter()
            .map(|n| erl_atom(n))
            .collect::<Vec<_>>()
            .join(",")
    )
}

/// Binds `var` in `peer`'s shell to `term`, sent from our node: how a pid of ours reaches a
/// BEAM test.
fn hand_over(peer: &mut BeamPeer, node: &Node, var: &str, term: Term) {
    peer.eval_ok("erldp_test:collect(erldp_hand_over).");
    node.send(&Dest::name("erldp_hand_over", peer.node()), term)
        .expect("send");
    peer.eval_ok(&format!(
        "[{var}] = erldp_test:collected(erldp_hand_over, 1, 10000), ok."
    ));
}

fn sorted(mut pids: Vec<Pid>) -> Vec<Pid> {
    pids.sort_by_key(|pid| Term::from(*pid));
    pids
}

/// The releases a global test runs on: OTP 25 alone, and 25, 27 and 29 together.
fn global_clusters() -> Vec<Vec<Otp>> {
    let available = Otp::available();
    let mut clusters = vec![vec![Otp::System, Otp::System]];
    if available.len() > 1 {
        clusters.push(available);
    }
    clusters
}

/// The releases a pg test runs on: 25, 25 with 27, and 27 with 29.
fn pg_clusters() -> Vec<Vec<Otp>> {
    let available = Otp::available();
    let mut clusters = vec![vec![Otp::System, Otp::System]];
    for pair in available.windows(2) {
        let pair = pair.to_vec();
        if pg_compatible(&pair) {
            clusters.push(pair);
        }
    }
    clusters
}

fn cluster_of(otps: &[Otp], start_pg: bool) -> BeamCluster {
    let mut builder = BeamCluster::builder().start_pg(start_pg);
    for otp in otps {
        builder = builder.node(otp.clone());
    }
    builder.start()
}

/// Runs `test` on each cluster of [`global_clusters`], with its releases,
/// their label, and a visible node of ours that joined it.
fn on_global_clusters(mut test: impl FnMut(&[Otp], &str, BeamCluster, Node)) {
    for otps in global_clusters() {
        let (cluster, node) = joined_visible(&otps);
        test(&otps, &label(&otps), cluster, node);
    }
}

fn label(otps: &[Otp]) -> String {
    otps.iter().map(Otp::release).collect::<Vec<_>>().join("+")
}

#[test]
fn a_visible_node_takes_part_in_global() {
    on_global_clusters(|_, label, mut cluster, node| {
        let us = node.name().to_string();
        let nodes = all_nodes(&cluster, &node);
        let beams = cluster.node_list();
        cluster.assert_synced(T);

        // A name registered on BEAM is known here without asking anyone.
        cluster
            .peer(0)
            .eval_ok("{yes, Svc} = erldp_cluster:register_name(svc).");
        let svc = eventually_some("svc known here", || {
            node.whereis_global(&Term::atom("svc")).expect("whereis")
        });
        hand_over(cluster.peer(1), &node, "SvcHere", Term::from(svc));
        cluster.peer(1).eval_ok(&format!(
            "SvcHere = global:whereis_name(svc), erldp_cluster:await_whereis(svc, {beams}, SvcHere, 1)."
        ));
        assert_eq!(node.global_names().expect("names"), vec![Term::atom("svc")]);

        // Ours is known on every BEAM node once registering returns.
        let inbox = node.mailbox(Some("inbox")).expect("mailbox");
        assert!(node
            .register_global(&Term::atom("ours"), inbox.pid())
            .expect("register"));
        hand_over(cluster.peer(0), &node, "Ours", Term::from(inbox.pid()));
        cluster.peer(0).eval_ok(&format!(
            "erldp_cluster:await_whereis(ours, {beams}, Ours, 10000)."
        ));
        assert!(
            !node
                .register_global(&Term::atom("svc"), inbox.pid())
                .expect("register"),
            "{label}: svc is taken"
        );

        // A global name is a destination: send, call and monitor resolve it.
        cluster.peer(1).eval_ok(&format!(
            "{{inbox, '{us}'}} ! ok, global:send(ours, {{hello, node()}})."
        ));
        let first = next_message(&inbox);
        assert_eq!(first.term, Term::atom("ok"), "{label}");
        let hello = next_message(&inbox);
        assert_eq!(
            hello.term,
            Term::tuple(vec![Term::atom("hello"), Term::atom(&cluster.nodes()[1])]),
            "{label}"
        );
        let other = node.mailbox(None).expect("mailbox");
        other
            .send(&Dest::global("ours"), Term::atom("via_global"))
            .expect("send");
        assert_eq!(next_message(&inbox).term, Term::atom("via_global"));
        let reference = other.monitor(&Dest::global("svc")).expect("monitor");
        assert!(other.send(&Dest::global("nobody"), Term::nil()).is_err());
        let unknown = node
            .call(&Dest::global("nobody"), Term::nil(), T)
            .expect_err("nobody holds the name");
        assert_eq!(
            unknown.to_string(),
            "remote exit: noproc (no process {global,nobody} to call)",
            "{label}"
        );

        // global:trans takes its lock on our node too.
        assert_eq!(
            cluster.peer(0).eval_ok(&format!(
                "erldp_cluster:trans({{res, self()}}, {nodes}, 30000)."
            )),
            format!("{{ran,{}}}", cluster.nodes()[0]),
            "{label}"
        );

        // A name goes everywhere when its holder ends: the BEAM one, then ours.
        cluster.peer(0).eval_ok("exit(Svc, kill).");
        let down = next_message(&other);
        assert_eq!(
            (down.kind, down.reference),
            (MessageKind::Down, Some(reference))
        );
        eventually_some("svc gone here", || {
            node.whereis_global(&Term::atom("svc"))
                .expect("whereis")
                .is_none()
                .then_some(())
        });
        inbox.close(Term::atom("normal"));
        cluster.peer(0).eval_ok(&format!(
            "erldp_cluster:await_whereis(ours, {beams}, undefined, 10000)."
        ));
        cluster.assert_synced(T);
    });
}

#[test]
fn late_joiners_are_meshed_and_a_node_killed_mid_sync_leaves_the_rest_working() {
    on_global_clusters(|otps, label, mut cluster, node| {
        let us = node.name().to_string();

        // A BEAM node that connects to one BEAM node only is meshed with everyone, us included:
        // global tells the others about it and each side connects.
        let late = cluster.add(otps[otps.len() - 1].clone());
        let first = cluster.nodes()[0].clone();
        cluster.connect(late, &first);
        cluster.await_mesh(&[&us]);
        assert!(
            node.nodes()
                .iter()
                .any(|n| n.as_str() == cluster.nodes()[late]),
            "{label}: the late node connected to us"
        );

        // One that connects to us and dies at once, in the middle of the name exchange.
        let doomed = cluster.add(otps[0].clone());
        cluster.connect(doomed, &us);
        cluster.peer(doomed).kill9();
        drop(cluster.remove(doomed));
        cluster.await_mesh(&[&us]);
        cluster.assert_synced(T);
        let inbox = registered(&node, "after_kill", label);
        let beams = cluster.node_list();
        hand_over(cluster.peer(late), &node, "Inbox", Term::from(inbox.pid()));
        cluster.peer(late).eval_ok(&format!(
            "erldp_cluster:await_whereis(after_kill, {beams}, Inbox, 10000)."
        ));
    });
}

/// A BEAM node named `beam_prefix...` whose process (`Theirs` on it) holds the global name
/// `clash`, and our node named `our_prefix...` whose mailbox holds it too, connected and meshed:
/// the clash has been met.
fn clash(beam_prefix: &str, our_prefix: &str) -> (BeamCluster, Node, Mailbox) {
    let mut cluster = BeamCluster::builder()
        .name_prefix(beam_prefix)
        .node(Otp::System)
        .start();
    let node = start_node(&cluster, our_prefix, false);
    let ours = node.mailbox(None).expect("mailbox");
    assert!(node
        .register_global(&Term::atom("clash"), ours.pid())
        .expect("register"));
    cluster
        .peer(0)
        .eval_ok("{yes, Theirs} = erldp_cluster:register_name(clash).");
    node.connect(&cluster.nodes()[0]).expect("connect");
    cluster.await_mesh(&[node.name().as_str()]);
    (cluster, node, ours)
}

/// Three nodes that share a cookie and are not connected: a BEAM node of a smaller name than
/// ours, our visible node, a BEAM node of a larger one.
fn apart() -> (BeamCluster, BeamCluster, Node) {
    let cookie = erldp_testkit::random_cookie();
    let beam = |prefix: &str| {
        BeamCluster::builder()
            .cookie(cookie.clone())
            .name_prefix(prefix)
            .node(Otp::System)
            .start()
    };
    let (small, large) = (beam("aa_"), beam("zz_"));
    let node = Node::builder(random_name("mm_"))
        .cookie(cookie)
        .hidden(false)
        .start()
        .expect("node");
    (small, large, node)
}

/// Two partitions holding the same name meet: the node with the smaller name decides with the
/// method of its own entry; `random_exit_name/3`, global's default, keeps the process of the
/// node with the smaller name and kills the other.
#[test]
fn name_clashes_are_resolved_by_globals_default_rule() {
    // We decide, and win: our node's name is the smaller.
    let (mut cluster, node, ours) = clash("zz_", "aa_");
    hand_over(cluster.peer(0), &node, "Ours", Term::from(ours.pid()));
    let beams = cluster.node_list();
    cluster.peer(0).eval_ok(&format!(
        "erldp_cluster:await_whereis(clash, {beams}, Ours, 10000), \
         erldp_test:wait_for(fun() -> not is_process_alive(Theirs) end, 10000)."
    ));
    assert_eq!(
        node.whereis_global(&Term::atom("clash")).expect("whereis"),
        Some(ours.pid())
    );
    drop(cluster);

    // The BEAM node decides, and kills ours: an exit signal `kill` reaches our mailbox.
    let (mut cluster, node, ours) = clash("aa_", "zz_");
    let killed = next_message(&ours);
    assert_eq!(
        (killed.kind, killed.reason),
        (MessageKind::Exit, Some(Term::atom("kill")))
    );
    let theirs = eventually_some("their pid holds the name here", || {
        node.whereis_global(&Term::atom("clash"))
            .expect("whereis")
            .filter(|pid| pid.node.as_str() == cluster.nodes()[0])
    });
    hand_over(cluster.peer(0), &node, "Winner", Term::from(theirs));
    cluster.peer(0).eval_ok("Winner = Theirs.");
    drop(cluster);

    // We decide, and our process loses to one of a third node smaller than both: it is closed
    // as `killed`.
    let (mut small, large, node) = apart();
    let (small_node, large_node) = (small.nodes()[0].clone(), large.nodes()[0].clone());
    small.connect(0, &large_node);
    small.peer(0).eval_ok(&format!(
        "erldp_cluster:await_mesh([{}, {}], 30000).",
        erl_atom(&small_node),
        erl_atom(&large_node)
    ));
    small
        .peer(0)
        .eval_ok("{yes, Theirs} = erldp_cluster:register_name(clash).");
    let ours = node.mailbox(None).expect("mailbox");
    assert!(node
        .register_global(&Term::atom("clash"), ours.pid())
        .expect("register"));
    let watcher = node.mailbox(None).expect("mailbox");
    let reference = watcher.monitor(&Dest::Pid(ours.pid())).expect("monitor");
    node.connect(&large_node).expect("connect");
    let down = next_message(&watcher);
    assert_eq!(
        (down.kind, down.reference, down.reason),
        (
            MessageKind::Down,
            Some(reference),
            Some(Term::atom("killed"))
        )
    );
    assert!(ours.is_closed());
    let both = format!("[{}, {}]", erl_atom(&small_node), erl_atom(&large_node));
    small.peer(0).eval_ok(&format!(
        "erldp_cluster:await_mesh({both}, [{}], 30000), \
         erldp_cluster:await_whereis(clash, {both}, Theirs, 10000), true = is_process_alive(Theirs).",
        erl_atom(node.name().as_str())
    ));
    drop((small, large, node));

    // A BEAM node of our partition decides, against a node larger than both, over the name our
    // process holds: it runs global:resolve_it/4 on our node (rpc:call to the holder's node),
    // which keeps ours, of the smaller node, and kills theirs. Before our node answered that
    // call, it was undef: the BEAM node took the other pid, and our node kept no entry.
    let (mut small, mut large, node) = apart();
    node.connect(&small.nodes()[0]).expect("connect");
    small.await_mesh(&[node.name().as_str()]);
    let ours = node.mailbox(None).expect("mailbox");
    assert!(node
        .register_global(&Term::atom("clash"), ours.pid())
        .expect("register"));
    hand_over(small.peer(0), &node, "Ours", Term::from(ours.pid()));
    let smaller = small.node_list();
    small.peer(0).eval_ok(&format!(
        "erldp_cluster:await_whereis(clash, {smaller}, Ours, 10000)."
    ));
    large
        .peer(0)
        .eval_ok("{yes, Theirs} = erldp_cluster:register_name(clash).");
    let large_node = large.nodes()[0].clone();
    small.connect(0, &large_node);
    let all = format!(
        "[{}, {}]",
        erl_atom(&small.nodes()[0]),
        erl_atom(&large_node)
    );
    small.peer(0).eval_ok(&format!(
        "erldp_cluster:await_mesh({all}, [{}], 30000), \
         erldp_cluster:await_whereis(clash, {all}, Ours, 10000).",
        erl_atom(node.name().as_str())
    ));
    large
        .peer(0)
        .eval_ok("erldp_test:wait_for(fun() -> not is_process_alive(Theirs) end, 10000).");
    assert_eq!(
        node.whereis_global(&Term::atom("clash")).expect("whereis"),
        Some(ours.pid())
    );
}

/// A BEAM node of our partition meets another partition: its `new_nodes` tells us the other
/// side's nodes and names, mostly before those nodes have connected to us. The names stay here
/// as on every BEAM node: a monitor of their processes waits for the connect, as
/// `erlang:monitor/2` does, where it fired `noconnection` at once and dropped them.
#[test]
fn names_a_peer_brings_from_nodes_we_have_not_met_yet_stay() {
    for round in 0..3 {
        let (mut near, mut far, node) = apart();
        let us = node.name().to_string();
        node.connect(&near.nodes()[0]).expect("connect");
        near.await_mesh(&[&us]);
        let far_node = far.nodes()[0].clone();
        far.peer(0)
            .eval_ok("{yes, Far} = erldp_cluster:register_name(far_name).");
        near.connect(0, &far_node);
        near.await_mesh(&[&far_node, &us]);
        let inbox = node.mailbox(Some("far_pid")).expect("mailbox");
        far.peer(0)
            .eval_ok(&format!("{{far_pid, {}}} ! Far, ok.", erl_atom(&us)));
        let far_pid = next_message(&inbox).term.as_pid().expect("a pid");
        eventually_some(&format!("round {round}: far_name here"), || {
            node.whereis_global(&Term::atom("far_name"))
                .expect("whereis")
                .filter(|&pid| pid == far_pid)
        });
    }
}

#[test]
fn a_hidden_node_registers_no_names_and_asks_its_peers_where_names_are() {
    let mut cluster = BeamCluster::builder().nodes(2, Otp::System).start();
    let node = start_node(&cluster, "rs", true);
    node.connect(&cluster.nodes()[0]).expect("connect");
    let inbox = node.mailbox(Some("inbox")).expect("mailbox");
    let err = node
        .register_global(&Term::atom("mine"), inbox.pid())
        .expect_err("hidden");
    assert!(err.to_string().contains("hidden"), "{err}");
    assert_eq!(
        node.whereis_global(&Term::atom("svc")).expect("whereis"),
        None
    );
    cluster.peer(1).eval_ok(
        "yes = global:register_name(svc, erldp_test:collect(svc_box)), \
         erldp_cluster:await_whereis(svc, nodes(), whereis(svc_box), 10000).",
    );
    let svc = node
        .whereis_global(&Term::atom("svc"))
        .expect("whereis")
        .expect("registered");
    assert_eq!(svc.node.as_str(), cluster.nodes()[1]);
    inbox
        .send(&Dest::global("svc"), Term::atom("hi"))
        .expect("send");
    assert_eq!(cluster.peer(1).collected("svc_box", 1), "[hi]");
    assert!(inbox.send(&Dest::global("nobody"), Term::nil()).is_err());
}

/// pg from both sides: BEAM members seen here, ours seen on every BEAM node, in the default scope
/// and in another, from a hidden node (connected to each BEAM node itself: a scope reports only
/// its own node's members) and from a visible one (meshed by global).
#[test]
fn pg_members_are_shared_both_ways_across_scopes_from_hidden_and_visible_nodes() {
    for otps in pg_clusters() {
        for hidden in [true, false] {
            let label = format!("{}, hidden {hidden}", label(&otps));
            let mut cluster = cluster_of(&otps, true);
            let beams = cluster.node_list();
            for i in 0..cluster.len() {
                cluster.peer(i).eval_ok("erldp_cluster:start_scope(other).");
            }
            cluster
                .peer(0)
                .eval_ok("Room = erldp_cluster:join(pg, room, 2).");
            cluster
                .peer(1)
                .eval_ok("Other = erldp_cluster:join(other, room, 1).");
            let node = start_node(&cluster, "rs", hidden);
            let room = Term::atom("room");
            let a = node.mailbox(None).expect("mailbox");
            let b = node.mailbox(None).expect("mailbox");
            // Joining before any peer is connected: the scope starts here and is discovered
            // by the nodes that connect.
            a.join(DEFAULT_SCOPE, room.clone()).expect("join");
            for peer in cluster.nodes() {
                node.connect(&peer).expect("connect");
            }
            if !hidden {
                cluster.await_mesh(&[node.name().as_str()]);
            }
            a.join(DEFAULT_SCOPE, room.clone()).expect("join");
            b.join("other", room.clone()).expect("join");

            for i in 0..cluster.len() {
                hand_over(cluster.peer(i), &node, "A", Term::from(a.pid()));
                hand_over(cluster.peer(i), &node, "B", Term::from(b.pid()));
            }
            cluster.peer(0).eval_ok(&format!(
                "erldp_cluster:await_members(pg, room, Room ++ [A, A], {beams}, 10000)."
            ));
            cluster.peer(1).eval_ok(&format!(
                "erldp_cluster:await_members(other, room, Other ++ [B], {beams}, 10000)."
            ));
            let mut want = beam_pids(cluster.peer(0), "Room");
            want.extend([a.pid(), a.pid()]);
            eventually_some(&format!("{label}: pg room here"), || {
                (sorted(node.members(DEFAULT_SCOPE, &room).expect("members"))
                    == sorted(want.clone()))
                .then_some(())
            });
            let mut want_other = beam_pids(cluster.peer(1), "Other");
            want_other.push(b.pid());
            eventually_some(&format!("{label}: other room here"), || {
                (sorted(node.members("other", &room).expect("members"))
                    == sorted(want_other.clone()))
                .then_some(())
            });
            assert_eq!(
                node.local_members(DEFAULT_SCOPE, &room).expect("local"),
                vec![a.pid(), a.pid()]
            );
            assert_eq!(node.groups("other").expect("groups"), vec![room.clone()]);

            // Leaving once takes one membership away; closing takes the rest, everywhere.
            assert!(a.leave(DEFAULT_SCOPE, &room).expect("leave"));
            assert!(
                !b.leave(DEFAULT_SCOPE, &room).expect("leave"),
                "{label}: b never joined pg"
            );
            cluster.peer(0).eval_ok(&format!(
                "erldp_cluster:await_members(pg, room, Room ++ [A], {beams}, 10000)."
            ));
            a.close(Term::atom("normal"));
            b.close(Term::atom("normal"));
            cluster.peer(0).eval_ok(&format!(
                "erldp_cluster:await_members(pg, room, Room, {beams}, 10000)."
            ));
            cluster.peer(1).eval_ok(&format!(
                "erldp_cluster:await_members(other, room, Other, {beams}, 10000)."
            ));

            // BEAM's members going are seen here.
            cluster.peer(0).eval_ok("[exit(P, kill) || P <- Room].");
            eventually_some(&format!("{label}: BEAM members gone here"), || {
                node.members(DEFAULT_SCOPE, &room)
                    .expect("members")
                    .is_empty()
                    .then_some(())
            });
        }
    }
}

/// The pids a BEAM shell variable holds, as our node sees them.
fn beam_pids(peer: &mut BeamPeer, var: &str) -> Vec<Pid> {
    let node = Node::builder(random_name("rs_pids"))
        .cookie(peer.cookie())
        .start()
        .expect("node");
    let inbox = node.mailbox(Some("pids")).expect("mailbox");
    peer.eval_ok(&format!(
        "{{pids, {}}} ! {var}, ok.",
        erl_atom(node.name().as_str())
    ));
    let pids = next_message(&inbox).term;
    pids.as_list()
        .expect("a list")
        .iter()
        .map(|p| p.as_pid().expect("a pid"))
        .collect()
}

/// What our node registered and joined goes from every BEAM node when a mailbox closes and
/// when the node closes. Polled with a deadline: BEAM learns it from DOWNs and leaves, or from
/// the connection's end.
#[test]
fn our_names_and_memberships_vanish_when_mailboxes_and_the_node_close() {
    let mut cluster = BeamCluster::builder().nodes(2, Otp::System).start();
    let beams = cluster.node_list();
    let node = joined(&mut cluster, "rs");
    let room = Term::atom("room");
    let boxes: Vec<Mailbox> = (0..2)
        .map(|_| node.mailbox(None).expect("mailbox"))
        .collect();
    for (i, mailbox) in boxes.iter().enumerate() {
        assert!(node
            .register_global(&Term::atom(&format!("name{i}")), mailbox.pid())
            .expect("register"));
        mailbox.join(DEFAULT_SCOPE, room.clone()).expect("join");
        hand_over(
            cluster.peer(0),
            &node,
            &format!("P{i}"),
            Term::from(mailbox.pid()),
        );
    }
    cluster.peer(0).eval_ok(&format!(
        "erldp_cluster:await_whereis(name0, {beams}, P0, 10000), \
         erldp_cluster:await_members(pg, room, [P0, P1], {beams}, 10000)."
    ));

    boxes[0].close(Term::atom("normal"));
    cluster.peer(0).eval_ok(&format!(
        "erldp_cluster:await_whereis(name0, {beams}, undefined, 10000), \
         erldp_cluster:await_members(pg, room, [P1], {beams}, 10000)."
    ));
    assert_eq!(
        node.whereis_global(&Term::atom("name0")).expect("whereis"),
        None
    );

    node.close();
    cluster.peer(0).eval_ok(&format!(
        "erldp_cluster:await_whereis(name1, {beams}, undefined, 10000), \
         erldp_cluster:await_members(pg, room, [], {beams}, 10000)."
    ));
    cluster.assert_synced(T);
}

#[test]
fn node_up_and_node_down_reach_mailboxes_that_monitor_nodes() {
    let mut peer = BeamPeer::start();
    let cookie = peer.cookie().to_string();
    let mut hidden_peer = BeamPeer::builder().cookie(&cookie).hidden(true).start();
    let node = Node::builder(random_name("rs"))
        .cookie(&cookie)
        .start()
        .expect("node");
    let watcher = node.mailbox(None).expect("mailbox");
    watcher.monitor_nodes().expect("monitor_nodes");

    node.connect(peer.node()).expect("connect");
    let up = next_message(&watcher);
    assert_eq!(up.kind, MessageKind::NodeUp);
    assert_eq!(
        up.node.map(|n| n.to_string()),
        Some(peer.node().to_string())
    );
    assert_eq!(
        up.term,
        Term::tuple(vec![Term::atom("nodeup"), Term::atom(peer.node())])
    );

    // A hidden BEAM node connecting to us is a peer too.
    let us = node.name().to_string();
    hidden_peer.eval_ok(&format!("erldp_cluster:connect({}).", erl_atom(&us)));
    let up = next_message(&watcher);
    assert_eq!(
        (up.kind, up.node.map(|n| n.to_string())),
        (MessageKind::NodeUp, Some(hidden_peer.node().to_string()))
    );

    peer.kill9();
    let down = next_message(&watcher);
    assert_eq!(down.kind, MessageKind::NodeDown);
    assert_eq!(
        down.term,
        Term::tuple(vec![Term::atom("nodedown"), Term::atom(peer.node())])
    );

    // Once demonitored, node events stop: the marker sent after the next one comes first.
    watcher.demonitor_nodes().expect("demonitor_nodes");
    let other = BeamPeer::builder().cookie(&cookie).start();
    node.connect(other.node()).expect("connect");
    node.send(&Dest::Pid(watcher.pid()), Term::atom("marker"))
        .expect("send");
    assert_eq!(next_message(&watcher).term, Term::atom("marker"));
}

/// Phoenix.PubSub 2.1.3's default adapter (`lib/phoenix/pubsub/pg2.ex`), reproduced on the wire
/// by `tests/erlang/erldp_pubsub.erl`: a mailbox of ours in every pool group of the scope
/// `Elixir.Phoenix.PubSub` receives what `broadcast/3` sends from any BEAM node, and what we send
/// as the adapter does reaches BEAM's subscribers.
#[test]
fn phoenix_pubsub_broadcasts_reach_us_and_ours_reach_beam_subscribers() {
    const SCOPE: &str = "Elixir.Phoenix.PubSub";
    let mut cluster = BeamCluster::builder()
        .start_pg(false)
        .nodes(2, Otp::System)
        .start();
    let mut groups = Term::nil();
    for i in 0..cluster.len() {
        groups = cluster
            .peer(i)
            .eval_ok(
                "Groups = erldp_pubsub:start('Elixir.MyApp.PubSub', 2), \
                 erldp_pubsub:subscribe('Elixir.MyApp.PubSub', <<\"room\">>, erldp_test:collect(sub)), \
                 Groups.",
            )
            .parse::<Term>()
            .expect("groups");
    }
    let groups: Vec<Term> = groups.as_list().expect("a list").to_vec();
    assert_eq!(groups[0], Term::atom("Elixir.MyApp.PubSub.Adapter"));

    let node = start_node(&cluster, "rs", true);
    for peer in cluster.nodes() {
        node.connect(&peer).expect("connect");
    }
    let worker = node.mailbox(None).expect("mailbox");
    for group in &groups {
        worker.join(SCOPE, group.clone()).expect("join");
    }
    hand_over(cluster.peer(0), &node, "Worker", Term::from(worker.pid()));
    let beams = cluster.node_list();
    // Our join reaches each BEAM node's pg in its own time, not necessarily
    // before the hand-over message (another sender's), as between BEAM
    // processes: waited for on every node, this one included.
    for group in &groups {
        cluster.peer(0).eval_ok(&format!(
            "erldp_test:wait_for(fun() -> [N || N <- {beams}, \
                 not lists:member(Worker, erpc:call(N, pg, get_members, ['{SCOPE}', {group}]))] =:= [] end, 10000)."
        ));
    }

    // BEAM broadcasts: one forward_to_local per node that is not the sender's, ours included.
    cluster.peer(1).eval_ok(
        "erldp_pubsub:broadcast('Elixir.MyApp.PubSub', <<\"room\">>, {hello, from_beam}).",
    );
    let forwarded = next_message(&worker);
    assert_eq!(
        forwarded.term,
        "{forward_to_local, <<\"room\">>, {hello, from_beam}, 'Elixir.Phoenix.PubSub'}"
            .parse::<Term>()
            .expect("term")
    );
    assert_eq!(cluster.peer(0).collected("sub", 1), "[{hello,from_beam}]");

    // We broadcast as the adapter does: to every member of the first group on another node.
    let message: Term =
        "{forward_to_local, <<\"room\">>, {hello, from_rust}, 'Elixir.Phoenix.PubSub'}"
            .parse()
            .expect("term");
    let members = node.members(SCOPE, &groups[0]).expect("members");
    let others: Vec<Pid> = members
        .into_iter()
        .filter(|p| p.node != node.name())
        .collect();
    assert_eq!(others.len(), 2);
    for pid in others {
        worker.send(&Dest::Pid(pid), message.clone()).expect("send");
    }
    for i in 0..cluster.len() {
        let got = cluster.peer(i).collected("sub", 2);
        assert!(got.ends_with("{hello,from_rust}]"), "node {i}: {got}");
    }
}

/// `prevent_overlapping_partitions`, as OTP 25+ runs it: a lost connection between two nodes
/// is reported to all, and the nodes still connected to both drop one of them, so that no node
/// stays connected to two nodes that are not connected to each other. Which one they drop
/// depends on whose report comes first, on BEAM as here; either way global goes on everywhere.
#[test]
fn overlapping_partitions_are_prevented_as_beam_prevents_them() {
    on_global_clusters(|otps, label, mut cluster, node| {
        // Our node drops B.
        let b = cluster.nodes()[1].clone();
        assert!(node.disconnect(&b));
        eventually_some(&format!("{label}: B gone"), || {
            node.nodes().iter().all(|n| n.as_str() != b).then_some(())
        });
        no_overlap(&mut cluster, &node, label);

        // A drops us.
        let (mut cluster, node) = joined_visible(otps);
        let us = node.name().to_string();
        cluster.peer(0).eval_ok(&format!(
            "erlang:disconnect_node({us}), \
             erldp_test:wait_for(fun() -> not lists:member({us}, nodes()) end, 30000).",
            us = erl_atom(&us)
        ));
        no_overlap(&mut cluster, &node, label);
    });
}

/// Waits until no node, ours included, is connected to two nodes that are not connected to
/// each other; then global:sync() returns on every BEAM node and our node still registers.
fn no_overlap(cluster: &mut BeamCluster, node: &Node, label: &str) {
    let beams = cluster.node_list();
    eventually_some(&format!("{label}: no overlapping partitions"), || {
        let ours: Vec<String> = node.nodes().iter().map(|n| erl_atom(n.as_str())).collect();
        let check = format!(
            "erldp_cluster:overlaps({beams}, [{{{}, [{}]}}]).",
            erl_atom(node.name().as_str()),
            ours.join(",")
        );
        (cluster.peer(0).eval_ok(&check) == "[]").then_some(())
    });
    cluster.assert_synced(T);
    let _inbox = registered(node, "after_partition", label);
}

/// A handler run on the reader of a visible peer's connection cannot take
/// global's locks, which that peer must answer: registering or
/// unregistering a name there fails at once, where before it waited for
/// ever and the peer's connection read nothing meanwhile. Unregistering a
/// name nobody holds takes no lock and succeeds; from the pool, the same
/// registration succeeds.
#[test]
fn a_handler_on_the_reader_cannot_take_globals_locks_through_its_peer() {
    let (mut cluster, node) = joined_visible(&[Otp::System]);
    let us = node.name();
    let held = registered(&node, "erldp_reader_held", "system");
    let _asker = {
        let node = node.clone();
        node.clone()
            .serve_with("asker", ServeOptions::new().on_reader(true), move |_| {
                let inbox = node.mailbox(None).expect("mailbox");
                let said = |result: erldp::Result<String>| match result {
                    Ok(fine) => Term::atom(&fine),
                    Err(err) => Term::binary(err.to_string()),
                };
                Ok(Reply::Value(Term::Tuple(vec![
                    said(
                        node.register_global(&Term::atom("erldp_reader_new"), inbox.pid())
                            .map(|yes| yes.to_string()),
                    ),
                    said(
                        node.unregister_global(&Term::atom("erldp_reader_held"))
                            .map(|()| "ok".into()),
                    ),
                    said(
                        node.unregister_global(&Term::atom("erldp_reader_nobody"))
                            .map(|()| "ok".into()),
                    ),
                ])))
            })
            .expect("serve")
    };
    let answer = cluster
        .peer(0)
        .eval_ok(&format!("gen_server:call({{asker, '{us}'}}, go, 60000)."));
    assert_eq!(
        answer
            .matches("cannot wait on the thread that reads")
            .count(),
        2,
        "{answer}"
    );
    assert!(answer.ends_with(",ok}"), "{answer}");
    assert_eq!(
        node.whereis_global(&Term::atom("erldp_reader_held"))
            .expect("whereis"),
        Some(held.pid())
    );
    registered(&node, "erldp_reader_new", "system");
}
