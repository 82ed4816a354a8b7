//! MQTT topic names and filters: the AWS IoT Core limits, wildcard matching, and the cloud-kick
//! topic layout `ccv/{MgtSubscription}/{tmsId}/cmd` (commands to a terminal) and
//! `ccv/{MgtSubscription}/{tmsId}/evt` (events from it).
//!
//! Everything here is pure string work; the endpoint and the terminal's MQTT client both use it.

/// Longest topic name or filter AWS IoT Core accepts, in bytes of UTF-8.
pub const MAX_TOPIC_BYTES: usize = 256;
/// Most forward slashes AWS IoT Core accepts in a topic name or filter.
pub const MAX_TOPIC_SLASHES: usize = 7;
/// Root segment of every cloud-kick topic.
pub const ROOT: &str = "ccv";
/// Last segment of a terminal's command topic.
pub const CMD: &str = "cmd";
/// Last segment of a terminal's event topic.
pub const EVT: &str = "evt";
/// The `MgtSubscription` value the TMS sets for Dutch CAT terminals (R6).
pub const DEFAULT_MGT_SUBSCRIPTION: &str = "NL-CAT";

/// Why a topic name or filter is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// Empty topic.
    #[error("topic is empty; give a topic such as ccv/NL-CAT/12345678/cmd")]
    Empty,
    /// Longer than [`MAX_TOPIC_BYTES`].
    #[error("topic is {len} bytes long; AWS IoT Core allows at most {MAX_TOPIC_BYTES}")]
    TooLong {
        /// Length in bytes.
        len: usize,
    },
    /// More than [`MAX_TOPIC_SLASHES`] slashes.
    #[error("topic has {slashes} slashes; AWS IoT Core allows at most {MAX_TOPIC_SLASHES}")]
    TooManySlashes {
        /// Number of `/` characters.
        slashes: usize,
    },
    /// A wildcard in a topic name (publish), where none is allowed.
    #[error("topic name {topic:?} contains a wildcard (+ or #); wildcards are only allowed in subscriptions")]
    WildcardInName {
        /// The topic.
        topic: String,
    },
    /// A wildcard used wrongly in a filter (`+` not alone in its level, `#` not last and alone).
    #[error(
        "topic filter {filter:?} uses a wildcard wrongly: + must fill a whole level, # must be the whole last level"
    )]
    BadWildcard {
        /// The filter.
        filter: String,
    },
    /// A NUL character.
    #[error("topic contains a NUL character")]
    Nul,
    /// Topics starting with `$` are reserved for the broker.
    #[error("topic {topic:?} starts with $, which is reserved")]
    Reserved {
        /// The topic.
        topic: String,
    },
}

fn check_common(topic: &str) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    if topic.len() > MAX_TOPIC_BYTES {
        return Err(TopicError::TooLong { len: topic.len() });
    }
    let slashes = topic.bytes().filter(|b| *b == b'/').count();
    if slashes > MAX_TOPIC_SLASHES {
        return Err(TopicError::TooManySlashes { slashes });
    }
    if topic.contains('\0') {
        return Err(TopicError::Nul);
    }
    if topic.starts_with('$') {
        return Err(TopicError::Reserved { topic: topic.to_owned() });
    }
    Ok(())
}

/// Checks a topic name used in PUBLISH: the IoT Core limits and no wildcards.
pub fn validate_name(topic: &str) -> Result<(), TopicError> {
    check_common(topic)?;
    if topic.contains(['+', '#']) {
        return Err(TopicError::WildcardInName { topic: topic.to_owned() });
    }
    Ok(())
}

/// Checks a topic filter used in SUBSCRIBE: the IoT Core limits and well-formed wildcards.
pub fn validate_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
    let levels: Vec<&str> = filter.split('/').collect();
    let last = levels.len() - 1;
    for (i, level) in levels.iter().enumerate() {
        let bad_plus = level.contains('+') && *level != "+";
        let bad_hash = level.contains('#') && (*level != "#" || i != last);
        if bad_plus || bad_hash {
            return Err(TopicError::BadWildcard { filter: filter.to_owned() });
        }
    }
    Ok(())
}

/// Whether `filter` contains a wildcard level.
pub fn has_wildcard(filter: &str) -> bool {
    filter.contains(['+', '#'])
}

/// Whether topic name `topic` matches topic filter `filter` (MQTT 3.1.1 section 4.7).
///
/// Both are assumed valid ([`validate_name`], [`validate_filter`]).
pub fn matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Which of a terminal's two topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `.../cmd`: commands (cloud kicks) to the terminal.
    Cmd,
    /// `.../evt`: events from the terminal.
    Evt,
}

/// A parsed cloud-kick topic `ccv/{mgt_subscription}/{tms_id}/{cmd|evt}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalTopic<'a> {
    /// The `MgtSubscription` TMS parameter, for example `NL-CAT`.
    pub mgt_subscription: &'a str,
    /// The terminal's TMS ID.
    pub tms_id: &'a str,
    /// Command or event topic.
    pub channel: Channel,
}

impl<'a> TerminalTopic<'a> {
    /// Parses a topic name (or a filter, where `+` may stand in any level). Returns `None` for
    /// anything that is not exactly `ccv/X/Y/cmd` or `ccv/X/Y/evt`.
    pub fn parse(topic: &'a str) -> Option<Self> {
        let mut it = topic.split('/');
        let (root, sub, tms, last) = (it.next()?, it.next()?, it.next()?, it.next()?);
        if it.next().is_some() || root != ROOT || sub.is_empty() || tms.is_empty() {
            return None;
        }
        let channel = match last {
            CMD => Channel::Cmd,
            EVT => Channel::Evt,
            _ => return None,
        };
        Some(TerminalTopic { mgt_subscription: sub, tms_id: tms, channel })
    }
}

/// The command topic of a terminal: `ccv/{mgt_subscription}/{tms_id}/cmd`.
pub fn cmd_topic(mgt_subscription: &str, tms_id: &str) -> String {
    format!("{ROOT}/{mgt_subscription}/{tms_id}/{CMD}")
}

/// The event topic of a terminal: `ccv/{mgt_subscription}/{tms_id}/evt`.
pub fn evt_topic(mgt_subscription: &str, tms_id: &str) -> String {
    format!("{ROOT}/{mgt_subscription}/{tms_id}/{EVT}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn limits() {
        assert_eq!(validate_name(""), Err(TopicError::Empty));
        assert!(matches!(validate_name(&"a".repeat(257)), Err(TopicError::TooLong { len: 257 })));
        assert!(validate_name(&"a".repeat(256)).is_ok());
        assert!(validate_name("a/b/c/d/e/f/g/h").is_ok());
        assert!(matches!(validate_name("a/b/c/d/e/f/g/h/i"), Err(TopicError::TooManySlashes { slashes: 8 })));
        assert!(matches!(validate_name("a/+/c"), Err(TopicError::WildcardInName { .. })));
        assert!(matches!(validate_name("$aws/things"), Err(TopicError::Reserved { .. })));
        assert!(validate_filter("ccv/+/1/cmd").is_ok());
        assert!(validate_filter("ccv/#").is_ok());
        assert!(validate_filter("#").is_ok());
        assert!(matches!(validate_filter("ccv/#/x"), Err(TopicError::BadWildcard { .. })));
        assert!(matches!(validate_filter("ccv/a+"), Err(TopicError::BadWildcard { .. })));
    }

    #[test]
    fn matching() {
        assert!(matches("ccv/+/1/cmd", "ccv/NL-CAT/1/cmd"));
        assert!(!matches("ccv/+/1/cmd", "ccv/NL-CAT/2/cmd"));
        assert!(matches("ccv/#", "ccv/NL-CAT/2/cmd"));
        assert!(matches("ccv/#", "ccv"));
        assert!(!matches("ccv/+", "ccv/a/b"));
        assert!(matches("a/b", "a/b"));
        assert!(!matches("a/b", "a/b/c"));
    }

    #[test]
    fn terminal_topics() {
        let t = cmd_topic("NL-CAT", "12345678");
        assert_eq!(t, "ccv/NL-CAT/12345678/cmd");
        let p = TerminalTopic::parse(&t).expect("a command topic");
        assert_eq!((p.mgt_subscription, p.tms_id, p.channel), ("NL-CAT", "12345678", Channel::Cmd));
        assert_eq!(TerminalTopic::parse(&evt_topic("X", "Y")).map(|p| p.channel), Some(Channel::Evt));
        assert_eq!(TerminalTopic::parse("ccv/X/Y/other"), None);
        assert_eq!(TerminalTopic::parse("ccv/X/Y/cmd/extra"), None);
        assert_eq!(TerminalTopic::parse("ccv//Y/cmd"), None);
    }

    proptest! {
        #[test]
        fn a_valid_name_matches_itself_and_hash(name in "[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,6}") {
            prop_assert!(validate_name(&name).is_ok());
            prop_assert!(validate_filter(&name).is_ok());
            prop_assert!(matches(&name, &name));
            prop_assert!(matches("#", &name));
        }

        #[test]
        fn validation_never_panics(s in "\\PC{0,300}") {
            let _ = validate_name(&s);
            let _ = validate_filter(&s);
            let _ = TerminalTopic::parse(&s);
        }
    }
}
