//! MQTT topic names and filters as AWS IoT Core takes them: its limits (length, slashes, reserved `$`), on top
//! of the MQTT rules for wildcards and matching, which are rumqttc's (`rumqttc::mqttbytes`). The cloud-kick
//! topic layout itself is `ccv_wire::cloud`'s.

/// Longest topic name or filter AWS IoT Core accepts, in bytes of UTF-8.
pub const MAX_TOPIC_BYTES: usize = 256;
/// Most forward slashes AWS IoT Core accepts in a topic name or filter.
pub const MAX_TOPIC_SLASHES: usize = 7;
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
    if !rumqttc::mqttbytes::valid_topic(topic) {
        return Err(TopicError::WildcardInName { topic: topic.to_owned() });
    }
    Ok(())
}

/// Checks a topic filter used in SUBSCRIBE: the IoT Core limits and well-formed wildcards.
pub fn validate_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
    if !rumqttc::mqttbytes::valid_filter(filter) {
        return Err(TopicError::BadWildcard { filter: filter.to_owned() });
    }
    Ok(())
}

/// Whether `filter` contains a wildcard level.
pub fn has_wildcard(filter: &str) -> bool {
    rumqttc::mqttbytes::has_wildcards(filter)
}

/// Whether topic name `topic` matches topic filter `filter` (MQTT 3.1.1 section 4.7).
///
/// Both are assumed valid ([`validate_name`], [`validate_filter`]).
pub fn matches(filter: &str, topic: &str) -> bool {
    rumqttc::mqttbytes::matches(topic, filter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KICK: &str = r#"{"type":"connect-tas","kickId":"k-1","reference":"tr-1","host":"127.0.0.1","port":5555,"expiresAt":1800000000000}"#;

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

    /// The PUBLISH frame printed in docs/CLOUD_KICK.md, encoded by rumqttc's codec.
    #[test]
    fn documented_publish_frame() {
        let mut p = rumqttc::mqttbytes::v4::Publish::new(
            ccv_wire::cloud::cmd_topic("NL-CAT", "12345678"),
            rumqttc::mqttbytes::QoS::AtLeastOnce,
            KICK.as_bytes().to_vec(),
        );
        p.pkid = 1;
        let mut buf = bytes::BytesMut::new();
        rumqttc::mqttbytes::v4::Packet::Publish(p).write(&mut buf, usize::MAX).expect("encodes");
        let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
        let doc = include_str!("../../../docs/CLOUD_KICK.md");
        let from_doc: String = doc
            .lines()
            .filter(|l| {
                l.len() > 6 && l.as_bytes()[..4].iter().all(u8::is_ascii_hexdigit) && &l[4..6] == "  "
            })
            .map(|l| l[6..54.min(l.len())].split_whitespace().collect::<String>())
            .collect();
        assert_eq!(hex, from_doc, "docs/CLOUD_KICK.md frame differs from the codec's bytes");
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
        }
    }
}
