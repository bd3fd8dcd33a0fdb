//! A thin, safe layer over the Node-API calls that term conversion needs.
//!
//! napi-rs covers function exports, classes and thread-safe functions well,
//! but converting arbitrary values both ways touches many raw calls (type
//! checks, `instanceof`, BigInt words, typed arrays, property lists). They
//! are wrapped here once, each with its status check, so that `convert.rs`
//! reads as plain Rust.
//!
//! A [`Value`] is a handle in the current handle scope: valid until the
//! native call or callback that produced it returns, never stored beyond.

use std::ffi::c_void;
use std::ptr;

use napi::{sys, Error, Result, Status};

/// A JavaScript value of the current scope.
#[derive(Clone, Copy)]
pub struct Value(pub(crate) sys::napi_value);

/// What `typeof` says, plus null (`typeof null` is "object" in JS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Undefined,
    Null,
    Boolean,
    Number,
    String,
    Symbol,
    Object,
    Function,
    External,
    BigInt,
}

/// The environment of the calling JavaScript thread.
#[derive(Clone, Copy)]
pub(crate) struct Js(sys::napi_env);

fn check(status: sys::napi_status) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        // A pending exception (a constructor or helper threw) is rethrown
        // as is by napi-rs when the native call returns.
        Err(Error::from_status(Status::from(status)))
    }
}

/// Runs a Node-API call that writes one value through its last argument.
macro_rules! out {
    ($init:expr, |$out:ident| $call:expr) => {{
        let mut $out = $init;
        // SAFETY: every call made through this macro is a Node-API function
        // given the environment of the current thread, values of the current
        // scope and a pointer to a local of the right type.
        check(unsafe { $call })?;
        Ok::<_, Error>($out)
    }};
}

impl Js {
    pub(crate) fn new(env: sys::napi_env) -> Js {
        Js(env)
    }

    pub(crate) fn raw(self) -> sys::napi_env {
        self.0
    }

    // ---- inspecting ----------------------------------------------------

    pub(crate) fn kind(self, value: Value) -> Result<Kind> {
        let kind: sys::napi_valuetype =
            out!(0, |kind| sys::napi_typeof(self.0, value.0, &mut kind))?;
        use sys::ValueType as T;
        Ok(match kind {
            T::napi_undefined => Kind::Undefined,
            T::napi_null => Kind::Null,
            T::napi_boolean => Kind::Boolean,
            T::napi_number => Kind::Number,
            T::napi_string => Kind::String,
            T::napi_symbol => Kind::Symbol,
            T::napi_object => Kind::Object,
            T::napi_function => Kind::Function,
            T::napi_external => Kind::External,
            _ => Kind::BigInt,
        })
    }

    pub(crate) fn get_bool(self, value: Value) -> Result<bool> {
        out!(false, |result| sys::napi_get_value_bool(
            self.0,
            value.0,
            &mut result
        ))
    }

    pub(crate) fn get_f64(self, value: Value) -> Result<f64> {
        out!(0.0, |result| sys::napi_get_value_double(
            self.0,
            value.0,
            &mut result
        ))
    }

    /// The string as UTF-8; lone surrogates become U+FFFD, as in
    /// `Buffer.from(string)`.
    pub(crate) fn get_string(self, value: Value) -> Result<String> {
        let len: usize = out!(0, |len| sys::napi_get_value_string_utf8(
            self.0,
            value.0,
            ptr::null_mut(),
            0,
            &mut len
        ))?;
        let mut bytes = vec![0u8; len + 1];
        let written: usize = out!(0, |written| sys::napi_get_value_string_utf8(
            self.0,
            value.0,
            bytes.as_mut_ptr().cast(),
            bytes.len(),
            &mut written
        ))?;
        bytes.truncate(written);
        String::from_utf8(bytes)
            .map_err(|_| Error::new(Status::StringExpected, "V8 returned invalid UTF-8"))
    }

    /// Sign (true: negative) and 64-bit words, least significant first.
    pub(crate) fn get_bigint(self, value: Value) -> Result<(bool, Vec<u64>)> {
        let count: usize = out!(0, |count| sys::napi_get_value_bigint_words(
            self.0,
            value.0,
            ptr::null_mut(),
            &mut count,
            ptr::null_mut()
        ))?;
        let mut words = vec![0u64; count];
        let mut sign = 0i32;
        let mut count = count;
        check(unsafe {
            // SAFETY: `words` holds `count` words, as the call requires.
            sys::napi_get_value_bigint_words(
                self.0,
                value.0,
                &mut sign,
                &mut count,
                words.as_mut_ptr(),
            )
        })?;
        words.truncate(count);
        Ok((sign != 0, words))
    }

    pub(crate) fn is_array(self, value: Value) -> Result<bool> {
        out!(false, |result| sys::napi_is_array(
            self.0,
            value.0,
            &mut result
        ))
    }

    pub(crate) fn array_len(self, value: Value) -> Result<u32> {
        out!(0, |len| sys::napi_get_array_length(
            self.0, value.0, &mut len
        ))
    }

    pub(crate) fn element(self, value: Value, index: u32) -> Result<Value> {
        out!(ptr::null_mut(), |result| sys::napi_get_element(
            self.0,
            value.0,
            index,
            &mut result
        ))
        .map(Value)
    }

    /// The bytes of a `Uint8Array` (so also of a `Buffer`), copied; `None`
    /// for any other value.
    pub(crate) fn uint8_bytes(self, value: Value) -> Result<Option<Vec<u8>>> {
        self.with_uint8(value, <[u8]>::to_vec)
    }

    /// `read` of the bytes of a `Uint8Array` (so also of a `Buffer`) in
    /// place; `None` for any other value.
    pub(crate) fn with_uint8<R>(
        self,
        value: Value,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>> {
        let is_typed: bool = out!(false, |result| sys::napi_is_typedarray(
            self.0,
            value.0,
            &mut result
        ))?;
        if !is_typed {
            return Ok(None);
        }
        let mut kind = 0;
        let mut len = 0usize;
        let mut data: *mut c_void = ptr::null_mut();
        check(unsafe {
            // SAFETY: out pointers to locals; the array buffer and offset are
            // not wanted.
            sys::napi_get_typedarray_info(
                self.0,
                value.0,
                &mut kind,
                &mut len,
                &mut data,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        })?;
        if kind != sys::TypedarrayType::uint8_array {
            return Ok(None);
        }
        if len == 0 || data.is_null() {
            return Ok(Some(read(&[])));
        }
        // SAFETY: Node-API reports `len` bytes at `data`, alive while the
        // value is; `read` cannot run JavaScript, which could detach them.
        Ok(Some(read(unsafe {
            std::slice::from_raw_parts(data.cast::<u8>(), len)
        })))
    }

    pub(crate) fn instance_of(self, value: Value, constructor: Value) -> Result<bool> {
        out!(false, |result| sys::napi_instanceof(
            self.0,
            value.0,
            constructor.0,
            &mut result
        ))
    }

    pub(crate) fn prototype(self, value: Value) -> Result<Value> {
        out!(ptr::null_mut(), |result| sys::napi_get_prototype(
            self.0,
            value.0,
            &mut result
        ))
        .map(Value)
    }

    pub(crate) fn strict_equals(self, a: Value, b: Value) -> Result<bool> {
        out!(false, |result| sys::napi_strict_equals(
            self.0,
            a.0,
            b.0,
            &mut result
        ))
    }

    /// Own enumerable keys, strings and symbols, as an array.
    pub(crate) fn own_keys(self, value: Value) -> Result<Value> {
        out!(ptr::null_mut(), |result| sys::napi_get_all_property_names(
            self.0,
            value.0,
            sys::KeyCollectionMode::own_only,
            sys::KeyFilter::enumerable,
            sys::KeyConversion::numbers_to_strings,
            &mut result
        ))
        .map(Value)
    }

    pub(crate) fn property(self, object: Value, key: Value) -> Result<Value> {
        out!(ptr::null_mut(), |result| sys::napi_get_property(
            self.0,
            object.0,
            key.0,
            &mut result
        ))
        .map(Value)
    }

    pub(crate) fn named(self, object: Value, name: &std::ffi::CStr) -> Result<Value> {
        out!(ptr::null_mut(), |result| sys::napi_get_named_property(
            self.0,
            object.0,
            name.as_ptr(),
            &mut result
        ))
        .map(Value)
    }

    // ---- calling -------------------------------------------------------

    pub(crate) fn call(self, function: Value, args: &[Value]) -> Result<Value> {
        let this = self.undefined()?;
        let raw: Vec<sys::napi_value> = args.iter().map(|arg| arg.0).collect();
        out!(ptr::null_mut(), |result| sys::napi_call_function(
            self.0,
            this.0,
            function.0,
            raw.len(),
            raw.as_ptr(),
            &mut result
        ))
        .map(Value)
    }

    pub(crate) fn construct(self, constructor: Value, args: &[Value]) -> Result<Value> {
        let raw: Vec<sys::napi_value> = args.iter().map(|arg| arg.0).collect();
        out!(ptr::null_mut(), |result| sys::napi_new_instance(
            self.0,
            constructor.0,
            raw.len(),
            raw.as_ptr(),
            &mut result
        ))
        .map(Value)
    }

    // ---- creating ------------------------------------------------------

    pub(crate) fn undefined(self) -> Result<Value> {
        out!(ptr::null_mut(), |result| sys::napi_get_undefined(
            self.0,
            &mut result
        ))
        .map(Value)
    }

    pub(crate) fn null(self) -> Result<Value> {
        out!(ptr::null_mut(), |result| sys::napi_get_null(
            self.0,
            &mut result
        ))
        .map(Value)
    }

    pub(crate) fn boolean(self, value: bool) -> Result<Value> {
        out!(ptr::null_mut(), |result| sys::napi_get_boolean(
            self.0,
            value,
            &mut result
        ))
        .map(Value)
    }

    pub(crate) fn number(self, value: f64) -> Result<Value> {
        out!(ptr::null_mut(), |result| sys::napi_create_double(
            self.0,
            value,
            &mut result
        ))
        .map(Value)
    }

    pub(crate) fn string(self, text: &str) -> Result<Value> {
        out!(ptr::null_mut(), |result| sys::napi_create_string_utf8(
            self.0,
            text.as_ptr().cast(),
            text.len() as isize,
            &mut result
        ))
        .map(Value)
    }

    /// `Symbol.for(name)`.
    pub(crate) fn symbol_for(self, name: &str) -> Result<Value> {
        out!(ptr::null_mut(), |result| sys::node_api_symbol_for(
            self.0,
            name.as_ptr().cast(),
            name.len() as isize,
            &mut result
        ))
        .map(Value)
    }

    /// A BigInt from its sign and 64-bit words, least significant first.
    pub(crate) fn bigint(self, negative: bool, words: &[u64]) -> Result<Value> {
        out!(ptr::null_mut(), |result| sys::napi_create_bigint_words(
            self.0,
            i32::from(negative),
            words.len(),
            words.as_ptr(),
            &mut result
        ))
        .map(Value)
    }

    pub(crate) fn buffer(self, bytes: &[u8]) -> Result<Value> {
        let mut data = ptr::null_mut();
        out!(ptr::null_mut(), |result| sys::napi_create_buffer_copy(
            self.0,
            bytes.len(),
            bytes.as_ptr().cast(),
            &mut data,
            &mut result
        ))
        .map(Value)
    }

    pub(crate) fn array(self, len: usize) -> Result<Value> {
        out!(
            ptr::null_mut(),
            |result| sys::napi_create_array_with_length(self.0, len, &mut result)
        )
        .map(Value)
    }

    pub(crate) fn set_element(self, array: Value, index: u32, value: Value) -> Result<()> {
        // SAFETY: values of the current scope.
        check(unsafe { sys::napi_set_element(self.0, array.0, index, value.0) })
    }

    pub(crate) fn object(self) -> Result<Value> {
        out!(ptr::null_mut(), |result| sys::napi_create_object(
            self.0,
            &mut result
        ))
        .map(Value)
    }

    pub(crate) fn set_property(self, object: Value, key: Value, value: Value) -> Result<()> {
        // SAFETY: values of the current scope.
        check(unsafe { sys::napi_set_property(self.0, object.0, key.0, value.0) })
    }

    pub(crate) fn set_named(
        self,
        object: Value,
        name: &std::ffi::CStr,
        value: Value,
    ) -> Result<()> {
        // SAFETY: values of the current scope and a NUL-terminated name.
        check(unsafe { sys::napi_set_named_property(self.0, object.0, name.as_ptr(), value.0) })
    }

    // ---- keeping -------------------------------------------------------

    /// A strong reference that outlives the scope (for the classes the
    /// package registers once).
    pub(crate) fn keep(self, value: Value) -> Result<sys::napi_ref> {
        out!(ptr::null_mut(), |result| sys::napi_create_reference(
            self.0,
            value.0,
            1,
            &mut result
        ))
    }

    /// Lets go of a reference made by [`keep`](Self::keep).
    pub(crate) fn release(self, reference: sys::napi_ref) -> Result<()> {
        // SAFETY: a reference this environment made and nothing uses again.
        check(unsafe { sys::napi_delete_reference(self.0, reference) })
    }

    pub(crate) fn kept(self, reference: sys::napi_ref) -> Result<Value> {
        out!(ptr::null_mut(), |result| sys::napi_get_reference_value(
            self.0,
            reference,
            &mut result
        ))
        .map(Value)
    }
}

impl Js {
    /// The JavaScript error for a failed Node-API step: the exception a
    /// called function threw, or else an `Error` made from `failure`.
    pub(crate) fn error_value(self, failure: Error) -> Value {
        let mut pending = false;
        // SAFETY: out pointers to locals, on the environment's thread.
        unsafe {
            if sys::napi_is_exception_pending(self.0, &mut pending) == sys::Status::napi_ok
                && pending
            {
                let mut exception = ptr::null_mut();
                if sys::napi_get_and_clear_last_exception(self.0, &mut exception)
                    == sys::Status::napi_ok
                {
                    return Value(exception);
                }
            }
        }
        Value(napi::JsValue::raw(
            &napi::JsError::from(failure).into_unknown(napi::Env::from_raw(self.0)),
        ))
    }
}

impl napi::bindgen_prelude::TypeName for Value {
    fn type_name() -> &'static str {
        "unknown"
    }

    fn value_type() -> napi::ValueType {
        napi::ValueType::Unknown
    }
}

impl napi::bindgen_prelude::FromNapiValue for Value {
    unsafe fn from_napi_value(_env: sys::napi_env, value: sys::napi_value) -> Result<Value> {
        Ok(Value(value))
    }
}

impl napi::bindgen_prelude::ToNapiValue for Value {
    unsafe fn to_napi_value(_env: sys::napi_env, value: Value) -> Result<sys::napi_value> {
        Ok(value.0)
    }
}
