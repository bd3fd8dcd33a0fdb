//! Arithmetic helpers for [`BigInt`] magnitudes.
//!
//! Integers outside 64 bits travel as
//! [`SMALL_BIG_EXT`/`LARGE_BIG_EXT`](https://www.erlang.org/doc/apps/erts/erl_ext_dist.html#small_big_ext):
//! a sign and little-endian base-256 digits. Text needs other bases (decimal,
//! `Base#Digits`) and term order needs exact comparison with floats. The
//! numbers that cross the wire are small, so schoolbook arithmetic on 32-bit
//! limbs (quadratic in the number of digits) is plenty.

use std::cmp::Ordering;
use std::fmt;

use super::BigInt;

/// The magnitude without its most significant zero bytes.
pub(crate) fn trimmed(magnitude: &[u8]) -> &[u8] {
    let used = magnitude.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &magnitude[..used]
}

/// Little-endian base-2^32 limbs of a little-endian byte magnitude.
fn to_limbs(magnitude: &[u8]) -> Vec<u32> {
    magnitude
        .chunks(4)
        .map(|chunk| {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            u32::from_le_bytes(word)
        })
        .collect()
}

/// Little-endian bytes of little-endian limbs, without trailing zero bytes.
fn from_limbs(limbs: &[u32]) -> Vec<u8> {
    let mut bytes: Vec<u8> = limbs.iter().flat_map(|limb| limb.to_le_bytes()).collect();
    let used = trimmed(&bytes).len();
    bytes.truncate(used);
    bytes
}

/// Divides `limbs` in place by `divisor` and returns the remainder; drops
/// limbs that became zero at the top.
fn div_rem_small(limbs: &mut Vec<u32>, divisor: u32) -> u32 {
    let mut rem = 0u64;
    for limb in limbs.iter_mut().rev() {
        let current = (rem << 32) | u64::from(*limb);
        *limb = (current / u64::from(divisor)) as u32;
        rem = current % u64::from(divisor);
    }
    while limbs.last() == Some(&0) {
        limbs.pop();
    }
    rem as u32
}

/// `limbs = limbs * mul + add`.
fn mul_add_small(limbs: &mut Vec<u32>, mul: u32, add: u32) {
    let mut carry = u64::from(add);
    for limb in limbs.iter_mut() {
        let current = u64::from(*limb) * u64::from(mul) + carry;
        *limb = current as u32;
        carry = current >> 32;
    }
    if carry != 0 {
        limbs.push(carry as u32);
    }
}

/// The decimal digits of a magnitude (no sign); `"0"` for zero.
pub(crate) fn magnitude_to_decimal(magnitude: &[u8]) -> String {
    const CHUNK: u32 = 1_000_000_000;
    let mut limbs = to_limbs(trimmed(magnitude));
    while limbs.last() == Some(&0) {
        limbs.pop();
    }
    let mut chunks = Vec::new();
    while !limbs.is_empty() {
        chunks.push(div_rem_small(&mut limbs, CHUNK));
    }
    let mut text = match chunks.pop() {
        Some(top) => top.to_string(),
        None => return "0".to_owned(),
    };
    for chunk in chunks.iter().rev() {
        text.push_str(&format!("{chunk:09}"));
    }
    text
}

/// Parses digits in `radix` (2..=36, letters in either case) into a trimmed
/// little-endian magnitude. `None` when `digits` is empty or holds a
/// character that is not a digit of that base.
pub(crate) fn magnitude_from_digits(digits: &str, radix: u32) -> Option<Vec<u8>> {
    if digits.is_empty() || !(2..=36).contains(&radix) {
        return None;
    }
    // Feed the digits in groups whose value fits a limb, so that the
    // quadratic multiply runs once per group rather than once per digit.
    let mut group_len = 1u32;
    let mut group_scale = radix;
    while let Some(next) = group_scale.checked_mul(radix) {
        group_scale = next;
        group_len += 1;
    }
    let mut limbs: Vec<u32> = Vec::new();
    let (mut value, mut scale, mut count) = (0u32, 1u32, 0u32);
    for ch in digits.chars() {
        let digit = ch.to_digit(radix)?;
        value = value * radix + digit;
        scale *= radix;
        count += 1;
        if count == group_len {
            mul_add_small(&mut limbs, scale, value);
            (value, scale, count) = (0, 1, 0);
        }
    }
    if count > 0 {
        mul_add_small(&mut limbs, scale, value);
    }
    Some(from_limbs(&limbs))
}

/// Compares two magnitudes (trailing zero bytes allowed).
pub(crate) fn cmp_magnitudes(a: &[u8], b: &[u8]) -> Ordering {
    let (a, b) = (trimmed(a), trimmed(b));
    a.len()
        .cmp(&b.len())
        .then_with(|| a.iter().rev().cmp(b.iter().rev()))
}

/// Compares the integer `±magnitude` with the finite float `float`, exactly
/// (Erlang compares integers and floats by mathematical value).
pub(crate) fn cmp_int_float(negative: bool, magnitude: &[u8], float: f64) -> Ordering {
    let magnitude = trimmed(magnitude);
    let int_sign = if magnitude.is_empty() {
        0
    } else if negative {
        -1
    } else {
        1
    };
    let float_sign = if float == 0.0 {
        0
    } else if float < 0.0 {
        -1
    } else {
        1
    };
    if int_sign != float_sign || int_sign == 0 {
        return int_sign.cmp(&float_sign);
    }
    let (floor, has_fraction) = float_floor_magnitude(float.abs());
    let by_magnitude = match cmp_magnitudes(magnitude, &floor) {
        Ordering::Equal if has_fraction => Ordering::Less,
        other => other,
    };
    if negative {
        by_magnitude.reverse()
    } else {
        by_magnitude
    }
}

/// The integer part of a positive finite float as a little-endian magnitude,
/// and whether the float has a fractional part.
fn float_floor_magnitude(float: f64) -> (Vec<u8>, bool) {
    let bits = float.to_bits();
    let exponent_bits = ((bits >> 52) & 0x7FF) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    let (mantissa, exponent) = if exponent_bits == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), exponent_bits - 1075)
    };
    if exponent >= 0 {
        let (whole_bytes, bit_shift) = ((exponent / 8) as usize, exponent % 8);
        let mut magnitude = vec![0u8; whole_bytes];
        magnitude.extend_from_slice(&(u128::from(mantissa) << bit_shift).to_le_bytes());
        let used = trimmed(&magnitude).len();
        magnitude.truncate(used);
        (magnitude, false)
    } else if exponent <= -64 {
        (Vec::new(), mantissa != 0)
    } else {
        let shift = (-exponent) as u32;
        let floor = mantissa >> shift;
        let fraction = mantissa & ((1u64 << shift) - 1);
        (trimmed(&floor.to_le_bytes()).to_vec(), fraction != 0)
    }
}

impl fmt::Display for BigInt {
    /// Decimal, with a leading `-` for negative numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = magnitude_to_decimal(&self.magnitude);
        if self.negative && digits != "0" {
            f.write_str("-")?;
        }
        f.write_str(&digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn magnitude(value: u128) -> Vec<u8> {
        trimmed(&value.to_le_bytes()).to_vec()
    }

    #[test]
    fn decimal_round_trip() {
        for value in [
            0u128,
            1,
            9,
            10,
            999_999_999,
            1_000_000_000,
            u64::MAX as u128 + 1,
            u128::MAX,
        ] {
            let text = magnitude_to_decimal(&magnitude(value));
            assert_eq!(text, value.to_string());
            assert_eq!(magnitude_from_digits(&text, 10), Some(magnitude(value)));
        }
    }

    #[test]
    fn huge_decimal() {
        let mut digits = String::from("1");
        digits.push_str(&"0".repeat(100));
        let parsed = magnitude_from_digits(&digits, 10).expect("digits");
        assert_eq!(magnitude_to_decimal(&parsed), digits);
        assert_eq!(parsed.len(), 42);
    }

    #[test]
    fn other_radices() {
        assert_eq!(magnitude_from_digits("ff", 16), Some(vec![255]));
        assert_eq!(magnitude_from_digits("FF", 16), Some(vec![255]));
        assert_eq!(magnitude_from_digits("101", 2), Some(vec![5]));
        assert_eq!(magnitude_from_digits("zz", 36), Some(vec![0x0F, 0x05]));
        assert_eq!(
            magnitude_from_digits("10000000000000000", 16),
            Some(magnitude(1u128 << 64))
        );
        assert_eq!(magnitude_from_digits("12", 2), None);
        assert_eq!(magnitude_from_digits("", 10), None);
        assert_eq!(magnitude_from_digits("1", 37), None);
        assert_eq!(magnitude_from_digits("000", 10), Some(vec![]));
    }

    #[test]
    fn display() {
        let big = BigInt::from_i128(-(1i128 << 100));
        assert_eq!(big.to_string(), "-1267650600228229401496703205376");
        assert_eq!(BigInt::from_magnitude(true, &[0, 0]).to_string(), "0");
    }

    #[test]
    fn compare_with_floats() {
        let two64 = magnitude(1u128 << 64);
        assert_eq!(
            cmp_int_float(false, &two64, 18446744073709551616.0),
            Ordering::Equal
        );
        assert_eq!(
            cmp_int_float(false, &magnitude((1u128 << 64) + 1), 18446744073709551616.0),
            Ordering::Greater
        );
        assert_eq!(
            cmp_int_float(true, &magnitude((1u128 << 64) + 1), -18446744073709551616.0),
            Ordering::Less
        );
        assert_eq!(
            cmp_int_float(false, &magnitude(9007199254740993), 9007199254740992.0),
            Ordering::Greater
        );
        assert_eq!(cmp_int_float(false, &magnitude(1), 1.5), Ordering::Less);
        assert_eq!(cmp_int_float(false, &magnitude(2), 1.5), Ordering::Greater);
        assert_eq!(cmp_int_float(true, &magnitude(1), -1.5), Ordering::Greater);
        assert_eq!(cmp_int_float(false, &[], 0.0), Ordering::Equal);
        assert_eq!(cmp_int_float(false, &[], -0.0), Ordering::Equal);
        assert_eq!(cmp_int_float(false, &[], 5e-324), Ordering::Less);
        assert_eq!(
            cmp_int_float(false, &magnitude(1), 5e-324),
            Ordering::Greater
        );
        assert_eq!(cmp_int_float(false, &magnitude(1), 1e300), Ordering::Less);
        assert_eq!(cmp_int_float(true, &magnitude(3), 1.0), Ordering::Less);
    }
}
