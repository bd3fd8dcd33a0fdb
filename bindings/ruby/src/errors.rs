//! The one place where ErlDP's errors become Ruby exceptions.
//!
//! The exception classes are written in Ruby (`lib/erldp/errors.rb`, loaded
//! before this extension) so that they carry their documentation and
//! readers; here they are looked up once and every [`erldp::Error`] variant
//! is mapped to one of them.

use std::any::Any;
use std::sync::OnceLock;

use magnus::value::Opaque;
use magnus::value::ReprValue;
use magnus::{prelude::*, Error, ExceptionClass, RClass, RModule, Ruby, TryConvert};

use erldp::ErrorKind;

use crate::convert;

/// The Ruby classes the extension raises or builds, looked up from the
/// `ErlDP` module when the extension loads.
pub(crate) struct Classes {
    pub tuple: Opaque<RClass>,
    pub bitstring: Opaque<RClass>,
    pub improper_list: Opaque<RClass>,
    pub message: Opaque<RClass>,
    pub error: Opaque<ExceptionClass>,
    connection_error: Opaque<ExceptionClass>,
    auth_error: Opaque<ExceptionClass>,
    node_not_found: Opaque<ExceptionClass>,
    timeout: Opaque<ExceptionClass>,
    rpc_error: Opaque<ExceptionClass>,
    decode_error: Opaque<ExceptionClass>,
    encode_error: Opaque<ExceptionClass>,
    closed_error: Opaque<ExceptionClass>,
    name_taken: Opaque<ExceptionClass>,
}

static CLASSES: OnceLock<Classes> = OnceLock::new();

/// Looks the classes up; fails (and so `require` fails) when the Ruby half
/// of the gem has not defined them, i.e. when the extension is loaded on its
/// own instead of through `require "erldp"`.
pub(crate) fn init(ruby: &Ruby, module: RModule) -> Result<(), Error> {
    fn class<T: TryConvert + ReprValue>(
        ruby: &Ruby,
        module: RModule,
        name: &str,
    ) -> Result<Opaque<T>, Error> {
        let value: T = module.const_get(name).map_err(|_| {
            Error::new(
                ruby.exception_load_error(),
                format!(
                    "ErlDP::{name} is not defined: load the extension with `require \"erldp\"`"
                ),
            )
        })?;
        // Constants keep the classes alive; registering also keeps GC
        // compaction from moving them under the handles stored here.
        ruby.gc_register_mark_object(value);
        Ok(value.into())
    }
    let classes = Classes {
        tuple: class(ruby, module, "Tuple")?,
        bitstring: class(ruby, module, "Bitstring")?,
        improper_list: class(ruby, module, "ImproperList")?,
        message: class(ruby, module, "Message")?,
        error: class(ruby, module, "Error")?,
        connection_error: class(ruby, module, "ConnectionError")?,
        auth_error: class(ruby, module, "AuthError")?,
        node_not_found: class(ruby, module, "NodeNotFound")?,
        timeout: class(ruby, module, "Timeout")?,
        rpc_error: class(ruby, module, "RpcError")?,
        decode_error: class(ruby, module, "DecodeError")?,
        encode_error: class(ruby, module, "EncodeError")?,
        closed_error: class(ruby, module, "ClosedError")?,
        name_taken: class(ruby, module, "NameTaken")?,
    };
    // A second `require` of the extension (a different path to the same
    // file) finds the same classes; keeping the first set is correct.
    let _ = CLASSES.set(classes);
    Ok(())
}

pub(crate) fn classes() -> &'static Classes {
    CLASSES
        .get()
        .expect("the extension's init looked the classes up")
}

/// The Ruby exception for an ErlDP error. Invalid arguments are Ruby's own
/// `ArgumentError`; everything else is an `ErlDP::Error`.
pub(crate) fn raise(ruby: &Ruby, err: erldp::Error) -> Error {
    let c = classes();
    let message = err.to_string();
    let (class, detail) = match err.kind() {
        ErrorKind::Connection => (c.connection_error, None),
        ErrorKind::Auth => (c.auth_error, None),
        ErrorKind::NodeNotFound => (c.node_not_found, None),
        ErrorKind::Timeout => (c.timeout, None),
        ErrorKind::Rpc => {
            let term = err.rpc_term().expect("an Rpc error has a remote term");
            match convert::to_ruby(ruby, &term) {
                Ok(reason) => (c.rpc_error, Some(reason)),
                Err(failure) => return failure,
            }
        }
        ErrorKind::Decode => (c.decode_error, None),
        ErrorKind::Encode => {
            let path = match &err {
                erldp::Error::Encode { path, .. } => path.as_str(),
                _ => "",
            };
            (c.encode_error, Some(ruby.str_new(path).as_value()))
        }
        ErrorKind::Parse | ErrorKind::InvalidArgument => {
            return Error::new(ruby.exception_arg_error(), message)
        }
        ErrorKind::Closed => (c.closed_error, None),
        ErrorKind::NameTaken => (c.name_taken, None),
        ErrorKind::Io => (c.error, None),
    };
    let class = ruby.get_inner(class);
    let built = match detail {
        Some(detail) => class.new_instance((message.as_str(), detail)),
        None => class.new_instance((message.as_str(),)),
    };
    match built {
        Ok(exception) => exception.into(),
        Err(failure) => failure,
    }
}

/// An `ErlDP::Error` for a Rust panic caught at the boundary: a bug in
/// ErlDP, reported as an exception the program can rescue and log instead
/// of an abort.
pub(crate) fn panicked(ruby: &Ruby, payload: Box<dyn Any + Send>) -> Error {
    let detail = erldp::error::panic_message(&*payload).unwrap_or("no message");
    Error::new(
        ruby.get_inner(classes().error),
        format!("internal error in ErlDP (please report it): {detail}"),
    )
}
