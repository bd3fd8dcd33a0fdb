//! The JavaScript classes and helpers that conversion needs, registered once
//! by the package's `index.js` (`setup`).
//!
//! Terms become instances of the package's own classes (`Tuple`, `Pid`, …),
//! which live in JavaScript so that users can construct, subclass and
//! inspect them like any other class. The references are kept per thread:
//! a Node-API environment belongs to one thread, and each worker thread
//! that loads the package registers its own. The addon is loaded once per
//! thread, but its package may be loaded again (Jest's registry per test
//! file, a cleared `require.cache`): the copy loaded last registers its
//! classes, so that the code that loaded it gets instances of its own.

use std::cell::Cell;
use std::ffi::CStr;

use napi::{sys, Error, Result, Status};

use crate::js::{Js, Value};

/// One registered class or helper.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Item {
    Tuple,
    Pid,
    Ref,
    Port,
    Bitstring,
    ImproperList,
    Opaque,
    Float,
    /// The global `Map` constructor.
    Map,
    /// `Object.prototype`: objects with it (or none) are plain objects.
    ObjectPrototype,
    /// `Symbol.keyFor`: the atom text of a symbol made by `Symbol.for`.
    SymbolKeyFor,
    /// `Array.from`: a `Map`'s entries as an array of pairs.
    ArrayFrom,
    /// `makeError(code, message, detail)`: an `ErlDPError` subclass instance.
    MakeError,
    /// `erldp.Global`: a destination named with `global`.
    Global,
}

const ITEMS: [(Item, &CStr); 14] = [
    (Item::Tuple, c"Tuple"),
    (Item::Pid, c"Pid"),
    (Item::Ref, c"Ref"),
    (Item::Port, c"Port"),
    (Item::Bitstring, c"Bitstring"),
    (Item::ImproperList, c"ImproperList"),
    (Item::Opaque, c"Opaque"),
    (Item::Float, c"Float"),
    (Item::Map, c"Map"),
    (Item::ObjectPrototype, c"objectPrototype"),
    (Item::SymbolKeyFor, c"symbolKeyFor"),
    (Item::ArrayFrom, c"arrayFrom"),
    (Item::MakeError, c"makeError"),
    (Item::Global, c"Global"),
];

// The table is indexed by `Item`; this fails the build if the order drifts.
const _: () = {
    let mut index = 0;
    while index < ITEMS.len() {
        assert!(ITEMS[index].0 as usize == index);
        index += 1;
    }
};

thread_local! {
    static REFERENCES: Cell<Option<[sys::napi_ref; ITEMS.len()]>> = const { Cell::new(None) };
}

/// Registers the items, read as properties of `items`, in place of those a
/// copy of the package loaded before on this thread registered.
pub(crate) fn register(js: Js, items: Value) -> Result<()> {
    let mut references = [std::ptr::null_mut(); ITEMS.len()];
    for (slot, (_, name)) in references.iter_mut().zip(ITEMS) {
        *slot = js.keep(js.named(items, name)?)?;
    }
    if let Some(replaced) = REFERENCES.with(|cell| cell.replace(Some(references))) {
        for reference in replaced {
            js.release(reference)?;
        }
    }
    Ok(())
}

/// The registered value of `item`.
pub(crate) fn get(js: Js, item: Item) -> Result<Value> {
    let reference = REFERENCES.with(|cell| cell.get().map(|references| references[item as usize]));
    match reference {
        Some(reference) => js.kept(reference),
        None => Err(Error::new(
            Status::GenericFailure,
            "the erldp native addon was used without its package (index.js registers its classes)",
        )),
    }
}
