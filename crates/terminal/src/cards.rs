//! Test cards and the magic amounts table: the documented, deterministic payment outcomes.

use serde::{Deserialize, Serialize};

/// The PIN of every test card that asks for one.
pub const TEST_PIN: &str = "1234";

/// How a test card behaves at the (simulated) issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardBehaviour {
    /// Approved in full.
    Approve,
    /// Declined with this ISO 8583 action code (`05` do not honour, `51` insufficient funds, `54`
    /// expired card).
    Decline(&'static str),
    /// The issuer cannot be reached: `CommunicationError`.
    HostUnreachable,
}

/// A test card with documented behaviour. Present one with
/// [`CardEvent::Presented`](crate::CardEvent::Presented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TestCard {
    /// Maestro (NL debit), PIN, approved.
    Maestro,
    /// V PAY (debit), contactless without PIN, approved.
    VPay,
    /// Bancontact (BE debit), PIN, approved.
    Bancontact,
    /// Mastercard (credit), contactless without PIN, approved.
    Mastercard,
    /// Visa (credit), contactless without PIN, approved.
    Visa,
    /// Visa, declined: action code 05 (do not honour).
    VisaDeclined,
    /// Mastercard, insufficient funds: action code 51 (partial approval of half when the POS allows it).
    MastercardInsufficientFunds,
    /// Maestro, expired: action code 54.
    MaestroExpired,
    /// Visa whose issuer is unreachable: `CommunicationError`.
    VisaHostUnreachable,
}

impl TestCard {
    /// Every test card.
    pub const ALL: &'static [TestCard] = &[
        TestCard::Maestro,
        TestCard::VPay,
        TestCard::Bancontact,
        TestCard::Mastercard,
        TestCard::Visa,
        TestCard::VisaDeclined,
        TestCard::MastercardInsufficientFunds,
        TestCard::MaestroExpired,
        TestCard::VisaHostUnreachable,
    ];

    /// The snake_case name (as serialised), used in rule names.
    pub fn name(self) -> &'static str {
        match self {
            TestCard::Maestro => "maestro",
            TestCard::VPay => "v_pay",
            TestCard::Bancontact => "bancontact",
            TestCard::Mastercard => "mastercard",
            TestCard::Visa => "visa",
            TestCard::VisaDeclined => "visa_declined",
            TestCard::MastercardInsufficientFunds => "mastercard_insufficient_funds",
            TestCard::MaestroExpired => "maestro_expired",
            TestCard::VisaHostUnreachable => "visa_host_unreachable",
        }
    }

    /// The full test PAN (never leaves the core unmasked).
    pub fn pan(self) -> &'static str {
        match self {
            TestCard::Maestro => "6703123456781234",
            TestCard::VPay => "4000123456780010",
            TestCard::Bancontact => "6703987654320001",
            TestCard::Mastercard => "5413330000000019",
            TestCard::Visa => "4761730000000011",
            TestCard::VisaDeclined => "4000000000000002",
            TestCard::MastercardInsufficientFunds => "5100000000000040",
            TestCard::MaestroExpired => "6703000000000033",
            TestCard::VisaHostUnreachable => "4000000000000119",
        }
    }

    /// The card circuit as OPI `CardCircuit`.
    pub fn circuit(self) -> &'static str {
        match self {
            TestCard::Maestro | TestCard::MaestroExpired => "MAESTRO",
            TestCard::VPay => "VPAY",
            TestCard::Bancontact => "BANCONTACT",
            TestCard::Mastercard | TestCard::MastercardInsufficientFunds => "MASTERCARD",
            TestCard::Visa | TestCard::VisaDeclined | TestCard::VisaHostUnreachable => "VISA",
        }
    }

    /// Whether the card asks for a PIN.
    pub fn needs_pin(self) -> bool {
        matches!(self, TestCard::Maestro | TestCard::Bancontact | TestCard::MaestroExpired)
    }

    /// The issuer's behaviour.
    pub fn behaviour(self) -> CardBehaviour {
        match self {
            TestCard::VisaDeclined => CardBehaviour::Decline("05"),
            TestCard::MastercardInsufficientFunds => CardBehaviour::Decline("51"),
            TestCard::MaestroExpired => CardBehaviour::Decline("54"),
            TestCard::VisaHostUnreachable => CardBehaviour::HostUnreachable,
            _ => CardBehaviour::Approve,
        }
    }

    /// The masked PAN as text: first six and last four digits of [`TestCard::pan`], `*` between
    /// (what `CardPan::mask` makes of it).
    fn masked_pan_text(self) -> &'static str {
        match self {
            TestCard::Maestro => "670312******1234",
            TestCard::VPay => "400012******0010",
            TestCard::Bancontact => "670398******0001",
            TestCard::Mastercard => "541333******0019",
            TestCard::Visa => "476173******0011",
            TestCard::VisaDeclined => "400000******0002",
            TestCard::MastercardInsufficientFunds => "510000******0040",
            TestCard::MaestroExpired => "670300******0033",
            TestCard::VisaHostUnreachable => "400000******0119",
        }
    }

    /// The masked PAN.
    pub fn masked_pan(self) -> ccv_opi::CardPan {
        // Invariant: every masked test PAN shows ten digits, which `CardPan::new` accepts (the
        // test `masked_pans_are_the_masked_test_pans` checks each against `CardPan::mask`).
        ccv_opi::CardPan::new(self.masked_pan_text()).expect("masked test PANs are valid")
    }
}

/// What the magic amounts table says for an amount (applied when no card event comes in time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MagicOutcome {
    /// No magic ending: approved with the default card (Maestro, PIN entered correctly).
    Approve,
    /// `.51`: declined by the issuer (action code 05).
    Decline,
    /// `.52`: the card asks for a PIN and the wrong PIN is entered three times.
    WrongPin,
    /// `.53`: the customer presses STOP.
    CustomerCancel,
    /// `.54`: no card is presented; the payment times out after the card time-out.
    NoCard,
    /// `.55`: the card is removed during the transaction.
    CardRemoved,
    /// `.56`: the host is unreachable: `CommunicationError`.
    HostUnreachable,
    /// `.57`: insufficient funds; half the amount is approved when the POS allows partial approval.
    PartialApproval,
}

impl MagicOutcome {
    /// The table: the last two digits of the amount in minor units.
    pub fn for_minor_units(minor: u64) -> MagicOutcome {
        match minor % 100 {
            51 => MagicOutcome::Decline,
            52 => MagicOutcome::WrongPin,
            53 => MagicOutcome::CustomerCancel,
            54 => MagicOutcome::NoCard,
            55 => MagicOutcome::CardRemoved,
            56 => MagicOutcome::HostUnreachable,
            57 => MagicOutcome::PartialApproval,
            _ => MagicOutcome::Approve,
        }
    }

    /// The rule name written in the response and the journal.
    pub fn rule(self) -> &'static str {
        match self {
            MagicOutcome::Approve => "default_approve",
            MagicOutcome::Decline => "magic_amount_51_decline",
            MagicOutcome::WrongPin => "magic_amount_52_wrong_pin",
            MagicOutcome::CustomerCancel => "magic_amount_53_customer_cancel",
            MagicOutcome::NoCard => "magic_amount_54_no_card",
            MagicOutcome::CardRemoved => "magic_amount_55_card_removed",
            MagicOutcome::HostUnreachable => "magic_amount_56_host_unreachable",
            MagicOutcome::PartialApproval => "magic_amount_57_partial_approval",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_table() {
        assert_eq!(MagicOutcome::for_minor_units(1234), MagicOutcome::Approve);
        assert_eq!(MagicOutcome::for_minor_units(1051), MagicOutcome::Decline);
        assert_eq!(MagicOutcome::for_minor_units(51), MagicOutcome::Decline);
        assert_eq!(MagicOutcome::for_minor_units(999_957), MagicOutcome::PartialApproval);
        assert_eq!(MagicOutcome::for_minor_units(1050), MagicOutcome::Approve);
    }

    #[test]
    fn masked_pans_are_the_masked_test_pans() {
        for c in TestCard::ALL {
            assert_eq!(c.masked_pan(), ccv_opi::CardPan::mask(c.pan()).unwrap(), "{c:?}");
        }
    }

    #[test]
    fn test_cards_mask_and_name() {
        for c in TestCard::ALL {
            let masked = c.masked_pan();
            assert_eq!(masked.as_str().len(), 16);
            assert!(masked.as_str().contains('*'));
            assert_eq!(serde_json::to_string(c).unwrap(), format!("\"{}\"", c.name()));
        }
    }
}
