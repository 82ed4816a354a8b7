//! Small text builders for the payment path: numbers, amounts and codes written straight into a
//! `String` sized once, without the formatting machinery. Each writes exactly what the `format!`
//! it replaces writes (the tests below compare them).

use ccv_opi::Amount;

/// Appends the decimal digits of `n`, left-padded with zeros to at least `width` digits
/// (`format!("{n:0width$}")`).
pub(crate) fn push_padded(buf: &mut String, n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for _ in (digits.len() - i)..width {
        buf.push('0');
    }
    for &d in &digits[i..] {
        buf.push(char::from(d));
    }
}

/// Appends the decimal digits of `n` (`format!("{n}")`).
pub(crate) fn push_u64(buf: &mut String, n: u64) {
    push_padded(buf, n, 0);
}

/// `n` in decimal (`n.to_string()`).
pub(crate) fn decimal(n: u64) -> String {
    let mut s = String::with_capacity(20);
    push_u64(&mut s, n);
    s
}

/// `n` in decimal, zero-padded to at least `width` digits (`format!("{n:0width$}")`).
pub(crate) fn padded(n: u64, width: usize) -> String {
    let mut s = String::with_capacity(width.max(20));
    push_padded(&mut s, n, width);
    s
}

/// The low 24 bits of `n` as six upper-case hexadecimal digits (`format!("{:06X}", n & 0xFF_FFFF)`).
pub(crate) fn hex6(n: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(6);
    for shift in (0..6).rev() {
        s.push(char::from(HEX[((n >> (shift * 4)) & 0xF) as usize]));
    }
    s
}

/// Appends an amount as its `Display` writes it: `12.34 EUR` (the currency's number of decimals).
pub(crate) fn push_amount(buf: &mut String, a: Amount) {
    let decimals = u32::from(a.currency.decimals());
    if decimals == 0 {
        push_u64(buf, a.minor_units);
    } else {
        let scale = 10u64.pow(decimals);
        push_u64(buf, a.minor_units / scale);
        buf.push('.');
        push_padded(buf, a.minor_units % scale, decimals as usize);
    }
    buf.push(' ');
    buf.push_str(a.currency.code());
}

/// An amount as its `Display` writes it (`a.to_string()`), between `prefix` and `suffix`.
pub(crate) fn amount_text(prefix: &str, a: Amount, suffix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 28 + suffix.len());
    s.push_str(prefix);
    push_amount(&mut s, a);
    s.push_str(suffix);
    s
}

#[cfg(test)]
mod tests {
    use ccv_opi::Currency;

    use super::*;

    const NUMBERS: &[u64] =
        &[0, 1, 9, 10, 99, 100, 999_999, 1_000_000, 123_456_789, u32::MAX as u64, u64::MAX];

    #[test]
    fn numbers_as_format_writes_them() {
        for &n in NUMBERS {
            assert_eq!(decimal(n), n.to_string());
            assert_eq!(padded(n, 6), format!("{n:06}"));
            assert_eq!(padded(n, 0), format!("{n}"));
            assert_eq!(hex6(n), format!("{:06X}", n & 0xFF_FFFF));
        }
        for n in (0..2_000_000u64).step_by(997) {
            assert_eq!(padded(n, 6), format!("{n:06}"));
            assert_eq!(hex6(n * 8191), format!("{:06X}", (n * 8191) & 0xFF_FFFF));
        }
    }

    #[test]
    fn amounts_as_display_writes_them() {
        let currencies = ["EUR", "JPY", "KWD", "USD"].map(|c| Currency::new(c).unwrap());
        for c in currencies {
            for &n in NUMBERS.iter().chain(&[5, 50, 1234, 99_999_999]) {
                let a = Amount::new(n, c);
                assert_eq!(amount_text("", a, ""), a.to_string());
                assert_eq!(amount_text("amount ", a, ": x"), format!("amount {a}: x"));
            }
        }
    }
}
