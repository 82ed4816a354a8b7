//! Amounts as the HTTP API takes them: a JSON string `"12.34"` or number `12.34`, turned into integer minor
//! units without floating point.

use serde_json::Value;

/// Why an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// Not a string or a number.
    #[error("amount must be a string like \"12.34\" or a number like 12.34, got {0}")]
    WrongType(String),
    /// Not a decimal number with at most two decimals.
    #[error("amount {0:?} is not a positive decimal with at most 2 decimals (for example \"12.34\")")]
    Malformed(String),
    /// Zero or above the limit.
    #[error("amount {0:?} is out of range: it must be above 0 and at most 99999999.99")]
    OutOfRange(String),
}

/// Largest amount in minor units the mock accepts.
pub const MAX_MINOR: u64 = 9_999_999_999;

/// Parses a JSON amount into minor units (cents).
pub fn parse_amount(value: &Value) -> Result<u64, AmountError> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        other => return Err(AmountError::WrongType(other.to_string())),
    };
    parse_decimal(&text)
}

/// Parses `"12"`, `"12.3"` or `"12.34"` into minor units.
pub fn parse_decimal(text: &str) -> Result<u64, AmountError> {
    let malformed = || AmountError::Malformed(text.to_owned());
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    if int.is_empty() || int.len() > 10 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) || (text.contains('.') && frac.is_empty())
    {
        return Err(malformed());
    }
    let int: u64 = int.parse().map_err(|_| malformed())?;
    let mut cents = 0u64;
    for (k, b) in frac.bytes().enumerate() {
        cents += u64::from(b - b'0') * if k == 0 { 10 } else { 1 };
    }
    let minor = int.checked_mul(100).and_then(|v| v.checked_add(cents)).ok_or_else(malformed)?;
    if minor == 0 || minor > MAX_MINOR {
        return Err(AmountError::OutOfRange(text.to_owned()));
    }
    Ok(minor)
}

/// Formats minor units as `"12.34"`.
pub fn format_minor(minor: u64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_and_numbers() {
        assert_eq!(parse_amount(&json!("12.34")), Ok(1234));
        assert_eq!(parse_amount(&json!(12.34)), Ok(1234));
        assert_eq!(parse_amount(&json!(12)), Ok(1200));
        assert_eq!(parse_amount(&json!("0.5")), Ok(50));
        assert_eq!(format_minor(1234), "12.34");
        assert_eq!(format_minor(5), "0.05");
    }

    proptest::proptest! {
        #[test]
        fn minor_units_round_trip_through_text(minor in 1u64..=MAX_MINOR) {
            proptest::prop_assert_eq!(parse_decimal(&format_minor(minor)), Ok(minor));
        }

        #[test]
        fn any_text_parses_or_is_refused_without_panicking(text in "\\PC{0,24}") {
            let _ = parse_decimal(&text);
        }
    }

    #[test]
    fn refusals() {
        assert!(matches!(parse_amount(&json!(true)), Err(AmountError::WrongType(_))));
        for bad in ["", "1.234", "-1", "1e3", "1.", ".5", "abc", "12,34"] {
            assert!(matches!(parse_decimal(bad), Err(AmountError::Malformed(_))), "{bad}");
        }
        assert!(matches!(parse_decimal("0.00"), Err(AmountError::OutOfRange(_))));
        assert!(matches!(parse_decimal("1000000000"), Err(AmountError::OutOfRange(_))));
    }
}
