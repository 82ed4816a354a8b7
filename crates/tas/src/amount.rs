//! Amounts as the HTTP API takes them: a JSON string `"12.34"` or number `12.34`, read into a `ccv_opi::Amount`
//! with the currency's decimals, without floating point. Parsing and formatting are `ccv_opi::Amount`'s; this
//! module only adds the JSON side.

use ccv_opi::{Amount, Currency};
use serde_json::Value;

/// Why an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// Not a string or a number.
    #[error("amount must be a string like \"12.34\" or a number like 12.34, got {0}")]
    WrongType(String),
    /// Not a positive decimal with the currency's decimals, or above the limit.
    #[error("amount {0}")]
    Invalid(#[from] ccv_opi::AmountError),
}

/// Reads a JSON amount in `currency`: a string or a number, above zero, at most the currency's decimals and at
/// most [`Amount::DEFAULT_MAX_MINOR`] minor units.
pub fn parse_amount(value: &Value, currency: Currency) -> Result<Amount, AmountError> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => return Err(AmountError::WrongType(other.to_string())),
    };
    Ok(Amount::parse_bounded(&text, currency, Amount::DEFAULT_MAX_MINOR)?)
}

/// Formats `minor` units of `currency` with its decimals (`"12.34"` EUR, `"1234"` JPY); an unknown code as
/// two decimals.
pub fn format_minor(minor: u64, currency: &str) -> String {
    let currency = Currency::new(currency).unwrap_or(Currency::EUR);
    Amount::new(minor, currency).to_decimal_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minor(v: Value, currency: Currency) -> Result<u64, AmountError> {
        parse_amount(&v, currency).map(|a| a.minor_units)
    }

    #[test]
    fn strings_and_numbers_with_the_currencys_decimals() {
        let eur = Currency::EUR;
        assert_eq!(minor(json!("12.34"), eur), Ok(1234));
        assert_eq!(minor(json!(12.34), eur), Ok(1234));
        assert_eq!(minor(json!(12), eur), Ok(1200));
        assert_eq!(minor(json!("0.5"), eur), Ok(50));
        let jpy = Currency::new("JPY").expect("a code");
        assert_eq!(minor(json!("1234"), jpy), Ok(1234));
        assert!(minor(json!("12.5"), jpy).is_err(), "JPY has no decimals");
        let kwd = Currency::new("KWD").expect("a code");
        assert_eq!(minor(json!("1.234"), kwd), Ok(1234));
        assert_eq!(format_minor(1234, "EUR"), "12.34");
        assert_eq!(format_minor(5, "EUR"), "0.05");
        assert_eq!(format_minor(1234, "JPY"), "1234");
        assert_eq!(format_minor(1234, "KWD"), "1.234");
    }

    proptest::proptest! {
        #[test]
        fn minor_units_round_trip_through_text(m in 1u64..=Amount::DEFAULT_MAX_MINOR) {
            let text = format_minor(m, "EUR");
            proptest::prop_assert_eq!(minor(json!(text), Currency::EUR), Ok(m));
        }

        #[test]
        fn any_text_parses_or_is_refused_without_panicking(text in "\\PC{0,24}") {
            let _ = parse_amount(&json!(text), Currency::EUR);
        }
    }

    #[test]
    fn refusals() {
        assert!(matches!(parse_amount(&json!(true), Currency::EUR), Err(AmountError::WrongType(_))));
        for bad in ["", "1.234", "-1", "1e3", ".5", "abc", "12,34", "0.00", "1000000000"] {
            assert!(matches!(minor(json!(bad), Currency::EUR), Err(AmountError::Invalid(_))), "{bad}");
        }
    }
}
