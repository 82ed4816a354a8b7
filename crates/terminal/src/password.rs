//! The computed service password (R17, R20).
//!
//! CCV's own algorithm is not public; this one is ccv-emu's, documented in `docs/TERMINAL.md`:
//!
//! 1. Write the input text `"{tms_id}|{YYYYMMDD}"`, the date being the terminal's local date
//!    (Europe/Amsterdam, summer time included: the password changes at local midnight).
//! 2. Hash its UTF-8 bytes with 64-bit FNV-1a (offset basis `0xcbf29ce484222325`,
//!    prime `0x100000001b3`).
//! 3. The password is the hash modulo 1 000 000, written as six digits with leading zeros.
//!
//! Example: TMS ID `12345678` on 2026-11-28 → input `12345678|20261128` → password `254741`.

use crate::time::{CivilDate, Timestamp};

/// FNV-1a, 64 bits.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The service password of terminal `tms_id` on `date` (six digits).
pub fn service_password(tms_id: &str, date: CivilDate) -> String {
    let input = format!("{}|{}", tms_id, date.yyyymmdd());
    format!("{:06}", fnv1a64(input.as_bytes()) % 1_000_000)
}

/// The service password valid at `now` for a terminal whose local time is a fixed
/// `utc_offset_minutes` from UTC (the terminal itself uses [`service_password_local`]).
pub fn service_password_at(tms_id: &str, now: Timestamp, utc_offset_minutes: i32) -> String {
    service_password(tms_id, now.civil(utc_offset_minutes).date)
}

/// The service password valid at `now` for terminal `tms_id`: that of its local date in
/// Europe/Amsterdam (see [`Timestamp::local`]).
pub fn service_password_local(tms_id: &str, now: Timestamp) -> String {
    service_password(tms_id, now.local().date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn password_is_six_digits_and_changes_with_date_and_id() {
        let d1 = CivilDate { year: 2026, month: 11, day: 28 };
        let d2 = CivilDate { year: 2026, month: 11, day: 29 };
        let p = service_password("12345678", d1);
        assert_eq!(p.len(), 6);
        assert!(p.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(p, "254741", "the documented example in docs/TERMINAL.md");
        assert_ne!(p, service_password("12345678", d2));
        assert_ne!(p, service_password("12345679", d1));
        assert_eq!(p, service_password_at("12345678", Timestamp::from_secs(1_795_879_800), 0));
    }
}
