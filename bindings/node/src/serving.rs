//! Serving BEAM callers from JavaScript: `node.serve`, `node.expose`,
//! `node.reply` (API.md, "Serving BEAM callers").
//!
//! Built on the core's hand-off forms (`Node::serve_handoff`,
//! `Node::expose_handoff`), which keep the order, the concurrency and the
//! cancellation of requests the same in every language. The core calls our
//! dispatch on one of its threads; it must return at once, so it only puts
//! the request's [`Responder`] on the [`Desk`] under a token and queues the
//! request, as ETF, on the node's way back to JavaScript (`node.rs`), where
//! the package runs the handler on the event loop. When the handler's value
//! (or its Promise) settles, the package answers the token
//! (`answerValue`, `answerNoReply`, `answerRaise`), which completes the
//! responder; only then does the core start the name's next request.
//!
//! Serving adds no hold on the event loop: the node's one thread-safe
//! function carries the requests, and it holds the process as the node
//! does (open and not `unref()`ed).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use erldp::serve::{Exception, Frame, Invocation, Request, RequestKind, Responder};
use erldp::sync::Mutex;
use erldp::{Atom, Exposed, Node, ServeOptions, Served, Term};
use napi::{Env, Result};
use napi_derive::napi;

use crate::convert::{self, from_js, DecodeOptions};
use crate::error;
use crate::js::{Js, Value};
use crate::mailbox::Ticket;
use crate::node::{Context, NativeNode, Outcome};

/// A request on its way to its handler: the token that answers it, and
/// what the handler is given, as ETF (see [`serve_etf`], [`expose_etf`]).
pub(crate) struct Incoming {
    pub(crate) token: u32,
    pub(crate) etf: Vec<u8>,
}

/// The responders of the requests that JavaScript handlers are running, by
/// token. A handler whose Promise never settles keeps its entry until the
/// name is served no more and the node closes; the core counts it as
/// running meanwhile, as it would a thread that never returns.
#[derive(Default)]
pub(crate) struct Desk {
    next: AtomicU32,
    open: Mutex<HashMap<u32, Responder>>,
}

impl Desk {
    fn put(&self, responder: Responder) -> u32 {
        let mut open = self.open.lock();
        loop {
            let token = self.next.fetch_add(1, Ordering::Relaxed);
            if let std::collections::hash_map::Entry::Vacant(slot) = open.entry(token) {
                slot.insert(responder);
                return token;
            }
        }
    }

    fn take(&self, token: u32) -> Option<Responder> {
        self.open.lock().remove(&token)
    }

    /// The node closed: every request still open is answered with the
    /// core's "ended without an answer" (nobody is left to hear it).
    pub(crate) fn clear(&self) {
        let open = std::mem::take(&mut *self.open.lock());
        drop(open);
    }
}

/// `{Kind, Request}` for a cast or a plain message, `{call, Request, From}`
/// for a call: what the package gives a serve handler.
fn serve_etf(request: &Request) -> erldp::Result<Vec<u8>> {
    let mut parts = vec![
        Term::Atom(Atom::new(request.kind.as_str())),
        request.message.clone(),
    ];
    if let (RequestKind::Call, Some(from)) = (request.kind, &request.from) {
        parts.push(from.clone());
    }
    erldp::term::encode(&Term::Tuple(parts))
}

/// `{Function, Args}`: what the package gives an expose handler.
fn expose_etf(invocation: &Invocation) -> erldp::Result<Vec<u8>> {
    erldp::term::encode(&Term::Tuple(vec![
        Term::Atom(invocation.function),
        Term::List(invocation.args.clone()),
    ]))
}

/// The dispatch the core calls for each request of handler `handler`.
fn dispatch<R: 'static>(
    cx: &Context,
    handler: u32,
    etf: fn(&R) -> erldp::Result<Vec<u8>>,
) -> impl Fn(R, Responder) + Send + Sync + 'static {
    let (reply, desk) = (cx.reply.clone(), Arc::clone(&cx.desk));
    move |request, responder| match etf(&request) {
        Ok(etf) => {
            let token = desk.put(responder);
            reply.send(
                handler,
                DecodeOptions::default(),
                Outcome::Request(Incoming { token, etf }),
            );
        }
        Err(err) => responder.raise(Exception::new("EncodeError", err.to_string())),
    }
}

fn serve_options(concurrency: Option<u32>, max_queue: Option<u32>) -> ServeOptions {
    let mut options = ServeOptions::new();
    if let Some(concurrency) = concurrency {
        options = options.concurrency(concurrency as usize);
    }
    if let Some(max_queue) = max_queue {
        options = options.max_queue(max_queue as usize);
    }
    options
}

/// A frame of a JavaScript stack trace, as the package reads it from
/// `error.stack`.
#[napi(object)]
pub struct StackFrame {
    pub class: String,
    pub method: String,
    pub arity: u32,
    pub file: Option<String>,
    pub line: Option<u32>,
}

/// The handle of a served name (the package's `Served`).
#[napi]
pub struct NativeServed {
    served: Mutex<Option<Served>>,
    pid: erldp::Pid,
}

#[napi]
impl NativeServed {
    #[napi(getter, catch_unwind)]
    pub fn pid(&self, env: Env) -> Result<Value> {
        convert::pid_to_js(Js::new(env.raw()), self.pid)
    }

    /// Stops serving (if this handle's name is still served).
    #[napi(catch_unwind)]
    pub fn close(&self) {
        let served = self.served.lock().take();
        drop(served);
    }
}

/// The handle of an exposed module (the package's `Exposed`).
#[napi]
pub struct NativeExposed {
    exposed: Mutex<Option<Exposed>>,
}

#[napi]
impl NativeExposed {
    /// Stops exposing the module (if this handle's module is still exposed).
    #[napi(catch_unwind)]
    pub fn close(&self) {
        let exposed = self.exposed.lock().take();
        drop(exposed);
    }
}

#[napi]
impl NativeNode {
    /// Serves `name`; its requests reach `dispatch` of `drain` as handler
    /// `handler`.
    #[napi(catch_unwind)]
    pub fn serve(
        &self,
        env: Env,
        handler: u32,
        name: Value,
        concurrency: Option<u32>,
        max_queue: Option<u32>,
    ) -> Result<NativeServed> {
        let js = Js::new(env.raw());
        let name = convert::name_from_js(js, name, "registered name")?;
        let dispatch = dispatch(&self.cx, handler, serve_etf);
        let served = self
            .node
            .serve_handoff(&name, serve_options(concurrency, max_queue), dispatch)
            .map_err(|err| error::throw(js, &err))?;
        Ok(NativeServed {
            pid: served.pid(),
            served: Mutex::new(Some(served)),
        })
    }

    /// Exposes `module`; its calls reach `dispatch` of `drain` as handler
    /// `handler`.
    #[napi(catch_unwind)]
    pub fn expose(
        &self,
        env: Env,
        handler: u32,
        module: Value,
        concurrency: Option<u32>,
        max_queue: Option<u32>,
    ) -> Result<NativeExposed> {
        let js = Js::new(env.raw());
        let module = convert::name_from_js(js, module, "module")?;
        let dispatch = dispatch(&self.cx, handler, expose_etf);
        let exposed = self
            .node
            .expose_handoff(&module, serve_options(concurrency, max_queue), dispatch)
            .map_err(|err| error::throw(js, &err))?;
        Ok(NativeExposed {
            exposed: Mutex::new(Some(exposed)),
        })
    }

    /// Stops serving `name`; false when it was not served.
    #[napi(catch_unwind)]
    pub fn unserve(&self, env: Env, name: Value) -> Result<bool> {
        let name = convert::name_from_js(Js::new(env.raw()), name, "registered name")?;
        Ok(self.node.unserve(&name))
    }

    /// Stops exposing `module`; false when it was not exposed.
    #[napi(catch_unwind)]
    pub fn unexpose(&self, env: Env, module: Value) -> Result<bool> {
        let module = convert::name_from_js(Js::new(env.raw()), module, "module")?;
        Ok(self.node.unexpose(&module))
    }

    /// Answers request `token` with `value` (a call's reply; ignored for
    /// casts and messages). A value with no Erlang counterpart throws
    /// `EENCODE` and leaves the request open, for the package to answer
    /// with that error.
    #[napi(catch_unwind)]
    pub fn answer_value(&self, env: Env, token: u32, value: Value) -> Result<()> {
        let term = from_js(Js::new(env.raw()), value)?;
        if let Some(responder) = self.cx.desk.take(token) {
            responder.reply(term);
        }
        Ok(())
    }

    /// Answers request `token` later, with `reply(from, value)`.
    #[napi(catch_unwind)]
    pub fn answer_no_reply(&self, token: u32) {
        if let Some(responder) = self.cx.desk.take(token) {
            responder.no_reply();
        }
    }

    /// Answers request `token` as one that never ran because its name or
    /// module stopped being served: the package unserved it after the core
    /// had handed the request over (see `Responder::refuse`).
    #[napi(catch_unwind)]
    pub fn answer_refused(&self, token: u32) {
        if let Some(responder) = self.cx.desk.take(token) {
            responder.refuse();
        }
    }

    /// Answers request `token` with an exception: `{Name, Message}` (the
    /// error's class) and the stack in BEAM's shape.
    #[napi(catch_unwind)]
    pub fn answer_raise(&self, token: u32, name: String, message: String, frames: Vec<StackFrame>) {
        let Some(responder) = self.cx.desk.take(token) else {
            return;
        };
        let exception =
            frames
                .into_iter()
                .fold(Exception::new(name, message), |exception, frame| {
                    let mut built = Frame::new(frame.class, frame.method, frame.arity);
                    built.file = frame.file;
                    built.line = frame.line;
                    exception.with_frame(built)
                });
        responder.raise(exception);
    }

    /// `gen:reply(From, Value)`: answers a call whose handler returned
    /// `NOREPLY`, or one a mailbox received.
    #[napi(catch_unwind)]
    pub fn reply(&self, env: Env, from: Value, value: Value) -> Result<()> {
        self.check_open(Js::new(env.raw()))?;
        reply(env, &self.cx, &self.node, from, value, None)
    }
}

/// `gen:reply(From, Value)` from `node`: `from` must be the `{Pid, Tag}`
/// that came with the call; the reply goes out on the caller's lane (a
/// mailbox's `ticket` held until it has).
pub(crate) fn reply(
    env: Env,
    cx: &Context,
    node: &Node,
    from: Value,
    value: Value,
    ticket: Option<Ticket>,
) -> Result<()> {
    let js = Js::new(env.raw());
    let from = from_js(js, from)?;
    let Some(caller) = from
        .as_tuple()
        .filter(|pair| pair.len() == 2)
        .and_then(|pair| pair[0].as_pid())
    else {
        return Err(error::invalid_argument(
            js,
            format!("reply takes the {{Pid, Tag}} a call came with, not {from:.200}"),
        ));
    };
    let value = from_js(js, value)?;
    let node = node.clone();
    cx.run(caller.node, move || {
        let _ = node.reply(&from, value);
        drop(ticket);
    });
    Ok(())
}
