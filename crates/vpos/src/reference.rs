//! Transaction references in CCV's style: `TL` + `yyMMddHHmmssSSS` (UTC) + 8 upper-case hex digits, such as
//! `TL260414072854599CB87E19B` (25 characters).
//!
//! The layout follows the references CCV's API hands out for terminal payments; the time zone (UTC) and the
//! random part are ours. Time and randomness come from the caller, so tests are deterministic.

use rand::RngCore;

/// Every terminal transaction reference starts with this.
pub const PREFIX: &str = "TL";
/// The length of a reference.
pub const LEN: usize = 25;

/// A new reference for a transaction created at `now_ms` (epoch milliseconds), with 32 random bits from `rng`.
pub fn new_reference(now_ms: i64, rng: &mut impl RngCore) -> String {
    let at = jiff::Timestamp::from_millisecond(now_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let stamp = jiff::tz::Offset::UTC.to_datetime(at).strftime("%y%m%d%H%M%S").to_string();
    format!("{PREFIX}{stamp}{:03}{:08X}", now_ms.rem_euclid(1000), rng.next_u32())
}

/// `true` when `s` has the shape [`new_reference`] writes.
pub fn is_reference(s: &str) -> bool {
    s.len() == LEN
        && s.starts_with(PREFIX)
        && s[2..17].bytes().all(|b| b.is_ascii_digit())
        && s[17..].bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    #[test]
    fn a_reference_has_ccvs_layout_and_is_deterministic() {
        // 2026-04-14 07:28:54.599 UTC
        let now = 1_776_151_734_599;
        let a = new_reference(now, &mut SmallRng::seed_from_u64(7));
        let b = new_reference(now, &mut SmallRng::seed_from_u64(7));
        assert_eq!(a, b);
        assert!(a.starts_with("TL260414072854599"), "{a}");
        assert!(is_reference(&a), "{a}");
        assert_ne!(a, new_reference(now, &mut SmallRng::seed_from_u64(8)));
        assert!(!is_reference("TL26041407285459"));
        assert!(!is_reference("XX260414072854599CB87E19B"));
        assert!(is_reference("TL260414072854599CB87E19B"));
    }

    #[test]
    fn out_of_range_times_do_not_panic() {
        let mut rng = SmallRng::seed_from_u64(1);
        assert!(is_reference(&new_reference(i64::MAX, &mut rng)));
        assert!(is_reference(&new_reference(i64::MIN, &mut rng)));
        assert!(is_reference(&new_reference(-1, &mut rng)));
    }
}
