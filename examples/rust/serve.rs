//! ErlDP from Rust, called by BEAM: a calculator served as a process and a
//! module exposed to `rpc`. The node is visible, so it takes part in
//! `global` as a BEAM node does, and the calculator is also the global name
//! `rust_calculator`.
//!
//! Run by `make demo`, or by hand:
//!
//! ```text
//! cargo run -p erldp --example serve -- rust_calc COOKIE
//! ```
//!
//! and then, from an Elixir node with the same cookie (`iex --sname x --cookie COOKIE`):
//!
//! ```text
//! GenServer.call({:calculator, :"rust_calc@host"}, {:add, 2, 3})   # 5
//! GenServer.call({:global, :rust_calculator}, {:sub, 10, 4})       # 6, once connected
//! GenServer.call({:calculator, :"rust_calc@host"}, {:div, 1, 0})   # exits: {:ArgumentError, "division by zero"}
//! :rpc.call(:"rust_calc@host", :rust_math, :factorial, [20])       # 2432902008176640000
//! :erpc.call(:"rust_calc@host", :rust_math, :sqrt, [-1.0])         # raises, with a Rust stack frame
//! GenServer.cast({:calculator, :"rust_calc@host"}, :stop)          # ends the program
//! ```

use std::sync::mpsc;
use std::sync::Mutex;

use erldp::serve::{Frame, RequestKind};
use erldp::{Exception, Invocation, Node, Reply, Request, ServeOptions, Term};

/// `{add | sub | mul | div, A, B}` on integers.
fn calculate(request: &Term) -> Result<Term, Exception> {
    let bad = || Exception::new("ArgumentError", format!("not a calculation: {request}"));
    let Some([op, a, b]) = request.as_tuple() else {
        return Err(bad());
    };
    let (Some(op), Some(a), Some(b)) = (op.as_atom(), a.as_i64(), b.as_i64()) else {
        return Err(bad());
    };
    let result = match op.as_str() {
        "add" => a.checked_add(b),
        "sub" => a.checked_sub(b),
        "mul" => a.checked_mul(b),
        "div" if b == 0 => {
            return Err(Exception::new("ArgumentError", "division by zero")
                .with_frame(Frame::new("Calculator", "div", 2).at("serve.rs", line!())))
        }
        "div" => a.checked_div(b),
        _ => return Err(bad()),
    };
    result
        .map(Term::from)
        .ok_or_else(|| Exception::new("ArithmeticError", "the result does not fit 64 bits"))
}

/// `rust_math:factorial(N)` and `rust_math:sqrt(X)`.
fn rust_math(call: Invocation) -> Result<Term, Exception> {
    match (call.function.as_str(), call.args.as_slice()) {
        ("factorial", [n]) => match n.as_i64() {
            Some(n @ 0..=33) => Ok(Term::from((1..=n as i128).product::<i128>())),
            _ => Err(Exception::new(
                "ArgumentError",
                format!("factorial takes an integer from 0 to 33, not {n}"),
            )),
        },
        ("sqrt", [x]) => match x.as_f64().or_else(|| x.as_i64().map(|i| i as f64)) {
            Some(x) if x >= 0.0 => Ok(Term::from(x.sqrt())),
            _ => Err(
                Exception::new("ArgumentError", format!("no real square root of {x}"))
                    .with_frame(Frame::new("rust_math", "sqrt", 1).at("serve.rs", line!())),
            ),
        },
        // What BEAM answers for a function its module lacks (Elixir: UndefinedFunctionError).
        _ => Err(Exception::undef()),
    }
}

fn main() -> erldp::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(name), Some(cookie)) = (args.next(), args.next()) else {
        eprintln!("usage: serve NODE_NAME COOKIE");
        std::process::exit(2);
    };
    let node = Node::builder(name).cookie(cookie).hidden(false).start()?;

    let (stop_tx, stop) = mpsc::channel();
    let stop_tx = Mutex::new(stop_tx);
    let calculator = node.serve("calculator", move |request: Request| match request.kind {
        RequestKind::Call => calculate(&request.message).map(Reply::Value),
        _ if request.message.is_atom("stop") => {
            let _ = stop_tx.lock().expect("not poisoned").send(());
            Ok(Reply::NoReply)
        }
        _ => Ok(Reply::NoReply),
    })?;
    // rust_math only computes: it may run on the thread that reads the call, which saves a
    // hand-off to the handler pool (a handler that waits must not: see ServeOptions::on_reader).
    let _math = node.expose_with("rust_math", ServeOptions::new().on_reader(true), rust_math)?;
    // Known to every node of the global cluster this node joins when they connect.
    node.register_global(&Term::atom("rust_calculator"), calculator.pid())?;

    println!("serve: the calculator is also the global name rust_calculator");
    println!("serve: ready as {}", node.name());
    let _ = stop.recv();
    println!("serve: stopped");
    node.close();
    Ok(())
}
