//! `ErlDP::Responder`: the answer to one request a handler runs for, given
//! once. The Ruby half (`lib/erldp/serving.rb`) runs the block and picks the
//! answer: its value, `NOREPLY`, or the exception it raised.

use erldp::serve::{Arity, Exception, Frame, Reply};
use erldp::sync::Mutex;
use magnus::{method, prelude::*, Error, RModule, Ruby, Value};

use crate::{args, gvl};

/// A frame of a Ruby backtrace as `lib/erldp/serving.rb` gives it: class,
/// method, arity, file, line.
type RubyFrame = (String, String, u32, Option<String>, Option<u32>);

/// Dropped unanswered (its thread killed before the `ensure` that answers),
/// the core's responder answers with the exception `erldp`.
#[magnus::wrap(class = "ErlDP::Responder", size)]
pub(crate) struct Responder(Mutex<Option<erldp::serve::Responder>>);

impl Responder {
    pub(crate) fn new(responder: erldp::serve::Responder) -> Responder {
        Responder(Mutex::new(Some(responder)))
    }

    /// Completes the core's responder with the GVL released: the answer is
    /// written to the caller's connection at once, and the next request of
    /// the name is handed over on this thread.
    fn complete(
        ruby: &Ruby,
        rb_self: &Self,
        answer: Result<Reply, Exception>,
    ) -> Result<(), Error> {
        let Some(responder) = rb_self.0.lock().take() else {
            return Err(Error::new(
                ruby.exception_runtime_error(),
                "this request was answered already",
            ));
        };
        gvl::without_gvl_uninterruptible(ruby, move || responder.complete(answer))
    }

    /// Answers with `value`; a value with no Erlang form raises
    /// `ErlDP::EncodeError` and leaves the request unanswered.
    fn reply(ruby: &Ruby, rb_self: &Self, value: Value) -> Result<(), Error> {
        let value = args::term(ruby, value)?;
        Self::complete(ruby, rb_self, Ok(Reply::Value(value)))
    }

    fn no_reply(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        Self::complete(ruby, rb_self, Ok(Reply::NoReply))
    }

    fn raise(
        ruby: &Ruby,
        rb_self: &Self,
        class: String,
        message: String,
        frames: Vec<RubyFrame>,
    ) -> Result<(), Error> {
        let mut exception = Exception::new(class, message);
        for (class, method, arity, file, line) in frames {
            exception = exception.with_frame(Frame {
                class,
                method,
                arity: Arity::Count(arity),
                file,
                line,
            });
        }
        Self::complete(ruby, rb_self, Err(exception))
    }

    fn is_answered(&self) -> bool {
        self.0.lock().is_none()
    }

    /// Whether the caller gave up: an answer would be dropped.
    fn is_cancelled(&self) -> bool {
        self.0
            .lock()
            .as_ref()
            .is_some_and(erldp::serve::Responder::is_cancelled)
    }
}

pub(crate) fn define(ruby: &Ruby, module: RModule) -> Result<(), Error> {
    // Responders come with the requests a handle's threads take.
    let class = crate::native_class(ruby, module, "Responder")?;
    class.define_method("reply", method!(Responder::reply, 1))?;
    class.define_method("noreply", method!(Responder::no_reply, 0))?;
    class.define_private_method("native_raise", method!(Responder::raise, 3))?;
    class.define_method("answered?", method!(Responder::is_answered, 0))?;
    class.define_method("cancelled?", method!(Responder::is_cancelled, 0))?;
    Ok(())
}
