//! ErlDP from Rust: join a BEAM node, rpc, send and receive, call a
//! gen_server, and be reached by Erlang code.
//!
//! Run by `make demo`, or by hand against any node running
//! `examples/erlang/demo_server.erl`:
//!
//! ```text
//! cargo run -p erldp --example demo -- demo@myhost COOKIE
//! ```

use std::time::Duration;

use erldp::{Dest, Node, Term};

fn main() -> erldp::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(peer), Some(cookie)) = (args.next(), args.next()) else {
        eprintln!("usage: demo PEER_NODE COOKIE");
        std::process::exit(2);
    };
    let timeout = Duration::from_secs(5);

    let node = Node::builder("rust_demo").cookie(cookie).start()?;
    println!("rust: started {} (hidden, like a C node)", node.name());

    println!(
        "rust: ping {peer} -> {}",
        if node.ping(&peer) { "pong" } else { "pang" }
    );

    let release = node.rpc(
        &peer,
        "erlang",
        "system_info",
        vec![Term::atom("otp_release")],
        timeout,
    )?;
    println!("rust: rpc erlang:system_info(otp_release) -> {release}");
    let sum = node.rpc(
        &peer,
        "lists",
        "sum",
        vec!["[1, 2, 3, 4]".parse()?],
        timeout,
    )?;
    println!("rust: rpc lists:sum([1,2,3,4]) -> {sum}");

    match node.rpc(
        &peer,
        "erlang",
        "binary_to_atom",
        vec![Term::from(42)],
        timeout,
    ) {
        Err(err) => println!("rust: rpc erlang:binary_to_atom(42) -> {err}"),
        Ok(value) => println!("rust: unexpectedly got {value}"),
    }

    let inbox = node.mailbox(Some("inbox"))?;
    inbox.send(
        &Dest::name("echo", &peer),
        Term::tuple(vec![inbox.pid().into(), "hi from Rust".into()]),
    )?;
    if let Some(reply) = inbox.recv_timeout(timeout)? {
        println!("rust: echo replied {}", reply.term);
    }

    let greeting = node.call(
        &Dest::name("demo_server", &peer),
        "{greet, <<\"Rust\">>}".parse()?,
        timeout,
    )?;
    println!("rust: gen_server:call(demo_server, {{greet, <<\"Rust\">>}}) -> {greeting}");

    // Erlang code reaches us by name: ask the BEAM node to send to our inbox.
    let message = Term::tuple(vec![
        Term::atom("from_beam"),
        Term::atom(&peer),
        "sent with !".into(),
    ]);
    node.rpc(
        &peer,
        "erlang",
        "send",
        vec![Dest::name("inbox", node.name().as_str()).to_term(), message],
        timeout,
    )?;
    if let Some(received) = inbox.recv_timeout(timeout)? {
        println!(
            "rust: received {} from {:?}",
            received.term,
            received.from.map(|p| p.to_string())
        );
    }

    node.close();
    println!("rust: closed");
    Ok(())
}
