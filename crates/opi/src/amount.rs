//! Money: [`Currency`] and [`Amount`] (integer minor units, never a float).

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

/// Why a decimal amount did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// Not of the form `digits[.digits]`.
    #[error("{0:?} is not a decimal amount (expected digits with an optional '.' and decimals, e.g. 39.50)")]
    Syntax(String),
    /// More significant decimals than the currency has.
    #[error("{value:?} has more decimals than {currency} allows ({decimals})")]
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
}

impl Amount {
    /// An amount from minor units.
    pub fn new(minor_units: u64, currency: Currency) -> Amount {
        Amount { minor_units, currency }
    }

    /// Parses a decimal text (`39`, `39.5`, `39.50`; surrounding whitespace allowed).
    ///
    /// Decimals beyond the currency's are accepted only when they are zeros (`39.500` EUR).
    pub fn parse(text: &str, currency: Currency) -> Result<Amount, AmountError> {
        let t = text.trim();
        let syntax = || AmountError::Syntax(truncate(t, 40));
        let (int, frac) = match t.split_once('.') {
            Some((i, f)) => (i, f),
            None => (t, ""),
        };
        if int.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || (t.contains('.') && frac.is_empty())
        {
            return Err(syntax());
        }
        let decimals = currency.decimals();
        let (kept, extra) = frac.split_at(frac.len().min(usize::from(decimals)));
        if extra.bytes().any(|b| b != b'0') {
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

    /// The decimal text with exactly the currency's number of decimals (`39.50`).
    pub fn to_decimal_string(&self) -> String {
        let decimals = u32::from(self.currency.decimals());
        if decimals == 0 {
            return self.minor_units.to_string();
        }
        let scale = 10u64.pow(decimals);
        format!(
            "{}.{:0width$}",
            self.minor_units / scale,
            self.minor_units % scale,
            width = decimals as usize
        )
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
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
    use super::*;

    #[test]
    fn amounts_parse_with_or_without_decimals() {
        for (text, minor) in [("39.5", 3950), ("39.50", 3950), ("39", 3900), (" 0.01 ", 1), ("39.500", 3950)]
        {
            assert_eq!(Amount::parse(text, Currency::EUR).unwrap().minor_units, minor, "{text}");
        }
        assert_eq!(Amount::new(3950, Currency::EUR).to_decimal_string(), "39.50");
        assert_eq!(Amount::new(5, Currency::EUR).to_decimal_string(), "0.05");
        let jpy = Currency::new("JPY").unwrap();
        assert_eq!(Amount::parse("1200", jpy).unwrap().to_decimal_string(), "1200");
        let kwd = Currency::new("KWD").unwrap();
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
}
