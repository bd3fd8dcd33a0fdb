'use strict';
// erldp.elixir: Elixir's values as JavaScript sees them, and back (module names, structs,
// keyword lists, charlists, the calendar types). Decoded values come in whatever shape the
// decode options gave (Maps or plain objects, atoms as symbols or strings): the readers here
// take every one of them; what the builders make encodes as Elixir expects.

const native = require('./native');
const { Tuple, tuple } = require('./terms');

const ISO = 'Elixir.Calendar.ISO';

function nameText(name, what) {
  if (typeof name === 'string') return name;
  if (typeof name === 'symbol' && Symbol.keyFor(name) !== undefined) return Symbol.keyFor(name);
  throw new TypeError(`${what} must be a string or a Symbol.for() symbol`);
}

/** An atom's text, whether it was decoded as a symbol or (`atoms: "string"`) a string. */
function atomText(value) {
  if (typeof value === 'symbol') return Symbol.keyFor(value);
  return typeof value === 'string' ? value : undefined;
}

function isPlainObject(value) {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** `key` of a map decoded as a Map (atom keys as symbols or strings) or as a plain object. */
function field(value, key) {
  if (value instanceof Map) return value.has(Symbol.for(key)) ? value.get(Symbol.for(key)) : value.get(key);
  if (isPlainObject(value)) return Object.hasOwn(value, key) ? value[key] : undefined;
  return undefined;
}

/** `MyApp.Api` → the atom `Elixir.MyApp.Api`; other names (`lists`) as they are, as atoms. */
function moduleOf(name) {
  return Symbol.for(native.elixirModule(nameText(name, 'a module name')));
}

/** The atom `Elixir.MyApp.Api` → `"MyApp.Api"`; `undefined` for a module that is not Elixir's. */
function alias(moduleAtom) {
  return native.elixirAlias(nameText(moduleAtom, 'a module')) ?? undefined;
}

/** `%Module{fields}`: a plain object (a map with atom keys) with the module under `__struct__`. */
function struct(moduleName, fields = {}) {
  if (!isPlainObject(fields)) throw new TypeError('the fields of a struct must be a plain object');
  return { __struct__: moduleOf(moduleName), ...fields };
}

/** The struct's module as Elixir writes it (`"MyApp.User"`), or `undefined` for anything else. */
function structName(value) {
  const moduleAtom = atomText(field(value, '__struct__'));
  if (moduleAtom === undefined) return undefined;
  return alias(moduleAtom) ?? moduleAtom;
}

/** Whether `value` is a struct (of `moduleName`, when given). */
function isStruct(value, moduleName) {
  const moduleAtom = atomText(field(value, '__struct__'));
  if (moduleAtom === undefined) return false;
  return moduleName === undefined || moduleAtom === Symbol.keyFor(moduleOf(moduleName));
}

/** A keyword list from an object's (or a Map's, or an array's) pairs, in order: `[{key, value}]`. */
function keyword(pairs) {
  const entries = pairs instanceof Map || Array.isArray(pairs) ? [...pairs] : Object.entries(pairs);
  return entries.map(([key, value]) => tuple(Symbol.for(nameText(key, 'a keyword list key')), value));
}

/** Whether `value` is a keyword list: an array of two-element tuples with atom keys. */
function isKeyword(value) {
  return (
    Array.isArray(value) &&
    !(value instanceof Tuple) &&
    value.every((pair) => pair instanceof Tuple && pair.length === 2 && atomText(pair[0]) !== undefined)
  );
}

/** A keyword list as a plain object; for a key given twice the first value counts, as with `Keyword.get/2`. */
function fromKeyword(list) {
  if (!isKeyword(list)) throw new TypeError('not a keyword list: an array of {atom, value} tuples');
  const object = {};
  for (const [key, value] of list) {
    const name = atomText(key);
    if (!Object.hasOwn(object, name)) object[name] = value;
  }
  return object;
}

/** A charlist (Erlang's strings, Elixir's `~c"hi"`): the string's code points. */
function charlist(text) {
  if (typeof text !== 'string') throw new TypeError('a charlist is made from a string');
  return Array.from(text, (char) => char.codePointAt(0));
}

/** The string a charlist holds. */
function fromCharlist(list) {
  if (!Array.isArray(list)) throw new TypeError('a charlist is an array of code points');
  let text = '';
  // fromCodePoint takes its arguments on the stack: a long list goes in slices.
  for (let i = 0; i < list.length; i += 8192) text += String.fromCodePoint(...list.slice(i, i + 8192));
  return text;
}

function checkDate(value) {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new TypeError('a valid Date is needed');
  return value;
}

function calendar(name, fields) {
  return struct(name, { calendar: Symbol.for(ISO), ...fields });
}

const dateFields = (d) => ({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() });

/** A JavaScript Date holds milliseconds: Elixir's `microsecond` with precision 3. */
const clockFields = (d) => ({
  hour: d.getUTCHours(),
  minute: d.getUTCMinutes(),
  second: d.getUTCSeconds(),
  microsecond: tuple(d.getUTCMilliseconds() * 1000, 3),
});

/** A `%DateTime{}` in UTC for a Date (milliseconds, as a Date has them). */
function dateTime(date) {
  const d = checkDate(date);
  return calendar('DateTime', {
    ...dateFields(d),
    ...clockFields(d),
    time_zone: 'Etc/UTC',
    zone_abbr: 'UTC',
    utc_offset: 0,
    std_offset: 0,
  });
}

/** A `%NaiveDateTime{}` with the Date's UTC date and clock. */
function naiveDateTime(date) {
  const d = checkDate(date);
  return calendar('NaiveDateTime', { ...dateFields(d), ...clockFields(d) });
}

/** A `%Date{}` with the Date's UTC date. */
function date(value) {
  return calendar('Date', dateFields(checkDate(value)));
}

/** A `%Time{}` (a time of day) with the Date's UTC clock. */
function time(value) {
  return calendar('Time', clockFields(checkDate(value)));
}

/** A Date in UTC; years below 100 stay what they are (Date.UTC would add 1900). */
function utc(year, month, day, hour = 0, minute = 0, second = 0, micro = 0) {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, Math.floor(micro / 1000));
  return d;
}

function number(value, key) {
  const n = field(value, key);
  if (typeof n !== 'number') throw new TypeError(`the ${key} of a calendar struct must be a number`);
  return n;
}

function micro(value) {
  const us = field(value, 'microsecond');
  return Array.isArray(us) && typeof us[0] === 'number' ? us[0] : 0;
}

/**
 * The Date for a calendar struct: a DateTime at its instant, a NaiveDateTime read as UTC, a
 * Date at midnight UTC, a Time on 1970-01-01 UTC (microseconds cut to milliseconds); anything
 * else as it is.
 */
function fromCalendar(value) {
  if (atomText(field(value, 'calendar')) !== ISO) return value;
  const ymd = () => [number(value, 'year'), number(value, 'month'), number(value, 'day')];
  const clock = () => [number(value, 'hour'), number(value, 'minute'), number(value, 'second'), micro(value)];
  switch (structName(value)) {
    case 'DateTime': {
      const offset = number(value, 'utc_offset') + number(value, 'std_offset');
      return new Date(utc(...ymd(), ...clock()).getTime() - offset * 1000);
    }
    case 'NaiveDateTime':
      return utc(...ymd(), ...clock());
    case 'Date':
      return utc(...ymd());
    case 'Time':
      return utc(1970, 1, 1, ...clock());
    default:
      return value;
  }
}

/** `value` with every calendar struct in it, at any depth, a Date (see `fromCalendar`). */
function toJs(value) {
  if (value instanceof Tuple) return tuple(...value.map(toJs));
  if (Array.isArray(value)) return value.map(toJs);
  if (value instanceof Map || isPlainObject(value)) {
    const converted = fromCalendar(value);
    if (converted !== value) return converted;
    if (value instanceof Map) return new Map([...value].map(([k, v]) => [toJs(k), toJs(v)]));
    const object = {};
    for (const key of Object.keys(value)) object[key] = toJs(value[key]);
    return object;
  }
  return value;
}

/** `value` with every Date in it, at any depth, a `%DateTime{}` in UTC, as Elixir code expects. */
function fromJs(value) {
  if (value instanceof Date) return dateTime(value);
  if (value instanceof Tuple) return tuple(...value.map(fromJs));
  if (Array.isArray(value)) return value.map(fromJs);
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [fromJs(k), fromJs(v)]));
  if (isPlainObject(value)) {
    const object = {};
    for (const key of Object.keys(value)) object[key] = fromJs(value[key]);
    for (const key of Object.getOwnPropertySymbols(value)) object[key] = fromJs(value[key]);
    return object;
  }
  return value;
}

// `moduleOf`: a function named `module` would hide CommonJS's `module` in this file.
module.exports = {
  module: moduleOf,
  alias,
  struct,
  structName,
  isStruct,
  keyword,
  isKeyword,
  fromKeyword,
  charlist,
  fromCharlist,
  dateTime,
  naiveDateTime,
  date,
  time,
  fromCalendar,
  toJs,
  fromJs,
};
