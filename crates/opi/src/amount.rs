//! Money: [`Currency`] and [`Amount`], the one amount type of the workspace.
//!
//! An amount is integer minor units of a currency (cents for EUR), never a float. Its decimal
//! text is read without floating point in two ways:
//!
//! - [`Amount::parse`], the OPI wire rule: `39`, `39.5`, `39.50` and even `39.500` (extra
//!   decimals that are zeros) are all 3950 cents of EUR; zero is allowed.
//! - [`Amount::parse_bounded`], for amounts a person or a client enters: at most the currency's
//!   decimals, above zero, at most a given limit; each refusal is an [`AmountError`] that says
//!   what is expected.
//!
//! [`Amount::to_decimal_string`] (and [`Amount::decimal`]) write it back with exactly the
//! currency's decimals (`39.50`), so that `parse_bounded(to_decimal_string(a)) == a` for every
//! amount within the limit.
//!
//! ```
//! use ccv_opi::{Amount, AmountError, Currency};
//! let a = Amount::parse_bounded("12.3", Currency::EUR, Amount::DEFAULT_MAX_MINOR).unwrap();
//! assert_eq!(a.minor_units, 1230);
//! assert_eq!(a.to_decimal_string(), "12.30");
//! assert!(matches!(
//!     Amount::parse_bounded("12.345", Currency::EUR, Amount::DEFAULT_MAX_MINOR),
//!     Err(AmountError::TooManyDecimals { decimals: 2, .. })
//! ));
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// An ISO 4217 alphabetic currency code (three upper-case letters) and its number of decimals.
///
/// The number of decimals comes from a table of the codes whose minor unit is not 2 (JPY 0,
/// KWD 3, ...); every other code has 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency {
    code: [u8; 3],
}

/// ISO 4217 codes whose minor unit is not 2.
const CURRENCY_DECIMALS: &[([u8; 3], u8)] = &[
    (*b"BHD", 3),
    (*b"BIF", 0),
    (*b"CLP", 0),
    (*b"DJF", 0),
    (*b"GNF", 0),
    (*b"IQD", 3),
    (*b"ISK", 0),
    (*b"JOD", 3),
    (*b"JPY", 0),
    (*b"KMF", 0),
    (*b"KRW", 0),
    (*b"KWD", 3),
    (*b"LYD", 3),
    (*b"OMR", 3),
    (*b"PYG", 0),
    (*b"RWF", 0),
    (*b"TND", 3),
    (*b"UGX", 0),
    (*b"VND", 0),
    (*b"VUV", 0),
    (*b"XAF", 0),
    (*b"XOF", 0),
    (*b"XPF", 0),
];

impl Currency {
    /// The euro.
    pub const EUR: Currency = Currency { code: *b"EUR" };

    /// Parses a code: exactly three ASCII upper-case letters.
    pub fn new(code: &str) -> Result<Currency, String> {
        match code.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_uppercase()) => {
                Ok(Currency { code: [*a, *b, *c] })
            }
            _ => Err(format!("currency {code:?} is not an ISO 4217 code (three upper-case letters)")),
        }
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        // Invariant: `code` holds three ASCII upper-case letters (checked in `new`).
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// How many decimals the currency's minor unit has.
    pub fn decimals(&self) -> u8 {
        CURRENCY_DECIMALS.iter().find(|(c, _)| *c == self.code).map_or(2, |(_, d)| *d)
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Currency::new(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> Self {
        c.code().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A money amount: integer minor units of a [`Currency`]. Never a float.
///
/// The wire form is a decimal number: `39.5`, `39.50` and `39` all parse (as 3950 cents of EUR);
/// output always has the currency's number of decimals (`39.50`). In JSON it is
/// `{"Currency": "EUR", "Value": "39.50"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "AmountRepr", into = "AmountRepr")]
pub struct Amount {
    /// The amount in the currency's minor unit (cents for EUR).
    pub minor_units: u64,
    /// The currency.
    pub currency: Currency,
}

#[derive(Serialize, Deserialize)]
struct AmountRepr {
    #[serde(rename = "Currency")]
    currency: String,
    #[serde(rename = "Value")]
    value: String,
}

impl TryFrom<AmountRepr> for Amount {
    type Error = String;
    fn try_from(r: AmountRepr) -> Result<Self, Self::Error> {
        let currency = Currency::new(&r.currency)?;
        Amount::parse(&r.value, currency).map_err(|e| e.to_string())
    }
}

impl From<Amount> for AmountRepr {
    fn from(a: Amount) -> Self {
        AmountRepr { currency: a.currency.code().to_owned(), value: a.to_decimal_string() }
    }
}

/// Why a decimal amount was refused. Each message says what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// Not of the form `digits[.digits]`.
    #[error(
        "{0:?} is not a decimal amount (expected digits with an optional '.' and decimals, e.g. 39.50; \
         no sign, no comma)"
    )]
    Syntax(String),
    /// More decimals than the currency has.
    #[error("{value:?} has too many decimals: {currency} allows at most {decimals}")]
    TooManyDecimals {
        /// The text.
        value: String,
        /// The currency.
        currency: Currency,
        /// The currency's number of decimals.
        decimals: u8,
    },
    /// The amount does not fit in 64 bits of minor units.
    #[error("{0:?} is too large")]
    Overflow(String),
    /// Zero, where an amount above zero is expected.
    #[error("{0:?} is zero: expected an amount above zero")]
    NotPositive(String),
    /// Above the limit the caller set.
    #[error("{value:?} is above the limit: expected at most {limit}")]
    AboveLimit {
        /// The text.
        value: String,
        /// The largest amount accepted.
        limit: Amount,
    },
}

/// The parts of a decimal text: `int[.frac]`, both all digits, `int` not empty, no lone `.`.
fn split_decimal(t: &str) -> Option<(&str, &str)> {
    let (int, frac) = match t.split_once('.') {
        Some((_, "")) => return None,
        Some(parts) => parts,
        None => (t, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (!int.is_empty() && digits(int) && digits(frac)).then_some((int, frac))
}

impl Amount {
    /// The limit [`Amount::parse_bounded`] callers use unless they have their own: 99,999,999.99
    /// of a two-decimal currency, in minor units.
    pub const DEFAULT_MAX_MINOR: u64 = 9_999_999_999;

    /// An amount from minor units.
    pub fn new(minor_units: u64, currency: Currency) -> Amount {
        Amount { minor_units, currency }
    }

    /// Parses a decimal text by the OPI wire rule (`39`, `39.5`, `39.50`; surrounding white
    /// space allowed; zero allowed).
    ///
    /// Decimals beyond the currency's are accepted only when they are zeros (`39.500` EUR).
    pub fn parse(text: &str, currency: Currency) -> Result<Amount, AmountError> {
        Amount::parse_digits(text.trim(), currency, true)
    }

    /// Parses an amount a person or a client entered: `12`, `12.3` or `12.34` (surrounding white
    /// space allowed), with at most the currency's decimals, above zero and at most `max_minor`
    /// minor units ([`Amount::DEFAULT_MAX_MINOR`] unless the caller has a limit of its own).
    pub fn parse_bounded(text: &str, currency: Currency, max_minor: u64) -> Result<Amount, AmountError> {
        let t = text.trim();
        let amount = Amount::parse_digits(t, currency, false)?;
        if amount.minor_units == 0 {
            return Err(AmountError::NotPositive(truncate(t, 40)));
        }
        if amount.minor_units > max_minor {
            return Err(AmountError::AboveLimit {
                value: truncate(t, 40),
                limit: Amount::new(max_minor, currency),
            });
        }
        Ok(amount)
    }

    /// `t` (trimmed) in minor units; decimals beyond the currency's are refused unless
    /// `zero_padding` allows them as zeros.
    fn parse_digits(t: &str, currency: Currency, zero_padding: bool) -> Result<Amount, AmountError> {
        let Some((int, frac)) = split_decimal(t) else {
            return Err(AmountError::Syntax(truncate(t, 40)));
        };
        let decimals = currency.decimals();
        let (kept, extra) = frac.split_at(frac.len().min(usize::from(decimals)));
        if !extra.is_empty() && (!zero_padding || extra.bytes().any(|b| b != b'0')) {
            return Err(AmountError::TooManyDecimals { value: truncate(t, 40), currency, decimals });
        }
        let overflow = || AmountError::Overflow(truncate(t, 40));
        let mut minor: u64 = 0;
        for b in int.bytes().chain(kept.bytes()) {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(b - b'0')))
                .ok_or_else(overflow)?;
        }
        for _ in kept.len()..usize::from(decimals) {
            minor = minor.checked_mul(10).ok_or_else(overflow)?;
        }
        Ok(Amount { minor_units: minor, currency })
    }

    /// The decimal text with exactly the currency's number of decimals, as a value that
    /// formats without allocating (`format!("{}", a.decimal())` is `39.50`).
    pub fn decimal(&self) -> Decimal {
        Decimal(*self)
    }

    /// The decimal text with exactly the currency's number of decimals (`39.50`).
    pub fn to_decimal_string(&self) -> String {
        self.decimal().to_string()
    }
}

/// An amount's decimal text without the currency (see [`Amount::decimal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal(Amount);

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let decimals = u32::from(self.0.currency.decimals());
        let minor = self.0.minor_units;
        if decimals == 0 {
            return write!(f, "{minor}");
        }
        let scale = 10u64.pow(decimals);
        write!(f, "{}.{:0width$}", minor / scale, minor % scale, width = decimals as usize)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.decimal(), self.currency)
    }
}

/// `s`, cut after `max` characters (with `...`), for error messages.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn currency(code: &str) -> Currency {
        Currency::new(code).unwrap()
    }

    #[test]
    fn amounts_parse_with_or_without_decimals() {
        for (text, minor) in [("39.5", 3950), ("39.50", 3950), ("39", 3900), (" 0.01 ", 1), ("39.500", 3950)]
        {
            assert_eq!(Amount::parse(text, Currency::EUR).unwrap().minor_units, minor, "{text}");
        }
        assert_eq!(Amount::new(3950, Currency::EUR).to_decimal_string(), "39.50");
        assert_eq!(Amount::new(5, Currency::EUR).to_decimal_string(), "0.05");
        let jpy = currency("JPY");
        assert_eq!(Amount::parse("1200", jpy).unwrap().to_decimal_string(), "1200");
        let kwd = currency("KWD");
        assert_eq!(Amount::parse("1.5", kwd).unwrap().to_decimal_string(), "1.500");
    }

    #[test]
    fn bad_amounts_are_refused() {
        for text in ["", "-1", "1.", ".5", "1,50", "1e3", "39.505", "18446744073709551616", "abc"] {
            assert!(Amount::parse(text, Currency::EUR).is_err(), "{text:?} must be refused");
        }
    }

    #[test]
    fn currency_codes_are_three_capitals() {
        assert!(Currency::new("EUR").is_ok());
        assert!(Currency::new("eur").is_err());
        assert!(Currency::new("EURO").is_err());
        assert!(Currency::new("€").is_err());
    }

    #[test]
    fn amount_json_is_decimal_text() {
        let a = Amount::new(3950, Currency::EUR);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"Currency":"EUR","Value":"39.50"}"#);
        assert_eq!(serde_json::from_str::<Amount>(&json).unwrap(), a);
    }

    #[test]
    fn bounded_amounts_honour_the_currency_decimals() {
        let max = Amount::DEFAULT_MAX_MINOR;
        for (text, code, minor) in [
            ("12.34", "EUR", 1234),
            ("12", "EUR", 1200),
            ("12.3", "EUR", 1230),
            (" 0.5 ", "EUR", 50),
            ("1200", "JPY", 1200),
            ("1.5", "KWD", 1500),
            ("1.234", "KWD", 1234),
        ] {
            let a = Amount::parse_bounded(text, currency(code), max).unwrap();
            assert_eq!((a.minor_units, a.currency.code()), (minor, code), "{text} {code}");
        }
    }

    #[test]
    fn bounded_amounts_say_what_is_expected() {
        let eur = Currency::EUR;
        let max = Amount::DEFAULT_MAX_MINOR;
        for bad in ["", "-1", "1.", ".5", "12,34", "1e3", "abc", "+1"] {
            assert!(matches!(Amount::parse_bounded(bad, eur, max), Err(AmountError::Syntax(_))), "{bad:?}");
        }
        let e = Amount::parse_bounded("1.230", eur, max).unwrap_err();
        assert_eq!(e, AmountError::TooManyDecimals { value: "1.230".into(), currency: eur, decimals: 2 });
        assert_eq!(e.to_string(), "\"1.230\" has too many decimals: EUR allows at most 2");
        assert!(matches!(
            Amount::parse_bounded("1.5", currency("JPY"), max),
            Err(AmountError::TooManyDecimals { decimals: 0, .. })
        ));
        let e = Amount::parse_bounded("0.00", eur, max).unwrap_err();
        assert_eq!(e.to_string(), "\"0.00\" is zero: expected an amount above zero");
        let e = Amount::parse_bounded("100000000", eur, max).unwrap_err();
        assert_eq!(e.to_string(), "\"100000000\" is above the limit: expected at most 99999999.99 EUR");
        assert!(matches!(
            Amount::parse_bounded("99999999999999999999", eur, u64::MAX),
            Err(AmountError::Overflow(_))
        ));
        assert_eq!(Amount::parse_bounded("99999999.99", eur, max).unwrap().minor_units, max);
    }

    fn any_currency() -> impl Strategy<Value = Currency> {
        prop::sample::select(vec!["EUR", "USD", "JPY", "KWD", "ISK", "BHD"]).prop_map(currency)
    }

    proptest! {
        #[test]
        fn format_then_parse_is_the_identity(minor in any::<u64>(), c in any_currency()) {
            let a = Amount::new(minor, c);
            prop_assert_eq!(Amount::parse(&a.to_decimal_string(), c), Ok(a));
            prop_assert_eq!(Amount::parse_bounded(&a.to_decimal_string(), c, u64::MAX).ok(), (minor > 0).then_some(a));
        }

        #[test]
        fn bounded_format_then_parse_is_the_identity(
            minor in 1..=Amount::DEFAULT_MAX_MINOR,
            c in any_currency(),
        ) {
            let a = Amount::new(minor, c);
            prop_assert_eq!(Amount::parse_bounded(&a.decimal().to_string(), c, Amount::DEFAULT_MAX_MINOR), Ok(a));
        }

        #[test]
        fn any_text_parses_or_is_refused_without_panicking(text in "\\PC{0,24}", c in any_currency()) {
            let _ = Amount::parse(&text, c);
            let _ = Amount::parse_bounded(&text, c, Amount::DEFAULT_MAX_MINOR);
        }
    }
}
