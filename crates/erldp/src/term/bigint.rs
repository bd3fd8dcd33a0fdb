//! Arithmetic helpers for [`BigInt`] magnitudes.
//!
//! Integers outside 64 bits travel as
//! [`SMALL_BIG_EXT`/`LARGE_BIG_EXT`](https://www.erlang.org/doc/apps/erts/erl_ext_dist.html#small_big_ext):
//! a sign and little-endian base-256 digits. Text needs other bases (decimal,
//! `Base#Digits`) and term order needs exact comparison with floats.
//!
//! A peer may send an integer of millions of digits, and printing it (for a
//! log line, an error message) must not stall the thread that does it, so
//! the radix conversions divide and conquer: a number of `n` limbs in one
//! base is its high half times a power of that base plus its low half, each
//! half converted alone and the two joined by Karatsuba multiplication in
//! the other base, so that converting costs `O(n^1.585 log n)` rather than
//! the `O(n²)` of converting digit group by digit group (a 300 KB integer
//! took 10.6 s to print that way). No division is needed in either
//! direction: decimal output multiplies in base 10⁹.

use std::cmp::Ordering;
use std::fmt;

use super::BigInt;

/// The magnitude without its most significant zero bytes.
pub(crate) fn trimmed(magnitude: &[u8]) -> &[u8] {
    let used = magnitude.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &magnitude[..used]
}

/// Limbs in base 2³², the base of magnitudes.
const BINARY: u64 = 1 << 32;
/// Limbs in base 10⁹, the largest power of ten below 2³²: nine digits each.
const DECIMAL: u64 = 1_000_000_000;
/// Below this many limbs in the shorter factor, multiplication is
/// schoolbook.
const KARATSUBA_MIN: usize = 32;
/// Up to this many limbs, a conversion is Horner's rule, limb by limb.
const CONVERT_MIN: usize = 64;

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

fn trim(limbs: &mut Vec<u32>) {
    while limbs.last() == Some(&0) {
        limbs.pop();
    }
}

/// `limbs = limbs * mul + add` in base `B`. With `B` and `mul` at most
/// 2³² and `add` below 2³², no step overflows 64 bits.
fn mul_add_small<const B: u64>(limbs: &mut Vec<u32>, mul: u64, add: u64) {
    let mut carry = add;
    for limb in limbs.iter_mut() {
        let sum = u64::from(*limb) * mul + carry;
        *limb = (sum % B) as u32;
        carry = sum / B;
    }
    while carry != 0 {
        limbs.push((carry % B) as u32);
        carry /= B;
    }
}

/// Adds `x` times `B^shift` into `out`, which is long enough for the sum.
fn add_at<const B: u64>(out: &mut [u32], x: &[u32], shift: usize) {
    // Both limbs are below B, so each sum is below 2B and carries at most 1.
    let mut carry = 0u64;
    let mut i = shift;
    for &limb in x {
        let sum = u64::from(out[i]) + u64::from(limb) + carry;
        (out[i], carry) = if sum >= B {
            ((sum - B) as u32, 1)
        } else {
            (sum as u32, 0)
        };
        i += 1;
    }
    while carry != 0 {
        let sum = u64::from(out[i]) + carry;
        (out[i], carry) = if sum >= B {
            ((sum - B) as u32, 1)
        } else {
            (sum as u32, 0)
        };
        i += 1;
    }
}

/// `a + b`.
fn add<const B: u64>(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(long.len() + 1);
    out.extend_from_slice(long);
    out.push(0);
    add_at::<B>(&mut out, short, 0);
    trim(&mut out);
    out
}

/// `a -= b`, where `a >= b`.
fn sub_in_place<const B: u64>(a: &mut Vec<u32>, b: &[u32]) {
    let mut borrow = 0u64;
    for (i, limb) in a.iter_mut().enumerate() {
        let subtrahend = u64::from(b.get(i).copied().unwrap_or(0)) + borrow;
        if i >= b.len() && borrow == 0 {
            break;
        }
        if u64::from(*limb) >= subtrahend {
            *limb = (u64::from(*limb) - subtrahend) as u32;
            borrow = 0;
        } else {
            *limb = (u64::from(*limb) + B - subtrahend) as u32;
            borrow = 1;
        }
    }
    trim(a);
}

/// `a * b` in base `B`.
fn mul<const B: u64>(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (a, b) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    if b.is_empty() {
        return Vec::new();
    }
    let mut out = vec![0u32; a.len() + b.len()];
    if b.len() < KARATSUBA_MIN {
        // Column by column, the products summed wide and carried once per
        // column: no division on the long path.
        let mut column = 0u128;
        for (k, limb) in out.iter_mut().enumerate().take(a.len() + b.len() - 1) {
            let first = k.saturating_sub(b.len() - 1);
            for (x, y) in a[first..=k.min(a.len() - 1)]
                .iter()
                .zip(b[..=k - first].iter().rev())
            {
                column += u128::from(u64::from(*x) * u64::from(*y));
            }
            *limb = (column % u128::from(B)) as u32;
            column /= u128::from(B);
        }
        out[a.len() + b.len() - 1] = column as u32;
    } else if a.len() >= 2 * b.len() {
        // Unbalanced: `a` in pieces as long as `b`.
        for (index, piece) in a.chunks(b.len()).enumerate() {
            add_at::<B>(&mut out, &mul::<B>(piece, b), index * b.len());
        }
    } else {
        // Karatsuba: with a = a0 + a1·B^h and b = b0 + b1·B^h,
        // a·b = z0 + (z1 - z0 - z2)·B^h + z2·B^2h.
        let h = a.len() / 2;
        let (a0, a1) = a.split_at(h);
        let (b0, b1) = b.split_at(h);
        let z0 = mul::<B>(a0, b0);
        let z2 = mul::<B>(a1, b1);
        let mut z1 = mul::<B>(&add::<B>(a0, a1), &add::<B>(b0, b1));
        sub_in_place::<B>(&mut z1, &z0);
        sub_in_place::<B>(&mut z1, &z2);
        add_at::<B>(&mut out, &z0, 0);
        add_at::<B>(&mut out, &z1, h);
        add_at::<B>(&mut out, &z2, 2 * h);
    }
    trim(&mut out);
    out
}

/// The number whose base-`from` limbs are `src` (little-endian), in base
/// `B`. `powers[j]` caches `from^(CONVERT_MIN·2^j)` in base `B`.
fn convert<const B: u64>(src: &[u32], from: u64, powers: &mut Vec<Vec<u32>>) -> Vec<u32> {
    if src.len() <= CONVERT_MIN {
        let mut out = Vec::with_capacity(src.len() * 2);
        for &limb in src.iter().rev() {
            mul_add_small::<B>(&mut out, from, u64::from(limb));
        }
        trim(&mut out);
        return out;
    }
    // Split below the largest CONVERT_MIN·2^j under the length, so that
    // the high part is the shorter and the powers are shared.
    let mut j = 0;
    while CONVERT_MIN << (j + 1) < src.len() {
        j += 1;
    }
    let (low, high) = src.split_at(CONVERT_MIN << j);
    while powers.len() <= j {
        let next = match powers.last() {
            Some(last) => mul::<B>(last, last),
            None => {
                let mut power = vec![1];
                for _ in 0..CONVERT_MIN {
                    mul_add_small::<B>(&mut power, from, 0);
                }
                power
            }
        };
        powers.push(next);
    }
    let high = convert::<B>(high, from, powers);
    let low = convert::<B>(low, from, powers);
    let mut out = mul::<B>(&high, &powers[j]);
    out.resize(out.len().max(low.len()) + 1, 0);
    add_at::<B>(&mut out, &low, 0);
    trim(&mut out);
    out
}

/// The decimal digits of a magnitude (no sign); `"0"` for zero.
pub(crate) fn magnitude_to_decimal(magnitude: &[u8]) -> String {
    let limbs = to_limbs(trimmed(magnitude));
    let decimal = convert::<DECIMAL>(&limbs, BINARY, &mut Vec::new());
    let Some((top, rest)) = decimal.split_last() else {
        return "0".to_owned();
    };
    let mut text = String::with_capacity(9 * decimal.len());
    text.push_str(&top.to_string());
    for chunk in rest.iter().rev() {
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
    // Digits go in groups whose value fits a limb: limbs in base radix^group.
    let mut group = 1;
    let mut scale = u64::from(radix);
    while scale * u64::from(radix) <= u64::from(u32::MAX) {
        scale *= u64::from(radix);
        group += 1;
    }
    let values = digits
        .chars()
        .map(|ch| ch.to_digit(radix))
        .collect::<Option<Vec<u32>>>()?;
    let limbs: Vec<u32> = values
        .rchunks(group)
        .map(|chunk| chunk.iter().fold(0, |value, &digit| value * radix + digit))
        .collect();
    Some(from_limbs(&convert::<BINARY>(
        &limbs,
        scale,
        &mut Vec::new(),
    )))
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

    /// Digit group by digit group, as the conversions were before they
    /// divided and conquered: slow, plainly right.
    fn reference_decimal(magnitude: &[u8]) -> String {
        let mut limbs = to_limbs(trimmed(magnitude));
        let mut chunks = Vec::new();
        while !limbs.is_empty() {
            chunks.push(div_small(&mut limbs, DECIMAL));
        }
        let mut text = chunks.pop().map_or("0".to_owned(), |top| top.to_string());
        for chunk in chunks.iter().rev() {
            text.push_str(&format!("{chunk:09}"));
        }
        text
    }

    /// Divides `limbs` (base 2^32) by `divisor` in place, schoolbook; the remainder.
    fn div_small(limbs: &mut Vec<u32>, divisor: u64) -> u64 {
        let mut rem = 0u64;
        for limb in limbs.iter_mut().rev() {
            let current = (rem << 32) | u64::from(*limb);
            *limb = (current / divisor) as u32;
            rem = current % divisor;
        }
        trim(limbs);
        rem
    }

    fn reference_from_digits(digits: &str, radix: u32) -> Vec<u8> {
        let mut limbs = Vec::new();
        for ch in digits.chars() {
            mul_add_small::<BINARY>(
                &mut limbs,
                u64::from(radix),
                u64::from(ch.to_digit(radix).expect("digit")),
            );
        }
        from_limbs(&limbs)
    }

    fn to_radix(magnitude: &[u8], radix: u32) -> String {
        let mut limbs = to_limbs(trimmed(magnitude));
        let mut digits = Vec::new();
        while !limbs.is_empty() {
            let rem = div_small(&mut limbs, u64::from(radix));
            digits.push(char::from_digit(rem as u32, radix).expect("digit"));
        }
        digits.iter().rev().collect()
    }

    /// Magnitudes of many sizes, around the thresholds where the algorithms
    /// change, from a fixed-seed generator; some all ones and all zeros.
    fn magnitudes() -> Vec<Vec<u8>> {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut byte = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        };
        let mut out = Vec::new();
        for len in (0..40).chain([
            127, 128, 129, 255, 256, 257, 511, 512, 1023, 1500, 4096, 9000,
        ]) {
            out.push((0..len).map(|_| byte()).collect::<Vec<u8>>());
            out.push(vec![0xFF; len]);
        }
        let mut power = vec![0u8; 2000];
        power.push(1);
        out.push(power);
        out
    }

    #[test]
    fn conversions_match_the_schoolbook_ones() {
        for magnitude in magnitudes() {
            let expected = reference_decimal(&magnitude);
            let text = magnitude_to_decimal(&magnitude);
            assert_eq!(text, expected, "{} bytes", magnitude.len());
            assert_eq!(
                magnitude_from_digits(&text, 10).as_deref(),
                Some(trimmed(&magnitude)),
                "{} bytes",
                magnitude.len()
            );
            assert_eq!(reference_from_digits(&text, 10), trimmed(&magnitude));
            for radix in [2, 7, 16, 36] {
                let digits = to_radix(&magnitude, radix);
                if digits.is_empty() {
                    continue;
                }
                assert_eq!(
                    magnitude_from_digits(&digits, radix).as_deref(),
                    Some(trimmed(&magnitude)),
                    "radix {radix}, {} bytes",
                    magnitude.len()
                );
            }
        }
    }

    #[test]
    fn karatsuba_agrees_with_schoolbook() {
        let numbers = magnitudes();
        // Balanced pairs, and every number times a 150-limb one.
        let factor = numbers.iter().find(|n| n.len() == 511).expect("511 bytes");
        let pairs = numbers
            .windows(2)
            .map(|pair| (&pair[0], &pair[1]))
            .chain(numbers.iter().map(|n| (n, factor)));
        for (a, b) in pairs {
            let (a, b) = (to_limbs(a), to_limbs(b));
            let product = mul::<BINARY>(&a, &b);
            let mut expected = vec![0u32; a.len() + b.len()];
            for (i, &x) in a.iter().enumerate() {
                let mut carry = 0u64;
                for (j, &y) in b.iter().enumerate() {
                    let sum = u64::from(expected[i + j]) + u64::from(x) * u64::from(y) + carry;
                    expected[i + j] = sum as u32;
                    carry = sum >> 32;
                }
                if !b.is_empty() {
                    expected[i + b.len()] = carry as u32;
                }
            }
            trim(&mut expected);
            assert_eq!(product, expected, "{} × {} limbs", a.len(), b.len());
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
