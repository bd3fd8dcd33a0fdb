//! A minute of a BEAM cluster with our visible node in it, while BEAM nodes are killed and
//! restarted under the same name (new incarnations) and names come and go: afterwards
//! `global:sync()` returns on every node, and every node, ours included, agrees on the names
//! and the group members. And rounds of BEAM nodes dropping their connection to us while they
//! register names, after each of which every node agrees on the names again.
//!
//! Each round waits for the cluster to mesh again with a deadline; the minute is how long the
//! rounds go on, not a bound on anything's speed.

use std::time::{Duration, Instant};

use erldp::{Dest, Node, Term, DEFAULT_SCOPE};
use erldp_testkit::{erl_atom, random_name, BeamCluster, Otp};

const RUN: Duration = Duration::from_secs(60);
const T: Duration = Duration::from_secs(30);

/// Three BEAM nodes with our visible node joined through the first, meshed and synced.
fn joined(prefix: &str) -> (BeamCluster, Node) {
    let mut cluster = BeamCluster::builder().nodes(3, Otp::System).start();
    let node = Node::builder(random_name(prefix))
        .cookie(cluster.cookie())
        .hidden(false)
        .start()
        .expect("node");
    node.connect(&cluster.nodes()[0]).expect("connect");
    cluster.await_mesh(&[node.name().as_str()]);
    (cluster, node)
}

#[test]
fn global_and_pg_survive_a_minute_of_nodes_killed_and_restarted() {
    let (mut cluster, node) = joined("rs_soak");
    let us = node.name().to_string();

    let keeper = node.mailbox(None).expect("mailbox");
    assert!(node
        .register_global(&Term::atom("soak"), keeper.pid())
        .expect("register"));
    keeper
        .join(DEFAULT_SCOPE, Term::atom("soak_room"))
        .expect("join");
    cluster
        .peer(0)
        .eval_ok("{yes, Beam} = erldp_cluster:register_name(beam_soak).");
    let beam_soak = node
        .whereis_global(&Term::atom("beam_soak"))
        .expect("whereis")
        .expect("registered everywhere, ours included, once register_name returns");

    let started = Instant::now();
    let mut round = 0;
    while started.elapsed() < RUN {
        round += 1;
        let victim = 1 + round % 2;
        cluster.restart(victim);
        let first = cluster.nodes()[0].clone();
        cluster.connect(victim, &first);
        cluster.await_mesh(&[&us]);

        // Names registered from our side during the churn reach the restarted node.
        let churn = node.mailbox(None).expect("mailbox");
        let name = Term::atom(&format!("soak_{round}"));
        assert!(node.register_global(&name, churn.pid()).expect("register"));
        let restarted = cluster.nodes()[victim].clone();
        check_names(&mut cluster, victim, &node, &restarted);
        node.unregister_global(&name).expect("unregister");
        churn.close(Term::atom("normal"));
    }
    eprintln!("{round} rounds of a node killed and restarted in {RUN:?}");
    assert!(round >= 2, "only {round} rounds in {RUN:?}");

    cluster.assert_synced(T);
    assert_eq!(
        node.whereis_global(&Term::atom("soak")).expect("whereis"),
        Some(keeper.pid())
    );
    assert_eq!(
        node.whereis_global(&Term::atom("beam_soak"))
            .expect("whereis"),
        Some(beam_soak),
        "the BEAM name held on"
    );
    let beams = cluster.node_list();
    cluster
        .peer(1)
        .eval_ok("erldp_test:collect(erldp_hand_over).");
    keeper
        .send(
            &Dest::name("erldp_hand_over", &cluster.nodes()[1]),
            Term::from(keeper.pid()),
        )
        .expect("send");
    cluster.peer(1).eval_ok(&format!(
        "[Keeper] = erldp_test:collected(erldp_hand_over, 1, 10000), \
         erldp_cluster:await_whereis(soak, {beams}, Keeper, 10000), \
         erldp_cluster:await_members(pg, soak_room, [Keeper], {beams}, 10000)."
    ));
}

/// Our global name and group membership are known on the restarted node `i`.
fn check_names(cluster: &mut BeamCluster, i: usize, node: &Node, restarted: &str) {
    let deadline = Instant::now() + T;
    let ours = node.name().to_string();
    let check = format!(
        "N = node(global:whereis_name(soak)), \
         [M] = [node(P) || P <- pg:get_members(pg, soak_room)], \
         {{N, M}} =:= {{{ours}, {ours}}}.",
        ours = erl_atom(&ours)
    );
    loop {
        if cluster.peer(i).eval(&check).as_deref() == Ok("true") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{restarted} never saw our name and membership"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Rounds in which BEAM nodes register and unregister names in a loop while one or two of them
/// drop their connection to us. Each drop cascades through `prevent_overlapping_partitions` (the
/// others ask us to disconnect them too) and heals through `new_nodes`, `in_sync` and fresh
/// connect sessions; after each round every node, ours included, holds the same names. This
/// is where our node once lost names for good: those a peer's `new_nodes` brought from nodes
/// not connected to us yet, and those of a node whose late `init_connect_ack` came after its
/// `in_sync`.
#[test]
fn global_names_agree_after_beam_nodes_drop_us_while_registering() {
    const ROUNDS: usize = 8;
    let (mut cluster, node) = joined("rs_drop");
    let us = node.name().to_string();

    for round in 0..ROUNDS {
        for i in 0..cluster.len() {
            cluster.peer(i).eval_ok(&churn(i));
        }
        let disconnect = format!("net_kernel:disconnect({}).", erl_atom(&us));
        cluster.peer(round % 3).eval_ok(&disconnect);
        std::thread::sleep(Duration::from_millis(300 + (round as u64 * 137) % 700));
        if round % 2 == 0 {
            cluster.peer((round + 1) % 3).eval_ok(&disconnect);
        }
        std::thread::sleep(Duration::from_millis(500));
        for i in 0..cluster.len() {
            cluster
                .peer(i)
                .eval_ok("churn ! {stop, self()}, receive stopped -> ok end.");
        }
        for i in 0..cluster.len() {
            cluster.peer(i).ping(&us);
        }
        cluster.await_mesh(&[&us]);
        names_agree(&mut cluster, &node, round);
    }
}

/// Starts `churn` on a BEAM node: it registers and unregisters the names `g<i>_1` to `g<i>_3`
/// until sent `{stop, From}` (in a fun, as the shell keeps its bindings from one round to the
/// next).
fn churn(i: usize) -> String {
    format!(
        "(fun() -> Names = [list_to_atom(lists:concat([g, {i}, '_', K])) || K <- [1, 2, 3]], \
         Loop = fun Loop() -> \
           N = lists:nth(rand:uniform(3), Names), \
           case global:whereis_name(N) of \
             undefined -> catch global:register_name(N, erldp_cluster:spawn_idle()); \
             P -> catch global:unregister_name(N), exit(P, kill) \
           end, \
           receive {{stop, From}} -> From ! stopped after rand:uniform(30) -> Loop() end \
         end, \
         register(churn, spawn(Loop)), ok end)()."
    )
}

/// Waits until every BEAM node's names are ours; panics with both after [`T`].
fn names_agree(cluster: &mut BeamCluster, node: &Node, round: usize) {
    let deadline = Instant::now() + T;
    loop {
        let ours: Vec<String> = node
            .global_names()
            .expect("names")
            .iter()
            .map(|name| name.to_string())
            .collect();
        let ours = format!("[{}]", ours.join(", "));
        let check = format!("lists:sort(global:registered_names()) =:= lists:sort({ours}).");
        let mut apart = Vec::new();
        for i in 0..cluster.len() {
            if cluster.peer(i).eval(&check).as_deref() != Ok("true") {
                let theirs = cluster
                    .peer(i)
                    .eval("lists:sort(global:registered_names()).");
                apart.push(format!("{}: {theirs:?}", cluster.nodes()[i]));
            }
        }
        if apart.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "round {round}: ours {ours}, theirs {apart:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
