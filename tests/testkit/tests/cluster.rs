//! Clusters of BEAM nodes and the Erlang checks on them (erldp_cluster, erldp_pubsub), on the
//! system OTP and, when the chroots exist, on clusters mixing releases.

use std::time::Duration;

use erldp_testkit::{erl_atom, pg_compatible, BeamCluster, Otp};

/// Names, locks and pg on a meshed cluster, and the sync check failing instead of hanging.
fn meshed(otps: &[Otp], start_pg: bool) {
    let mut builder = BeamCluster::builder().start_pg(start_pg);
    for otp in otps {
        builder = builder.node(otp.clone());
    }
    let mut cluster = builder.start();
    let nodes = cluster.node_list();
    let count = cluster.len();
    for i in 0..count {
        let others = cluster.peer(i).eval_ok("length(nodes()).");
        assert_eq!(
            others,
            (count - 1).to_string(),
            "node {i} sees every other node"
        );
        assert_eq!(
            cluster.peer(i).eval_ok("length(erldp_cluster:known())."),
            (count - 1).to_string(),
            "global on node {i} knows every other node"
        );
    }
    cluster.assert_synced(Duration::from_secs(30));

    let last = count - 1;
    cluster
        .peer(last)
        .eval_ok("{yes, Svc} = erldp_cluster:register_name(svc).");
    cluster.peer(last).eval_ok(&format!(
        "erldp_cluster:await_whereis(svc, {nodes}, Svc, 10000)."
    ));
    assert_eq!(
        cluster
            .peer(0)
            .eval_ok("element(1, erldp_cluster:register_name(svc))."),
        "no",
        "the name is taken everywhere"
    );
    let first = cluster.peer(0).eval_ok("node().");
    assert_eq!(
        cluster.peer(0).eval_ok(&format!(
            "erldp_cluster:trans({{res, self()}}, {nodes}, 30000)."
        )),
        format!("{{ran,{first}}}")
    );
    cluster.peer(last).eval_ok("exit(Svc, kill).");
    cluster.peer(0).eval_ok(&format!(
        "erldp_cluster:await_whereis(svc, {nodes}, undefined, 10000)."
    ));

    if start_pg {
        cluster
            .peer(last)
            .eval_ok("Members = erldp_cluster:join(pg, room, 2).");
        cluster.peer(last).eval_ok(&format!(
            "erldp_cluster:await_members(pg, room, Members, {nodes}, 10000)."
        ));
        cluster
            .peer(last)
            .eval_ok("[exit(M, kill) || M <- Members].");
        cluster.peer(0).eval_ok(&format!(
            "erldp_cluster:await_members(pg, room, [], {nodes}, 10000)."
        ));
    }
}

#[test]
fn system_cluster_meshes_syncs_and_shares_names_and_groups() {
    meshed(&[Otp::System, Otp::System, Otp::System], true);
}

#[test]
fn compat_mixed_releases_mesh() {
    let all = Otp::available();
    if all.len() < 2 {
        return;
    }
    // global speaks one protocol in every release: all of them together, without pg.
    meshed(&all, false);
    // pg too, for every pair that can share a scope.
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            let pair = [a.clone(), b.clone()];
            if pg_compatible(&pair) {
                meshed(&pair, true);
            }
        }
    }
}

#[test]
fn pg_compatibility_rule() {
    let all = Otp::available();
    assert!(pg_compatible(&all[..1]), "one release is always compatible");
    let major = |otp: &Otp| otp.release().parse::<u32>().unwrap();
    for a in &all {
        for b in &all {
            let expected =
                !((major(a) < 27 && major(b) >= 29) || (major(b) < 27 && major(a) >= 29));
            assert_eq!(
                pg_compatible(&[a.clone(), b.clone()]),
                expected,
                "{a} with {b}"
            );
        }
    }
}

/// A node whose global never answers keeps `global:sync()` waiting; the check says so and
/// names the node instead of hanging, and the cluster meshes once it answers.
#[test]
fn sync_timeout_is_reported_with_the_unsynced_node() {
    let mut cluster = BeamCluster::builder().nodes(2, Otp::System).start();
    let late = cluster.add(Otp::System);
    let late_node = cluster.peer(late).eval_ok("node().");
    cluster
        .peer(late)
        .eval_ok("sys:suspend(global_name_server).");
    cluster.connect(late, &cluster.nodes()[0].clone());
    let err = cluster
        .peer(0)
        .eval("erldp_cluster:sync(500).")
        .expect_err("sync cannot return while the new node's global is suspended");
    assert_eq!(
        err,
        format!("error:{{global_sync_timeout,500,[{late_node}]}}")
    );
    cluster
        .peer(late)
        .eval_ok("sys:resume(global_name_server).");
    cluster.await_mesh(&[]);
    cluster.assert_synced(Duration::from_secs(30));
}

#[test]
fn pubsub_module_follows_the_pg_adapter() {
    let mut cluster = BeamCluster::builder().nodes(2, Otp::System).start();
    let nodes = cluster.node_list();
    for i in 0..2 {
        assert_eq!(
            cluster
                .peer(i)
                .eval_ok("erldp_pubsub:start('Elixir.Test.PubSub', 2)."),
            "['Elixir.Test.PubSub.Adapter','Elixir.Test.PubSub.Adapter_2']"
        );
        assert_eq!(
            cluster
                .peer(i)
                .eval_ok("whereis('Elixir.Test.PubSub.Adapter') =/= undefined."),
            "true",
            "each pool worker is registered under its group name"
        );
    }
    // One worker per node in each group of the scope Phoenix.PubSub.
    cluster.peer(0).eval_ok(&format!(
        "[erldp_cluster:await_members('Elixir.Phoenix.PubSub', G, \
            [erpc:call(N, erlang, whereis, [G]) || N <- {nodes}], {nodes}, 10000) \
         || G <- erldp_pubsub:groups('Elixir.Test.PubSub')]."
    ));

    // A broadcast on one node reaches the subscribers of the topic on the other, unchanged.
    cluster.peer(1).eval_ok("erldp_test:collect(inbox).");
    cluster
        .peer(1)
        .eval_ok("erldp_pubsub:subscribe('Elixir.Test.PubSub', <<\"room:1\">>, whereis(inbox)).");
    cluster.peer(0).eval_ok(
        "erldp_pubsub:broadcast('Elixir.Test.PubSub', <<\"room:1\">>, {new_msg, <<\"hi\">>}), \
         erldp_pubsub:broadcast('Elixir.Test.PubSub', <<\"room:2\">>, not_subscribed).",
    );
    let remote = cluster.nodes()[1].clone();
    cluster.peer(0).eval_ok(&format!(
        "erldp_pubsub:direct_broadcast({}, 'Elixir.Test.PubSub', <<\"room:1\">>, direct).",
        erl_atom(&remote)
    ));
    assert_eq!(
        cluster
            .peer(1)
            .eval_ok("erldp_test:collected(inbox, 2, 10000)."),
        "[{new_msg,<<\"hi\">>},direct]"
    );

    // What a foreign member of the adapter's group (ErlDP's, later) receives.
    cluster.peer(1).eval_ok("erldp_test:collect(member).");
    cluster.peer(1).eval_ok(
        "ok = pg:join('Elixir.Phoenix.PubSub', 'Elixir.Test.PubSub.Adapter', whereis(member)), \
         ok = pg:join('Elixir.Phoenix.PubSub', 'Elixir.Test.PubSub.Adapter_2', whereis(member)).",
    );
    cluster.peer(0).eval_ok(
        "erldp_test:wait_for(fun() -> length(pg:get_members('Elixir.Phoenix.PubSub', \
            'Elixir.Test.PubSub.Adapter_2')) =:= 3 end, 10000), \
         erldp_pubsub:broadcast('Elixir.Test.PubSub', <<\"t\">>, [1, 2]).",
    );
    assert_eq!(
        cluster
            .peer(1)
            .eval_ok("erldp_test:collected(member, 1, 10000)."),
        "[{forward_to_local,<<\"t\">>,[1,2],'Elixir.Phoenix.PubSub'}]"
    );
}
