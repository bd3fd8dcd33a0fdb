//! Serving BEAM callers from C: `erldp_serve` registers a name that answers
//! `gen_server` calls, casts and messages with a callback, `erldp_expose`
//! makes `rpc:call`/`erpc:call` of a module run one (see the core's
//! `erldp::serve` for ordering and what BEAM sees).
//!
//! Callbacks run on the node's handler threads: a pool of at most
//! `erldp_node_options.handler_threads` threads, each callback of a served
//! name one at a time unless `erldp_serve_options.concurrency` says more.
//! The request they are given is valid only during the call; they answer
//! through it (`erldp_request_reply`, `erldp_request_raise`,
//! `erldp_request_noreply`) and may call any other function of the library.

use std::cell::RefCell;
use std::ffi::{c_char, c_uint, c_void, CString};
use std::ptr::addr_of;
use std::sync::Arc;

use erldp::serve::{Exception, Invocation, Reply, Request, RequestKind};
use erldp::term::{encode, Term};
use erldp::{Error, Exposed, Node, ServeOptions, Served};
use std::sync::{Condvar, Mutex, PoisonError};

use crate::buf::erldp_buf;
use crate::extensible::{self, Extensible};
use crate::ffi::{self, Out};
use crate::fork::Owner;
use crate::node::erldp_node;
use crate::status::{erldp_status, guard, invalid, not_found, Outcome};

/// How a request reached the callback.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum erldp_req_kind {
    /// Not a request: `erldp_request_kind` was given NULL.
    ERLDP_REQ_INVALID = 0,
    /// `gen_server:call`: answer with `erldp_request_reply` (or
    /// `erldp_request_noreply`, then `erldp_reply` with its `from`).
    ERLDP_REQ_CALL = 1,
    /// `gen_server:cast`: nobody waits for an answer.
    ERLDP_REQ_CAST = 2,
    /// Any other message to the served name, including
    /// `{'EXIT', From, Reason}` from a linked process.
    ERLDP_REQ_INFO = 3,
    /// A call into an exposed module (`rpc:call`, `erpc:call`, their casts,
    /// `rpc:block_call`, a remote `spawn`): answer with the function's value.
    ERLDP_REQ_RPC = 4,
}

/// The callback of `erldp_serve` and `erldp_expose`: `userdata` as given
/// there, and the request, valid until the callback returns. Called on the
/// node's handler threads (or, with `erldp_serve_options.on_reader`, on the
/// reader of the caller's connection); several at once when the options
/// allow it.
pub type erldp_serve_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, request: *mut erldp_request)>;

/// Options for `erldp_serve_with` and `erldp_expose_with`. Fill one with
/// `erldp_serve_options_init`; NULL instead uses the defaults.
#[repr(C)]
pub struct erldp_serve_options {
    /// The struct's version as the program was compiled,
    /// `ERLDP_SERVE_OPTIONS_VERSION`: set by `erldp_serve_options_init` (see
    /// `erldp_node_options.version`).
    pub version: c_uint,
    /// How many requests run at once; 0 (the default) means 1 for a served
    /// name (one at a time, in arrival order, like a `gen_server`) and 64
    /// for an exposed module.
    pub concurrency: u32,
    /// How many requests may wait beyond those running; 0 (the default)
    /// means 65536. Past it, a request is refused at once: a call exits with
    /// `{overload, Text}`, an rpc raises it.
    pub max_queue: u32,
    /// Since version 2. Run the callback on the reader of the caller's
    /// connection, the thread that reads the request, instead of handing
    /// it to a handler thread (default false). That saves a thread wake-up
    /// a request, a large part of a quick callback's time (BENCHMARKS.md).
    /// For callbacks that only compute and answer: while one runs, its
    /// connection reads nothing, so a callback that waits (I/O, a lock, a
    /// call or rpc of its own) stalls every process of that peer, and
    /// `erldp_rpc` or `erldp_call` to that same peer fails at once with
    /// `ERLDP_ERR_ARG` (only this thread could read its answer), as does
    /// `erldp_register_global` or `erldp_unregister_global` when that peer
    /// is visible (global's locks wait for it). Requests
    /// from our own node, and those that waited for their
    /// turn, still run on the handler threads (as Rust's
    /// `ServeOptions::on_reader` says).
    pub on_reader: bool,
}

/// What a served name or exposed module was asked. Valid only during the
/// callback it was given to; answer it at most once.
pub struct erldp_request {
    kind: erldp_req_kind,
    /// The request, or the arguments of an rpc, as ETF.
    term: Vec<u8>,
    from: Option<Vec<u8>>,
    function: Option<CString>,
    module: Option<CString>,
    answer: Option<Result<Reply, Exception>>,
}

impl ffi::Handle for erldp_request {
    const ARG: &'static str = "request";
}

/// A name served by `erldp_serve`; `erldp_served_close` stops serving and
/// frees it.
pub struct erldp_served(Registration<Served>);

impl ffi::Handle for erldp_served {
    const ARG: &'static str = "served";
    const NOUN: &'static str = "served name";

    fn owner(&self) -> Option<Owner> {
        Some(self.0.owner)
    }
}

/// A module exposed by `erldp_expose`; `erldp_exposed_close` stops exposing
/// it and frees it.
pub struct erldp_exposed(Registration<Exposed>);

impl ffi::Handle for erldp_exposed {
    const ARG: &'static str = "exposed";

    fn owner(&self) -> Option<Owner> {
        Some(self.0.owner)
    }
}

/// What a served name and an exposed module hold: the core's handle (`H`),
/// the callbacks that closing waits for, and the process it belongs to.
struct Registration<H> {
    handle: H,
    calls: Arc<Calls>,
    owner: Owner,
}

impl<H> Registration<H> {
    /// Stops serving or exposing: dropping the core's handle ends its
    /// requests, then the callbacks running on other threads are waited for.
    fn stop(self) {
        drop(self.handle);
        self.calls.close();
    }
}

/// The callbacks of one handle running now, so that closing it can wait for
/// them: after `erldp_served_close` returns, the program may free what its
/// `userdata` points to.
#[derive(Default)]
struct Calls {
    state: Mutex<CallsState>,
    ended: Condvar,
}

#[derive(Default)]
struct CallsState {
    running: usize,
    closed: bool,
}

thread_local! {
    /// The handles whose callbacks run on this thread now (a callback may
    /// close its own handle, which must not wait for itself).
    static INSIDE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

impl Calls {
    fn id(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }

    /// Runs `callback` unless the handle is closing.
    fn run(self: &Arc<Self>, callback: impl FnOnce()) -> bool {
        {
            let mut state = self.lock();
            if state.closed {
                return false;
            }
            state.running += 1;
        }
        struct Leave<'a>(&'a Arc<Calls>);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                INSIDE.with(|inside| inside.borrow_mut().pop());
                self.0.lock().running -= 1;
                self.0.ended.notify_all();
            }
        }
        INSIDE.with(|inside| inside.borrow_mut().push(self.id()));
        let _leave = Leave(self);
        callback();
        true
    }

    /// No callback starts any more; waits for those running on other
    /// threads.
    fn close(self: &Arc<Self>) {
        let id = self.id();
        let own = INSIDE.with(|inside| inside.borrow().iter().filter(|&&i| i == id).count());
        let mut state = self.lock();
        state.closed = true;
        while state.running > own {
            state = self
                .ended
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The state; a callback that panicked while it was held left nothing
    /// half-done in it.
    fn lock(&self) -> std::sync::MutexGuard<'_, CallsState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The callback and its `userdata`, which the program shares between the
/// handler threads (the header says so).
#[derive(Clone, Copy)]
struct Callback {
    function: unsafe extern "C" fn(*mut c_void, *mut erldp_request),
    userdata: *mut c_void,
}

// SAFETY: the header requires callbacks and their userdata to be usable from
// any thread; the library only passes the pointer back.
unsafe impl Send for Callback {}
unsafe impl Sync for Callback {}

impl Callback {
    fn new(function: erldp_serve_callback, userdata: *mut c_void) -> Outcome<Callback> {
        let function = function.ok_or_else(|| invalid("callback is NULL"))?;
        Ok(Callback { function, userdata })
    }

    /// Calls the program with `request` and returns its answer.
    fn call(self, mut request: erldp_request) -> Option<Result<Reply, Exception>> {
        // SAFETY: the program's callback, given a request valid for the call.
        unsafe { (self.function)(self.userdata, &mut request) };
        request.answer
    }
}

/// The callback of one handle, run so that closing the handle can wait for
/// it: what `erldp_serve_with` and `erldp_expose_with` share.
struct Handler {
    callback: Callback,
    calls: Arc<Calls>,
}

impl Handler {
    fn new(function: erldp_serve_callback, userdata: *mut c_void) -> Outcome<Handler> {
        Ok(Handler {
            callback: Callback::new(function, userdata)?,
            calls: Arc::new(Calls::default()),
        })
    }

    /// Calls the program with `request` and returns its answer; fails with
    /// an exception when the request could not be made or the handle is
    /// closing (`closing` says so).
    fn run(
        &self,
        request: erldp::Result<erldp_request>,
        closing: &str,
    ) -> Result<Option<Result<Reply, Exception>>, Exception> {
        let request = request.map_err(failure)?;
        let mut answer = None;
        if !self.calls.run(|| answer = self.callback.call(request)) {
            return Err(failure(closing));
        }
        Ok(answer)
    }
}

/// The caller's options; NULL for the defaults.
///
/// # Safety
/// `options` is NULL or valid for reading (the pointer contract).
unsafe fn options(options: *const erldp_serve_options) -> Outcome<ServeOptions> {
    let mut serve = ServeOptions::new();
    if options.is_null() {
        return Ok(serve);
    }
    // SAFETY: non-NULL options are valid for reading a struct of their
    // version (the pointer contract); `on_reader` is read only from a struct
    // of version 2 or later, which has it. A C `bool` is one byte, read as
    // such so that a byte other than 0 or 1 is not an invalid Rust `bool`.
    let (concurrency, max_queue, on_reader) = unsafe {
        let version = extensible::check(options)?;
        (
            addr_of!((*options).concurrency).read(),
            addr_of!((*options).max_queue).read(),
            version >= 2 && addr_of!((*options).on_reader).cast::<u8>().read() != 0,
        )
    };
    if concurrency != 0 {
        serve = serve.concurrency(concurrency as usize);
    }
    if max_queue != 0 {
        serve = serve.max_queue(max_queue as usize);
    }
    Ok(serve.on_reader(on_reader))
}

fn serve_request(request: &Request) -> erldp::Result<erldp_request> {
    let kind = match request.kind {
        RequestKind::Call => erldp_req_kind::ERLDP_REQ_CALL,
        RequestKind::Cast => erldp_req_kind::ERLDP_REQ_CAST,
        RequestKind::Info => erldp_req_kind::ERLDP_REQ_INFO,
    };
    Ok(erldp_request {
        kind,
        term: encode(&request.message)?,
        from: request.from.as_ref().map(encode).transpose()?,
        function: None,
        module: None,
        answer: None,
    })
}

fn rpc_request(call: &Invocation) -> erldp::Result<erldp_request> {
    let name = |text: &str| {
        CString::new(text).map_err(|_| Error::InvalidArgument(format!("{text:?} holds a NUL")))
    };
    Ok(erldp_request {
        kind: erldp_req_kind::ERLDP_REQ_RPC,
        term: encode(&Term::List(call.args.clone()))?,
        from: None,
        function: Some(name(call.function.as_str())?),
        module: Some(name(call.module.as_str())?),
        answer: None,
    })
}

/// Serves or exposes with `start` the name and options `args` gives,
/// `callback` running its requests, and writes the handle (`wrap`) to `*out`: what
/// `erldp_serve_with` and `erldp_expose_with` share.
unsafe fn register<'a, H, W>(
    node: *const erldp_node,
    args: impl FnOnce() -> Outcome<(&'a str, ServeOptions)>,
    callback: erldp_serve_callback,
    userdata: *mut c_void,
    out: *mut *mut W,
    start: impl FnOnce(&Node, &'a str, ServeOptions, Handler) -> erldp::Result<H>,
    wrap: fn(Registration<H>) -> W,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let node = unsafe { ffi::handle(node) }?;
        let (name, options) = args()?;
        let out = unsafe { ffi::out(out, "out") }?;
        let handler = Handler::new(callback, userdata)?;
        let calls = Arc::clone(&handler.calls);
        let registration = Registration {
            handle: start(&node.node, name, options, handler)?,
            calls,
            owner: Owner::current(),
        };
        ffi::write(out, Box::into_raw(Box::new(wrap(registration))));
        Ok(())
    })
}

/// An answer the library gives itself, when the program could not.
fn failure(what: impl std::fmt::Display) -> Exception {
    Exception::new("erldp", what.to_string())
}

/// Fills `options` with the defaults: concurrency 0, max_queue 0 and
/// on_reader false (the defaults their fields describe), as far as a
/// struct of `version` has fields. Called through the header's
/// `erldp_serve_options_init(options)`, which passes
/// `ERLDP_SERVE_OPTIONS_VERSION`.
#[no_mangle]
pub unsafe extern "C" fn erldp_serve_options_init_version(
    options: *mut erldp_serve_options,
    version: c_uint,
) -> erldp_status {
    // SAFETY: NULL or valid for writing a struct of `version` (the pointer
    // contract).
    guard(|| unsafe { extensible::init(options, version) })
}

/// The version of `erldp_serve_options` in this header; raised when fields
/// are appended.
pub const ERLDP_SERVE_OPTIONS_VERSION: c_uint = 2;

impl Default for erldp_serve_options {
    fn default() -> Self {
        erldp_serve_options {
            version: ERLDP_SERVE_OPTIONS_VERSION,
            concurrency: 0,
            max_queue: 0,
            on_reader: false,
        }
    }
}

// SAFETY: `#[repr(C)]`, `version` first.
unsafe impl Extensible for erldp_serve_options {
    const NAME: &'static str = "erldp_serve_options";
    const VERSION: c_uint = ERLDP_SERVE_OPTIONS_VERSION;

    fn end_of(version: c_uint) -> usize {
        if version < 2 {
            std::mem::offset_of!(erldp_serve_options, max_queue) + std::mem::size_of::<u32>()
        } else {
            std::mem::size_of::<Self>()
        }
    }
}

/// Registers `name` as a process that answers `gen_server:call` with
/// `callback`, which also runs for `gen_server:cast` and plain messages:
/// `erldp_serve_with` with the default options.
#[no_mangle]
pub unsafe extern "C" fn erldp_serve(
    node: *const erldp_node,
    name: *const c_char,
    callback: erldp_serve_callback,
    userdata: *mut c_void,
    out: *mut *mut erldp_served,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe { erldp_serve_with(node, name, std::ptr::null(), callback, userdata, out) }
}

/// Registers `name` (a process BEAM can call, cast and send to, link to and
/// monitor) and calls `callback(userdata, request)` for each request, on the
/// node's handler threads: one at a time in arrival order unless
/// `options->concurrency` allows more. A call is answered with
/// `erldp_request_reply`; `erldp_request_raise` makes the caller's
/// `gen_server:call` exit at once with `{Class, Message}`; a callback that
/// answers nothing (or `erldp_request_noreply`) leaves the caller waiting
/// for `erldp_reply` with the request's `from`. Writes the handle to `*out`.
/// `ERLDP_ERR_ARG` for a name that is taken or reserved (`rex`,
/// `net_kernel`, `user`).
#[no_mangle]
pub unsafe extern "C" fn erldp_serve_with(
    node: *const erldp_node,
    name: *const c_char,
    options: *const erldp_serve_options,
    callback: erldp_serve_callback,
    userdata: *mut c_void,
    out: *mut *mut erldp_served,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    let args = || unsafe { Ok((ffi::str(name, "name")?, self::options(options)?)) };
    let serve = |node: &Node, name: &str, options, handler: Handler| {
        node.serve_with(name, options, move |request| {
            let answer = handler.run(serve_request(&request), "the served name is closing")?;
            answer.unwrap_or(Ok(Reply::NoReply))
        })
    };
    unsafe { register(node, args, callback, userdata, out, serve, erldp_served) }
}

/// Makes `rpc:call(Node, module, F, Args)`, `erpc:call`, their casts and
/// multicalls, `rpc:block_call` and `spawn(Node, module, F, Args)` call
/// `callback`: `erldp_expose_with` with the default options.
#[no_mangle]
pub unsafe extern "C" fn erldp_expose(
    node: *const erldp_node,
    module: *const c_char,
    callback: erldp_serve_callback,
    userdata: *mut c_void,
    out: *mut *mut erldp_exposed,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe { erldp_expose_with(node, module, std::ptr::null(), callback, userdata, out) }
}

/// Exposes `module`: each call into it runs `callback(userdata, request)`
/// on the node's handler threads (up to `options->concurrency` at once),
/// with `erldp_request_function` and the arguments as `erldp_request_term`.
/// `erldp_request_reply` gives the result; `erldp_request_raise` reaches
/// the caller as `error:{exception, {Class, Message}, []}` (`erpc`) or
/// `{badrpc, {'EXIT', {{Class, Message}, []}}}` (`rpc`); a callback that
/// answers nothing raises `{erldp, ...}`. Other modules stay `undef`.
/// Writes the handle to `*out`; `ERLDP_ERR_ARG` when the module is exposed
/// already.
#[no_mangle]
pub unsafe extern "C" fn erldp_expose_with(
    node: *const erldp_node,
    module: *const c_char,
    options: *const erldp_serve_options,
    callback: erldp_serve_callback,
    userdata: *mut c_void,
    out: *mut *mut erldp_exposed,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    let args = || unsafe { Ok((ffi::str(module, "module")?, self::options(options)?)) };
    let expose = |node: &Node, module: &str, options, handler: Handler| {
        node.expose_with(module, options, move |invocation| {
            let request = rpc_request(&invocation);
            match handler.run(request, "the module is no longer exposed")? {
                Some(Ok(Reply::Value(value))) => Ok(value),
                Some(Err(raised)) => Err(raised),
                Some(Ok(Reply::NoReply)) | None => Err(failure(format!(
                    "the callback of {}:{} gave no value",
                    invocation.module, invocation.function
                ))),
            }
        })
    };
    unsafe { register(node, args, callback, userdata, out, expose, erldp_exposed) }
}

/// The served process's pid (ETF), written to `*out`: BEAM code links to
/// and monitors it.
#[no_mangle]
pub unsafe extern "C" fn erldp_served_pid(
    served: *const erldp_served,
    out: *mut *mut erldp_buf,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        ffi::read(served, Out(out, "out"), |served| {
            erldp_buf::encoded(&Term::Pid(served.0.handle.pid()))
        })
    }
}

/// Stops serving the name (it is unregistered and waiting calls exit
/// `normal` at once; once the running callbacks have answered, monitors get
/// `DOWN` and links the exit signal, reason `normal`), waits for callbacks of
/// this handle running on other threads to return, and frees the handle:
/// afterwards the callback is not called again and `userdata` may be freed.
/// May be called from the handle's own callback (it does not wait for
/// that one). NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn erldp_served_close(served: *mut erldp_served) {
    // SAFETY: NULL or a handle the library allocated (the pointer contract).
    unsafe { ffi::release(served, |served| served.0.stop()) }
}

/// Stops exposing the module (calls that wait get `undef`), waits for its
/// callbacks running on other threads and frees the handle, as
/// `erldp_served_close` does. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn erldp_exposed_close(exposed: *mut erldp_exposed) {
    // SAFETY: NULL or a handle the library allocated (the pointer contract).
    unsafe { ffi::release(exposed, |exposed| exposed.0.stop()) }
}

/// Stops serving or exposing (`end`) what `name`, the argument `arg`,
/// names: what `erldp_unserve` and `erldp_unexpose` share.
/// `ERLDP_ERR_NOT_FOUND` with `missing` when `end` found none.
unsafe fn withdraw(
    node: *const erldp_node,
    name: *const c_char,
    arg: &str,
    end: fn(&Node, &str) -> bool,
    missing: &str,
) -> erldp_status {
    guard(|| {
        // SAFETY: arguments follow the pointer contract.
        let node = unsafe { ffi::handle(node) }?;
        let name = unsafe { ffi::str(name, arg) }?;
        if end(&node.node, name) {
            Ok(())
        } else {
            Err(not_found(name, missing))
        }
    })
}

/// Stops serving `name` without the handle (which `erldp_served_close`
/// must still free). `ERLDP_ERR_NOT_FOUND` when it is not served.
#[no_mangle]
pub unsafe extern "C" fn erldp_unserve(
    node: *const erldp_node,
    name: *const c_char,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe { withdraw(node, name, "name", Node::unserve, "no such name is served") }
}

/// Stops exposing `module` without the handle (which `erldp_exposed_close`
/// must still free). `ERLDP_ERR_NOT_FOUND` when it is not exposed.
#[no_mangle]
pub unsafe extern "C" fn erldp_unexpose(
    node: *const erldp_node,
    module: *const c_char,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        withdraw(
            node,
            module,
            "module",
            Node::unexpose,
            "no such module is exposed",
        )
    }
}

/// How the request reached the callback; `ERLDP_REQ_INVALID` for NULL.
#[no_mangle]
pub unsafe extern "C" fn erldp_request_kind(request: *const erldp_request) -> erldp_req_kind {
    // SAFETY: NULL or the callback's request (the pointer contract).
    unsafe { ffi::get(request, erldp_req_kind::ERLDP_REQ_INVALID, |r| r.kind) }
}

/// The request as ETF, borrowed until the callback returns: the `Request`
/// of a call or cast, the whole message of `ERLDP_REQ_INFO`, the list of
/// arguments of `ERLDP_REQ_RPC`.
#[no_mangle]
pub unsafe extern "C" fn erldp_request_term(
    request: *const erldp_request,
    data: *mut *const u8,
    len: *mut usize,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe { ffi::part(request, "term", |r| Ok(Some(&r.term)), data, len) }
}

/// The caller of a `gen_server:call`, `{Pid, Tag}` as ETF, borrowed until the
/// callback returns: what `erldp_reply` takes to answer later (copy it).
/// `ERLDP_ERR_NOT_FOUND` for other kinds.
#[no_mangle]
pub unsafe extern "C" fn erldp_request_from(
    request: *const erldp_request,
    data: *mut *const u8,
    len: *mut usize,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe { ffi::part(request, "caller", |r| Ok(r.from.as_ref()), data, len) }
}

/// A borrowed C string, NULL for none.
fn c_str_or_null(text: Option<&CString>) -> *const c_char {
    text.map_or(std::ptr::null(), |text| text.as_ptr())
}

/// The function an rpc asks for (UTF-8, NUL-terminated, borrowed until the
/// callback returns); NULL for requests to a served name.
#[no_mangle]
pub unsafe extern "C" fn erldp_request_function(request: *const erldp_request) -> *const c_char {
    // SAFETY: NULL or the callback's request (the pointer contract).
    unsafe {
        ffi::get(request, std::ptr::null(), |r| {
            c_str_or_null(r.function.as_ref())
        })
    }
}

/// The exposed module an rpc is for (borrowed until the callback returns);
/// NULL for requests to a served name.
#[no_mangle]
pub unsafe extern "C" fn erldp_request_module(request: *const erldp_request) -> *const c_char {
    // SAFETY: NULL or the callback's request (the pointer contract).
    unsafe {
        ffi::get(request, std::ptr::null(), |r| {
            c_str_or_null(r.module.as_ref())
        })
    }
}

/// Records the answer of a request, once.
unsafe fn answer(
    request: *mut erldp_request,
    make: impl FnOnce(&erldp_request) -> Outcome<Result<Reply, Exception>>,
) -> erldp_status {
    guard(|| {
        // SAFETY: NULL or the callback's request (the pointer contract).
        let request = unsafe { request.as_mut() }.ok_or_else(|| invalid("request is NULL"))?;
        if request.answer.is_some() {
            return Err(invalid("this request is answered already"));
        }
        let answer = make(request)?;
        request.answer = Some(answer);
        Ok(())
    })
}

/// Answers with the term `reply` (ETF): the reply to a call, the value of an
/// rpc (ignored for casts and messages). `ERLDP_ERR_ARG` when the request
/// is answered already.
#[no_mangle]
pub unsafe extern "C" fn erldp_request_reply(
    request: *mut erldp_request,
    reply: *const u8,
    reply_len: usize,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        answer(request, |_| {
            let value = ffi::term(reply, reply_len, "reply")?;
            Ok(Ok(Reply::Value(value)))
        })
    }
}

/// Answers with an exception of `class` (e.g. `"ArgumentError"`) and
/// `message`: a call exits with `{Class, Message}` (an atom and a binary),
/// an rpc raises `{exception, {Class, Message}, []}`. Class `"undef"` is
/// an exposed module's answer for a function it does not have: the rpc's
/// caller gets BEAM's `undef` for that call, `{undef, [{M, F, Args, []}]}`,
/// whatever the message.
#[no_mangle]
pub unsafe extern "C" fn erldp_request_raise(
    request: *mut erldp_request,
    class: *const c_char,
    message: *const c_char,
) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        answer(request, |_| {
            let class = ffi::str(class, "class")?;
            let message = ffi::str(message, "message")?;
            Ok(Err(Exception::new(class, message)))
        })
    }
}

/// Answers a call later: the caller waits until `erldp_reply` is called
/// with the request's `from` (`erldp_request_from`), from any thread. A
/// callback that answers nothing does the same. `ERLDP_ERR_ARG` for an rpc,
/// which must give a value.
#[no_mangle]
pub unsafe extern "C" fn erldp_request_noreply(request: *mut erldp_request) -> erldp_status {
    // SAFETY: arguments follow the pointer contract.
    unsafe {
        answer(request, |request| {
            if request.kind == erldp_req_kind::ERLDP_REQ_RPC {
                return Err(invalid("an rpc must be answered with a value"));
            }
            Ok(Ok(Reply::NoReply))
        })
    }
}
