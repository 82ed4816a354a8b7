//! Time without a clock: [`Timestamp`] (milliseconds since the Unix epoch, supplied by the caller)
//! and a small civil-date conversion for the service password, receipts and OPI `TimeStamp` fields.
//!
//! The terminal's local time is that of Europe/Amsterdam, summer time included: the UTC offset of
//! each instant (+01:00 in winter, +02:00 from 01:00 UTC on the last Sunday of March to 01:00 UTC
//! on the last Sunday of October) comes from the IANA time-zone database bundled into the binary
//! (`jiff`'s bundled copy; no file, clock or environment variable is read).

use std::fmt;
use std::sync::LazyLock;

use jiff::tz::{TimeZone, TimeZoneDatabase};

use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since 1970-01-01T00:00:00 UTC.
///
/// The core never reads a clock; every [`Timestamp`] comes in from the caller (the IO shell reads
/// the system clock, tests use a fake one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// From milliseconds since the epoch.
    pub const fn from_millis(ms: u64) -> Timestamp {
        Timestamp(ms)
    }

    /// From whole seconds since the epoch.
    pub const fn from_secs(s: u64) -> Timestamp {
        Timestamp(s.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// This time plus `ms` milliseconds (saturating).
    pub const fn plus_millis(self, ms: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self` (0 when `earlier` is later).
    pub const fn millis_since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// The offset of the terminal's local time (Europe/Amsterdam) from UTC at this instant, in
    /// minutes: 60 in winter, 120 in summer.
    pub fn local_offset_minutes(self) -> i32 {
        let ms = i64::try_from(self.0).unwrap_or(i64::MAX);
        // Instants past jiff's range (after the year 9999) take the offset at its end.
        let t = jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::MAX);
        AMSTERDAM.to_offset(t).seconds() / 60
    }

    /// The terminal's local (Europe/Amsterdam) calendar date and time at this instant.
    pub fn local(self) -> CivilDateTime {
        self.civil(self.local_offset_minutes())
    }

    /// The OPI `TimeStamp` text of this instant in the terminal's local time (Europe/Amsterdam).
    pub fn to_opi_local(self) -> ccv_opi::TimeStamp {
        self.to_opi(self.local_offset_minutes())
    }

    /// The civil (calendar) date and time, shifted by `offset_minutes` from UTC.
    pub fn civil(self, offset_minutes: i32) -> CivilDateTime {
        let secs = i64::try_from(self.0 / 1000).unwrap_or(i64::MAX / 2) + i64::from(offset_minutes) * 60;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        CivilDateTime {
            date: CivilDate { year, month, day },
            hour: (rem / 3600) as u8,
            minute: ((rem % 3600) / 60) as u8,
            second: (rem % 60) as u8,
        }
    }

    /// The OPI `TimeStamp` text (`YYYY-MM-DDThh:mm:ss`, local time of the given offset).
    pub fn to_opi(self, offset_minutes: i32) -> ccv_opi::TimeStamp {
        let c = self.civil(offset_minutes);
        if (0..=9999).contains(&c.date.year) {
            // The common case, written on the stack without the formatting machinery: the same
            // text as `CivilDateTime`'s Display.
            let mut b = *b"0000-00-00T00:00:00";
            let year = c.date.year as u16;
            for (i, d) in [year / 1000, year / 100 % 10, year / 10 % 10, year % 10].into_iter().enumerate() {
                b[i] = b'0' + d as u8;
            }
            for (at, v) in [(5, c.date.month), (8, c.date.day), (11, c.hour), (14, c.minute), (17, c.second)]
            {
                b[at] = b'0' + v / 10;
                b[at + 1] = b'0' + v % 10;
            }
            if let Ok(t) =
                std::str::from_utf8(&b).map_err(drop).and_then(|s| ccv_opi::TimeStamp::new(s).map_err(drop))
            {
                return t;
            }
        }
        let text = c.to_string();
        // Invariant: `CivilDateTime`'s Display writes exactly the shape `TimeStamp::new` accepts
        // (four-digit year for all years 0..=9999 reachable from a u64 of milliseconds clamped below).
        ccv_opi::TimeStamp::new(&text).unwrap_or_else(|_| {
            ccv_opi::TimeStamp::new("1970-01-01T00:00:00").expect("constant time stamp is valid")
        })
    }
}

/// The rules of Europe/Amsterdam since 1996 (the EU's), as a POSIX TZ string: the stand-in should
/// the bundled database ever lack the zone.
const AMSTERDAM_POSIX: &str = "CET-1CEST,M3.5.0,M10.5.0/3";

/// The terminal's time zone, read once from the bundled database.
static AMSTERDAM: LazyLock<TimeZone> = LazyLock::new(|| {
    TimeZoneDatabase::bundled()
        .get("Europe/Amsterdam")
        .or_else(|_| TimeZone::posix(AMSTERDAM_POSIX))
        .unwrap_or(TimeZone::UTC)
});

/// A calendar date (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CivilDate {
    /// Year, e.g. 2026.
    pub year: i64,
    /// Month 1..=12.
    pub month: u8,
    /// Day of the month 1..=31.
    pub day: u8,
}

impl CivilDate {
    /// The date as `YYYYMMDD` digits (the input of the service password).
    pub fn yyyymmdd(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    /// The first millisecond of this date in UTC.
    pub fn to_timestamp(&self) -> Timestamp {
        // Years far outside any terminal's life are clamped, so the arithmetic cannot overflow.
        let days = days_from_civil(self.year.clamp(-1_000_000, 1_000_000), self.month, self.day);
        Timestamp(u64::try_from(days.max(0).saturating_mul(86_400_000)).unwrap_or(0))
    }
}

impl fmt::Display for CivilDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A calendar date with a time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDateTime {
    /// The date.
    pub date: CivilDate,
    /// Hour 0..=23.
    pub hour: u8,
    /// Minute 0..=59.
    pub minute: u8,
    /// Second 0..=59.
    pub second: u8,
}

impl fmt::Display for CivilDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}T{:02}:{:02}:{:02}", self.date, self.hour, self.minute, self.second)
    }
}

/// Days since 1970-01-01 → (year, month, day). Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01. Howard Hinnant's `days_from_civil`.
fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(Timestamp(0).civil(0).to_string(), "1970-01-01T00:00:00");
        // 2026-11-28T15:30:00Z
        assert_eq!(Timestamp::from_secs(1_795_879_800).civil(0).to_string(), "2026-11-28T15:30:00");
        assert_eq!(Timestamp::from_secs(1_795_879_800).civil(60).to_string(), "2026-11-28T16:30:00");
        assert_eq!(Timestamp::from_secs(951_782_400).civil(0).date.to_string(), "2000-02-29");
    }

    #[test]
    fn round_trip_days() {
        for days in (-800_000i64..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn civil_dates_convert_back() {
        let t = Timestamp::from_secs(1_795_879_800);
        assert_eq!(t.civil(0).date.to_timestamp(), Timestamp::from_secs(1_795_824_000));
        let far = CivilDate { year: i64::MAX, month: 12, day: 31 };
        let _ = far.to_timestamp();
        assert_eq!(CivilDate { year: 1900, month: 1, day: 1 }.to_timestamp(), Timestamp(0));
    }

    #[test]
    fn opi_time_stamp_is_the_civil_text() {
        for secs in (0..400_000_000_000u64).step_by(7_919_993) {
            for offset in [-720, -60, 0, 60, 840] {
                let t = Timestamp::from_secs(secs);
                let civil = t.civil(offset).to_string();
                let want = ccv_opi::TimeStamp::new(&civil)
                    .unwrap_or_else(|_| ccv_opi::TimeStamp::new("1970-01-01T00:00:00").unwrap());
                assert_eq!(t.to_opi(offset), want, "{secs} {offset}");
            }
        }
    }

    #[test]
    fn local_time_follows_amsterdam_summer_time() {
        // Summer time starts on the last Sunday of March at 01:00 UTC (02:00 CET -> 03:00 CEST).
        let spring = Timestamp::from_secs(1_774_746_000); // 2026-03-29T01:00:00Z
        assert_eq!(spring.plus_millis(0).local_offset_minutes(), 120);
        let before = Timestamp(spring.0 - 1000);
        assert_eq!(before.local_offset_minutes(), 60);
        assert_eq!(before.local().to_string(), "2026-03-29T01:59:59");
        assert_eq!(spring.local().to_string(), "2026-03-29T03:00:00");
        // It ends on the last Sunday of October at 01:00 UTC (03:00 CEST -> 02:00 CET).
        let autumn = Timestamp::from_secs(1_792_890_000); // 2026-10-25T01:00:00Z
        let before = Timestamp(autumn.0 - 1000);
        assert_eq!(before.local_offset_minutes(), 120);
        assert_eq!(before.local().to_string(), "2026-10-25T02:59:59");
        assert_eq!(autumn.local_offset_minutes(), 60);
        assert_eq!(autumn.local().to_string(), "2026-10-25T02:00:00");
        assert_eq!(autumn.to_opi_local().as_str(), "2026-10-25T02:00:00");
    }

    #[test]
    fn the_bundled_zone_is_found_and_agrees_with_the_eu_rule() {
        assert!(TimeZoneDatabase::bundled().get("Europe/Amsterdam").is_ok());
        let rule = TimeZone::posix(AMSTERDAM_POSIX).unwrap();
        // 2000 to 2037, every 6 hours and 1 second.
        for secs in (946_684_800u64..2_145_916_800).step_by(21_601) {
            let t = jiff::Timestamp::from_second(secs as i64).unwrap();
            assert_eq!(
                Timestamp::from_secs(secs).local_offset_minutes(),
                rule.to_offset(t).seconds() / 60,
                "{secs}"
            );
        }
    }

    #[test]
    fn local_time_is_defined_for_every_instant() {
        for t in [Timestamp(0), Timestamp(u64::MAX), Timestamp(i64::MAX as u64 + 1)] {
            assert!((60..=120).contains(&t.local_offset_minutes()), "{t:?}");
            let _ = t.to_opi_local();
        }
        // 1970: Amsterdam kept CET all year.
        assert_eq!(Timestamp(0).local().to_string(), "1970-01-01T01:00:00");
    }

    #[test]
    fn opi_time_stamp_is_valid_for_extremes() {
        assert_eq!(Timestamp(0).to_opi(0).as_str(), "1970-01-01T00:00:00");
        let _ = Timestamp(u64::MAX).to_opi(0);
    }
}
