//! The IoT policies: what each [`Identity`] may do. A refusal is a typed [`Refusal`]; the endpoint
//! logs it and disconnects the client, as AWS IoT Core does.
//!
//! | identity    | connect (client id)   | subscribe                        | publish                 |
//! |-------------|-----------------------|----------------------------------|-------------------------|
//! | terminal T  | exactly `T`           | `ccv/{sub}/T/cmd` (`sub` may be `+`) | `ccv/{sub}/T/evt`   |
//! | payment API P | starting with `P`     | any filter under `ccv/`          | `ccv/{sub}/{tms}/cmd`   |
//!
//! As an IoT policy's `iot:Connect` on `client/${iot:Certificate.Subject.CommonName}` (terminals) and
//! `client/${iot:Certificate.Subject.CommonName}*` (the payment API), a certificate can take only its own client
//! ids: the payment API's (CN `vpos`: `vpos`, `vpos-1`, `vpos-sandbox`, ...) are never a terminal's, because
//! [`crate::pki`] issues no terminal certificate whose TMS ID starts with the payment API's CN.

use crate::identity::Identity;
use ccv_wire::cloud::{Channel, TerminalTopic};

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The client id is not the one the policy allows.
    #[error("{identity} may only connect with client id {allowed}, not {got:?}")]
    ClientId {
        /// Who.
        identity: String,
        /// The client ids allowed, in words (`"T1"`, or `a client id starting with "vpos"`).
        allowed: String,
        /// Requested client id.
        got: String,
    },
    /// Subscribing to this filter is not allowed.
    #[error("{identity} is not allowed to subscribe to {filter:?}")]
    Subscribe {
        /// Who.
        identity: String,
        /// The filter.
        filter: String,
    },
    /// Publishing to this topic is not allowed.
    #[error("{identity} is not allowed to publish to {topic:?}")]
    Publish {
        /// Who.
        identity: String,
        /// The topic.
        topic: String,
    },
}

/// May `identity` connect with `client_id`?
pub fn may_connect(identity: &Identity, client_id: &str) -> Result<(), Refusal> {
    match identity {
        Identity::Terminal { tms_id } if tms_id != client_id => Err(Refusal::ClientId {
            identity: identity.to_string(),
            allowed: format!("{tms_id:?}"),
            got: client_id.to_owned(),
        }),
        Identity::PaymentApi { name } if !client_id.starts_with(name.as_str()) => Err(Refusal::ClientId {
            identity: identity.to_string(),
            allowed: format!("a client id starting with {name:?}"),
            got: client_id.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// May `identity` subscribe to `filter` (already validated)?
pub fn may_subscribe(identity: &Identity, filter: &str) -> Result<(), Refusal> {
    let allowed = match identity {
        Identity::Terminal { tms_id } => TerminalTopic::parse(filter)
            .is_some_and(|t| t.channel == Channel::Cmd && t.tms_id == tms_id && t.mgt_subscription != "#"),
        Identity::PaymentApi { .. } => filter == "ccv/#" || filter.starts_with("ccv/"),
    };
    if allowed {
        Ok(())
    } else {
        Err(Refusal::Subscribe { identity: identity.to_string(), filter: filter.to_owned() })
    }
}

/// May `identity` publish to `topic` (already validated, no wildcards)?
pub fn may_publish(identity: &Identity, topic: &str) -> Result<(), Refusal> {
    let parsed = TerminalTopic::parse(topic);
    let allowed = match identity {
        Identity::Terminal { tms_id } => {
            parsed.is_some_and(|t| t.channel == Channel::Evt && t.tms_id == tms_id)
        }
        Identity::PaymentApi { .. } => parsed.is_some_and(|t| t.channel == Channel::Cmd),
    };
    if allowed {
        Ok(())
    } else {
        Err(Refusal::Publish { identity: identity.to_string(), topic: topic.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terminal(t: &str) -> Identity {
        Identity::Terminal { tms_id: t.into() }
    }

    #[test]
    fn terminal_policy() {
        let t = terminal("T1");
        assert!(may_connect(&t, "T1").is_ok());
        assert!(may_connect(&t, "T2").is_err());
        assert!(may_subscribe(&t, "ccv/NL-CAT/T1/cmd").is_ok());
        assert!(may_subscribe(&t, "ccv/+/T1/cmd").is_ok());
        for f in ["ccv/NL-CAT/T2/cmd", "ccv/+/+/cmd", "ccv/#", "#", "ccv/NL-CAT/T1/evt"] {
            assert!(may_subscribe(&t, f).is_err(), "{f}");
        }
        assert!(may_publish(&t, "ccv/NL-CAT/T1/evt").is_ok());
        assert!(may_publish(&t, "ccv/NL-CAT/T1/cmd").is_err(), "a terminal may not publish kicks");
        assert!(may_publish(&t, "ccv/NL-CAT/T2/evt").is_err());
    }

    #[test]
    fn payment_api_policy() {
        let v = Identity::PaymentApi { name: "vpos".into() };
        for id in ["vpos", "vpos-1", "vpos-sandbox"] {
            assert!(may_connect(&v, id).is_ok(), "{id}");
        }
        for id in ["T1", "12345678", "anything", "VPOS-1", "xvpos"] {
            let err = may_connect(&v, id).unwrap_err();
            assert!(err.to_string().contains("starting with \"vpos\""), "{err}");
        }
        assert!(may_publish(&v, "ccv/NL-CAT/T1/cmd").is_ok());
        assert!(may_publish(&v, "ccv/NL-CAT/T1/evt").is_err());
        assert!(may_publish(&v, "other/topic").is_err());
        assert!(may_subscribe(&v, "ccv/+/+/evt").is_ok());
        assert!(may_subscribe(&v, "ccv/#").is_ok());
        assert!(may_subscribe(&v, "#").is_err());
    }
}
