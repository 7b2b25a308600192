//! Kubernetes resource quantities ("100m", "1Gi", "0.5", "1e3").
//!
//! A quantity is held exactly as a count of nano-units (value × 10⁹) in an
//! `i128`, which covers everything up to about 10²⁹ — far beyond any real
//! request or limit. Amounts finer than a nano-unit round up, as Kubernetes
//! rounds them.

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

/// The message Kubernetes gives for a string that is no quantity at all.
pub const QUANTITY_SYNTAX_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    nanos: i128,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuantityError {
    /// Not of the quantity grammar.
    Syntax,
    /// Parsed but too large to hold.
    TooLarge,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantityError::Syntax => f.write_str(QUANTITY_SYNTAX_ERROR),
            QuantityError::TooLarge => f.write_str("quantity is too large"),
        }
    }
}

impl std::error::Error for QuantityError {}

const NANO: i128 = 1_000_000_000;

impl Quantity {
    pub const ZERO: Quantity = Quantity { nanos: 0 };

    /// Parses `<sign>?<digits>[.<digits>]<suffix>` where the suffix is a binary
    /// SI suffix (Ki … Ei), a decimal SI suffix (n, u, m, "", k, M, G, T, P, E)
    /// or a decimal exponent (e3, E-2).
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        let b = s.as_bytes();
        let mut i = 0;
        let negative = match b.first() {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let int_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let int_digits = &s[int_start..i];
        let mut frac_digits = "";
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let frac_start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            frac_digits = &s[frac_start..i];
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(QuantityError::Syntax);
        }
        let (exp10, exp2) = parse_suffix(&s[i..])?;

        // mantissa = int_digits.frac_digits, as an integer scaled by 10^-len(frac).
        let mut mantissa: i128 = 0;
        let mut scale: i32 = 0;
        for c in int_digits.bytes().chain(frac_digits.bytes()) {
            if mantissa > i128::MAX / 100 {
                // More significant digits than we can hold: drop the rest
                // (rounding up below) and account for their magnitude.
                scale += 1;
                continue;
            }
            mantissa = mantissa * 10 + i128::from(c - b'0');
        }
        scale -= frac_digits.len() as i32;
        // Dropped integer digits were counted in `scale` above but their
        // fractional counterparts were not; the net effect is right either way.
        let mut pow10 = i64::from(scale) + i64::from(exp10) + 9;
        let mut value = mantissa;
        // Apply the binary factor first: it is exact.
        for _ in 0..exp2 {
            value = value.checked_mul(2).ok_or(QuantityError::TooLarge)?;
        }
        if value == 0 {
            return Ok(Quantity::ZERO);
        }
        while pow10 > 0 {
            value = value.checked_mul(10).ok_or(QuantityError::TooLarge)?;
            pow10 -= 1;
        }
        if pow10 < 0 {
            // Divide, rounding up (away from zero for the magnitude).
            let mut rem = false;
            while pow10 < 0 && value != 0 {
                if value % 10 != 0 {
                    rem = true;
                }
                value /= 10;
                pow10 += 1;
            }
            if rem || value == 0 {
                value += 1;
            }
        }
        Ok(Quantity {
            nanos: if negative { -value } else { value },
        })
    }

    /// Reads a quantity given as a JSON string or number.
    pub fn from_json(v: &Value) -> Result<Quantity, QuantityError> {
        match v {
            Value::String(s) => Quantity::parse(s),
            Value::Number(n) => Quantity::parse(&n.to_string()),
            _ => Err(QuantityError::Syntax),
        }
    }

    pub fn from_nanos(nanos: i128) -> Quantity {
        Quantity { nanos }
    }

    pub fn nanos(self) -> i128 {
        self.nanos
    }

    /// The value in thousandths, rounded up (Kubernetes' `MilliValue`).
    pub fn milli_value(self) -> i128 {
        ceil_div(self.nanos, 1_000_000)
    }

    /// The value rounded up to a whole number (Kubernetes' `Value`).
    pub fn value(self) -> i128 {
        ceil_div(self.nanos, NANO)
    }

    pub fn is_zero(self) -> bool {
        self.nanos == 0
    }

    pub fn is_negative(self) -> bool {
        self.nanos < 0
    }

    pub fn checked_add(self, other: Quantity) -> Option<Quantity> {
        self.nanos
            .checked_add(other.nanos)
            .map(Quantity::from_nanos)
    }
}

fn ceil_div(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b > 0 { q + 1 } else { q }
}

/// (power of ten, power of two) of a suffix.
fn parse_suffix(s: &str) -> Result<(i32, u32), QuantityError> {
    Ok(match s {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        _ => {
            let rest = s
                .strip_prefix('e')
                .or_else(|| s.strip_prefix('E'))
                .ok_or(QuantityError::Syntax)?;
            let digits = rest
                .strip_prefix('-')
                .or_else(|| rest.strip_prefix('+'))
                .unwrap_or(rest);
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return Err(QuantityError::Syntax);
            }
            let e: i32 = rest.parse().map_err(|_| QuantityError::TooLarge)?;
            if e.abs() > 1000 {
                return Err(QuantityError::TooLarge);
            }
            (e, 0)
        }
    })
}

impl PartialOrd<i128> for Quantity {
    fn partial_cmp(&self, other: &i128) -> Option<Ordering> {
        Some(self.nanos.cmp(other))
    }
}

impl PartialEq<i128> for Quantity {
    fn eq(&self, other: &i128) -> bool {
        self.nanos == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> i128 {
        Quantity::parse(s).expect(s).nanos()
    }

    #[test]
    fn parses_the_grammar() {
        assert_eq!(q("1"), NANO);
        assert_eq!(q("100m"), NANO / 10);
        assert_eq!(q("0.5"), NANO / 2);
        assert_eq!(q(".5"), NANO / 2);
        assert_eq!(q("1."), NANO);
        assert_eq!(q("1e3"), 1000 * NANO);
        assert_eq!(q("1E3"), 1000 * NANO);
        assert_eq!(q("1E"), 1_000_000_000_000_000_000 * NANO);
        assert_eq!(q("1e-3"), NANO / 1000);
        assert_eq!(q("1Ki"), 1024 * NANO);
        assert_eq!(q("1Gi"), 1_073_741_824 * NANO);
        assert_eq!(q("1.5Gi"), 1_610_612_736 * NANO);
        assert_eq!(q("128974848"), 128_974_848 * NANO);
        assert_eq!(q("129M"), 129_000_000 * NANO);
        assert_eq!(q("-1"), -NANO);
        assert_eq!(q("+2k"), 2000 * NANO);
        assert_eq!(q("5n"), 5);
        assert_eq!(q("3u"), 3000);
        assert_eq!(q("0"), 0);
        assert_eq!(q("0.0000000001"), 1, "sub-nano rounds up");
        assert_eq!(q("8Ei"), 8 * (1i128 << 60) * NANO);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "", "abc", "1 Gi", "1GB", "1.2.3", ".", "-", "1e", "1Kib", "1i", "m", "1e3.5",
        ] {
            assert_eq!(Quantity::parse(bad), Err(QuantityError::Syntax), "{bad}");
        }
        assert_eq!(Quantity::parse("1e999"), Err(QuantityError::TooLarge));
    }

    #[test]
    fn compares_across_suffixes() {
        let a = Quantity::parse("1Gi").expect("1Gi");
        let b = Quantity::parse("1G").expect("1G");
        assert!(a > b);
        assert_eq!(
            Quantity::parse("1000m").expect("m"),
            Quantity::parse("1").expect("1")
        );
        assert_eq!(Quantity::parse("1500m").expect("m").milli_value(), 1500);
        assert_eq!(Quantity::parse("1500m").expect("m").value(), 2);
        assert_eq!(
            Quantity::from_json(&serde_json::json!(2)).expect("n"),
            Quantity::parse("2").expect("2")
        );
        assert_eq!(
            Quantity::from_json(&serde_json::json!(0.25)).expect("n"),
            Quantity::parse("250m").expect("m")
        );
    }
}
