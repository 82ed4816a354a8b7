//! Dotted software versions (`11.3.02`, `14.0.11.01`), ordered numerically part by part.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The lowest version that supports Cloud Connect 1.0, the local kick (R3).
pub const MIN_LOCAL_KICK: &str = "11.3.02";
/// The lowest version that supports Cloud Connect 2.0, the MQTT link and cloud kick (R5).
pub const MIN_CLOUD_KICK: &str = "14.0.11.01";

/// [`MIN_LOCAL_KICK`] as numbers.
const MIN_LOCAL_KICK_PARTS: [u32; 3] = [11, 3, 2];
/// [`MIN_CLOUD_KICK`] as numbers.
const MIN_CLOUD_KICK_PARTS: [u32; 4] = [14, 0, 11, 1];

/// Compares two part lists numerically, missing parts counting as zero.
fn cmp_parts(a: &[u32], b: &[u32]) -> Ordering {
    let n = a.len().max(b.len());
    for i in 0..n {
        match a.get(i).copied().unwrap_or(0).cmp(&b.get(i).copied().unwrap_or(0)) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    Ordering::Equal
}

/// At most this many parts; more is refused.
const MAX_PARTS: usize = 8;

/// A terminal software version: 1 to 8 numeric parts separated by dots.
///
/// Parts compare as numbers (`02` = `2`, `11.3.02 < 14.0.11.01`, `9 < 10`), missing parts count as
/// zero (`14.0 == 14.0.0`). The text is kept as written for display.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SoftwareVersion {
    text: String,
    parts: Vec<u32>,
}

/// Why a version text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("software version {text:?} is not valid: {why} (expected dotted numbers such as 14.0.11.01)")]
pub struct VersionError {
    /// The text (cut to 40 characters).
    pub text: String,
    /// What is wrong.
    pub why: &'static str,
}

impl SoftwareVersion {
    /// Parses a dotted version.
    pub fn parse(text: &str) -> Result<SoftwareVersion, VersionError> {
        let t = text.trim();
        let err = |why| VersionError { text: t.chars().take(40).collect(), why };
        if t.is_empty() {
            return Err(err("it is empty"));
        }
        let mut parts = Vec::new();
        for p in t.split('.') {
            if parts.len() == MAX_PARTS {
                return Err(err("more than 8 parts"));
            }
            if p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("each part must be 1 to 9 digits"));
            }
            parts.push(p.parse::<u32>().map_err(|_| err("a part is too large"))?);
        }
        Ok(SoftwareVersion { text: t.to_owned(), parts })
    }

    /// The minimum for the local kick, 11.3.02 (R3).
    pub fn min_local_kick() -> SoftwareVersion {
        // Invariant: the constant is a valid version (checked by the unit tests).
        SoftwareVersion::parse(MIN_LOCAL_KICK).expect("constant version is valid")
    }

    /// The minimum for the cloud kick, 14.0.11.01 (R5).
    pub fn min_cloud_kick() -> SoftwareVersion {
        // Invariant: the constant is a valid version (checked by the unit tests).
        SoftwareVersion::parse(MIN_CLOUD_KICK).expect("constant version is valid")
    }

    /// `true` when this version supports the local kick (≥ 11.3.02, R3). Allocation-free.
    pub fn supports_local_kick(&self) -> bool {
        cmp_parts(&self.parts, &MIN_LOCAL_KICK_PARTS) != Ordering::Less
    }

    /// `true` when this version supports the cloud kick (≥ 14.0.11.01, R5). Allocation-free.
    pub fn supports_cloud_kick(&self) -> bool {
        cmp_parts(&self.parts, &MIN_CLOUD_KICK_PARTS) != Ordering::Less
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The numeric parts.
    pub fn parts(&self) -> &[u32] {
        &self.parts
    }
}

impl Default for SoftwareVersion {
    fn default() -> Self {
        SoftwareVersion::min_cloud_kick()
    }
}

impl Ord for SoftwareVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_parts(&self.parts, &other.parts)
    }
}

impl PartialOrd for SoftwareVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SoftwareVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SoftwareVersion {}

impl fmt::Display for SoftwareVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for SoftwareVersion {
    type Error = VersionError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        SoftwareVersion::parse(&s)
    }
}

impl From<SoftwareVersion> for String {
    fn from(v: SoftwareVersion) -> Self {
        v.text
    }
}

impl std::str::FromStr for SoftwareVersion {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SoftwareVersion::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> SoftwareVersion {
        SoftwareVersion::parse(s).unwrap()
    }

    #[test]
    fn numeric_per_part_ordering() {
        assert!(v("11.3.02") < v("14.0.11.01"));
        assert!(v("11.3.2") == v("11.3.02"));
        assert!(v("9.9") < v("10.0"));
        assert!(v("14.0.11.01") > v("14.0.11"));
        assert!(v("14.0") == v("14.0.0.0"));
        assert!(v("11.3.01") < v("11.3.02"));
        assert_eq!(v("11.3.02").to_string(), "11.3.02");
        assert!(v("11.3.02").supports_local_kick() && !v("11.3.01").supports_local_kick());
        assert!(v("14.0.11.01").supports_cloud_kick() && !v("14.0.11").supports_cloud_kick());
    }

    #[test]
    fn bad_versions_are_refused() {
        for bad in ["", "1..2", "a.b", "1.2.", ".1", "1.2.3.4.5.6.7.8.9", "1234567890", "1,2"] {
            assert!(SoftwareVersion::parse(bad).is_err(), "{bad:?}");
        }
    }
}
