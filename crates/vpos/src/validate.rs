//! Checks a request body and turns it into a typed order ([`PaymentOrder`], [`RefundOrder`]) or an
//! [`ApiError`] naming the field at fault.
//!
//! Rules (docs/PAYMENT_API.md): the body is at most [`MAX_BODY_BYTES`]; `method` is `terminal`; `amount` is
//! above zero, at most [`Amount::DEFAULT_MAX_MINOR`] minor units and has at most the currency's decimals;
//! `details.managementSystemId` is `GrundmasterNL` or `GrundmasterBE` (cloud kick, Cloud Connect 2.0, R8) or
//! `08900000002` (local kick, 1.0, R2, which then needs `details.ip` and `details.port`);
//! `details.accessProtocol` is `OPI_NL`; `details.terminalId` is a TMS ID (1 to
//! [`MAX_TMS_ID_LEN`] ASCII letters or digits). Texts have length limits and no control characters.

use ccv_opi::{Amount, Currency};
use ccv_wire::HostPort;
use ccv_wire::handshake::MAX_TMS_ID_LEN;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorType};
use crate::model::{OrderTexts, PaymentRequest, RefundRequest, TerminalDetails};

/// The largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The longest `merchantOrderReference`, in characters (ours; CCV's limit is not public).
pub const MAX_ORDER_REFERENCE_CHARS: usize = 100;
/// The longest `description`, in characters (ours).
pub const MAX_DESCRIPTION_CHARS: usize = 255;
/// The longest `returnUrl` / `webhookUrl`, in bytes (ours).
pub const MAX_URL_BYTES: usize = 2048;
/// The longest transaction reference a request may name, in bytes.
pub const MAX_REFERENCE_BYTES: usize = 64;
/// The longest terminal host name or address (`details.ip`), in bytes (DNS's limit).
pub const MAX_HOST_BYTES: usize = 253;

/// `details.managementSystemId` of a Cloud Connect 1.0 payment (R2): the terminal is kicked on the shop LAN.
pub const CLOUD_CONNECT_1_SYSTEM_ID: &str = "08900000002";
/// The only `details.accessProtocol` there is.
pub const ACCESS_PROTOCOL: &str = "OPI_NL";

/// The TMS that manages a Cloud Connect 2.0 terminal (R8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CloudTms {
    /// `GrundmasterNL`.
    GrundmasterNl,
    /// `GrundmasterBE`.
    GrundmasterBe,
}

/// How the terminal is told to connect to the TAS: decided by `managementSystemId`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Kick {
    /// Cloud Connect 2.0: an MQTT command through the IoT endpoint, only for whitelisted TMS IDs (R8, R10).
    Cloud {
        /// Which TMS manages the terminal.
        tms: CloudTms,
    },
    /// Cloud Connect 1.0: an HTTP request to the terminal's trigger port on the shop LAN (R2).
    Local {
        /// The terminal's address and trigger port.
        terminal: HostPort,
    },
}

impl Kick {
    /// `details.managementSystemId` as the POS sends it.
    pub fn management_system_id(&self) -> &'static str {
        match self {
            Kick::Cloud { tms: CloudTms::GrundmasterNl } => "GrundmasterNL",
            Kick::Cloud { tms: CloudTms::GrundmasterBe } => "GrundmasterBE",
            Kick::Local { .. } => CLOUD_CONNECT_1_SYSTEM_ID,
        }
    }

    /// `details.wakeUpType` of the answer: `CLOUD_CONNECT` (CCV's) or `LOCAL_KICK` (ours; CCV's is not public).
    pub fn wake_up_type(&self) -> &'static str {
        match self {
            Kick::Cloud { .. } => "CLOUD_CONNECT",
            Kick::Local { .. } => "LOCAL_KICK",
        }
    }
}

/// `details.operatingEnvironment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OperatingEnvironment {
    /// A person at the till (the default).
    Attended,
    /// A kiosk.
    SemiUnattended,
}

impl OperatingEnvironment {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatingEnvironment::Attended => "ATTENDED",
            OperatingEnvironment::SemiUnattended => "SEMI_UNATTENDED",
        }
    }
}

/// The checked terminal part of a payment or refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminalTarget {
    /// The terminal's TMS ID.
    pub terminal_id: String,
    /// Cloud or local kick.
    pub kick: Kick,
    /// Attended or kiosk.
    pub operating_environment: OperatingEnvironment,
    /// ISO 639-2, upper case.
    pub merchant_language: Option<String>,
}

/// A checked `POST /payment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentOrder {
    /// Above zero, within the limit.
    pub amount: Amount,
    /// Texts and URLs, checked.
    pub texts: OrderTexts,
    /// The terminal.
    pub terminal: TerminalTarget,
}

/// A checked `POST /refund`. The amount is checked against the original payment by [`RefundOrder::amount_for`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundOrder {
    /// The payment to refund.
    pub reference: String,
    /// The partial amount as sent (its decimals depend on the original's currency).
    pub amount: Option<String>,
    /// Texts and URLs, checked.
    pub texts: OrderTexts,
    /// The terminal to refund on; the original's when `None`.
    pub terminal: Option<TerminalTarget>,
}

impl RefundOrder {
    /// The amount to refund of a payment of `original`: the partial amount if one was sent (same currency, at
    /// most the original), else all of it.
    pub fn amount_for(&self, original: Amount) -> Result<Amount, ApiError> {
        let Some(text) = &self.amount else { return Ok(original) };
        let amount = parse_amount(text, original.currency)?;
        if amount.minor_units > original.minor_units {
            return Err(ApiError::invalid_field(
                "amount",
                format!(
                    "amount {} is more than the payment's {} {}: refund at most the amount paid",
                    amount.to_decimal_string(),
                    original.to_decimal_string(),
                    original.currency
                ),
            ));
        }
        Ok(amount)
    }
}

/// Reads and checks a `POST /api/v1/payment` body.
pub fn parse_payment(body: &[u8]) -> Result<PaymentOrder, ApiError> {
    parse_body::<PaymentRequest>(body)?.validate()
}

/// Reads and checks a `POST /api/v1/refund` body.
pub fn parse_refund(body: &[u8]) -> Result<RefundOrder, ApiError> {
    parse_body::<RefundRequest>(body)?.validate()
}

fn check_size(body: &[u8]) -> Result<(), ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            ErrorType::PayloadTooLarge,
            format!("the body is {} bytes; send at most {MAX_BODY_BYTES}", body.len()),
        ));
    }
    Ok(())
}

fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    check_size(body)?;
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| not_json(&e))?;
    // serde reads a struct from an array too (by position); the API takes objects only.
    let is_object = |v: &serde_json::Value| v.is_object();
    if !is_object(&value) {
        return Err(ApiError::new(ErrorType::InvalidRequest, "the body must be a JSON object"));
    }
    if value.get("details").is_some_and(|d| !d.is_null() && !is_object(d)) {
        return Err(ApiError::invalid_field("details", "details must be a JSON object"));
    }
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::new(
                ErrorType::InvalidRequest,
                format!("the body is not of the expected shape: {inner}"),
            )
        } else {
            ApiError::invalid_field(path.clone(), format!("{path}: {inner}"))
        }
    })
}

fn not_json(e: &serde_json::Error) -> ApiError {
    ApiError::new(ErrorType::InvalidRequest, format!("the body is not JSON: {e}"))
}

/// SHA-256 (hex) of `endpoint` and the body in a canonical form (keys sorted, no white space), so that the same
/// request sent twice has the same hash however its JSON is laid out. For idempotency keys.
pub fn canonical_body_hash(endpoint: &str, body: &[u8]) -> Result<String, ApiError> {
    check_size(body)?;
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorType::InvalidRequest, format!("the body is not JSON: {e}")))?;
    let mut text = String::with_capacity(body.len() + endpoint.len() + 1);
    text.push_str(endpoint);
    text.push('\n');
    write_canonical(&value, &mut text);
    Ok(hex_sha256(text.as_bytes()))
}

fn write_canonical(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(item) = map.get(k) {
                    write_canonical(item, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads an amount entered by a client: [`Amount::parse_bounded`] with [`Amount::DEFAULT_MAX_MINOR`].
pub fn parse_amount(text: &str, currency: Currency) -> Result<Amount, ApiError> {
    Amount::parse_bounded(text, currency, Amount::DEFAULT_MAX_MINOR)
        .map_err(|e| ApiError::invalid_field("amount", format!("amount: {e}")))
}

impl PaymentRequest {
    /// Checks the request; the first problem found is returned, naming its field.
    pub fn validate(&self) -> Result<PaymentOrder, ApiError> {
        match self.method.as_deref() {
            Some("terminal") => {}
            Some(other) => {
                return Err(ApiError::invalid_field(
                    "method",
                    format!("method {:?} is not supported: send \"terminal\"", clip(other)),
                ));
            }
            None => return Err(missing("method", "send \"terminal\"")),
        }
        let currency_text =
            self.currency.as_deref().ok_or_else(|| missing("currency", "for example \"EUR\""))?;
        let currency = Currency::new(&currency_text.to_ascii_uppercase()).map_err(|_| {
            ApiError::invalid_field(
                "currency",
                format!(
                    "currency {:?} is not an ISO 4217 code: send three letters such as EUR",
                    clip(currency_text)
                ),
            )
        })?;
        let amount_text =
            self.amount.as_ref().ok_or_else(|| missing("amount", "for example 12.50 or \"12.50\""))?;
        let amount = parse_amount(amount_text.as_str(), currency)?;
        let details = self.details.as_ref().ok_or_else(|| missing("details", "the terminal's details"))?;
        Ok(PaymentOrder {
            amount,
            texts: OrderTexts {
                merchant_order_reference: self.merchant_order_reference.clone(),
                description: self.description.clone(),
                language: self.language.clone(),
                return_url: self.return_url.clone(),
                webhook_url: self.webhook_url.clone(),
            }
            .validate()?,
            terminal: details.validate()?,
        })
    }
}

impl RefundRequest {
    /// Checks the request; the amount's decimals are checked against the original payment later.
    pub fn validate(&self) -> Result<RefundOrder, ApiError> {
        let reference =
            self.reference.as_deref().ok_or_else(|| missing("reference", "the payment to refund"))?;
        if reference.is_empty()
            || reference.len() > MAX_REFERENCE_BYTES
            || !reference.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(ApiError::invalid_field(
                "reference",
                format!("reference {:?} is not a transaction reference (such as TL...)", clip(reference)),
            ));
        }
        let amount = match &self.amount {
            None => None,
            Some(text) => {
                // The syntax and sign now, with the most decimals any currency has (3, KWD); the currency's own
                // decimals and the limit once the original payment is known (`amount_for`).
                let widest = Currency::new("KWD").map_err(|e| ApiError::new(ErrorType::InternalError, e))?;
                Amount::parse_bounded(text.as_str(), widest, u64::MAX)
                    .map_err(|e| ApiError::invalid_field("amount", format!("amount: {e}")))?;
                Some(text.0.clone())
            }
        };
        Ok(RefundOrder {
            reference: reference.to_owned(),
            amount,
            texts: OrderTexts {
                description: self.description.clone(),
                return_url: self.return_url.clone(),
                webhook_url: self.webhook_url.clone(),
                ..OrderTexts::default()
            }
            .validate()?,
            terminal: self.details.as_ref().map(TerminalDetails::validate).transpose()?,
        })
    }
}

impl OrderTexts {
    /// Checks the lengths, characters, languages and URLs.
    pub fn validate(&self) -> Result<OrderTexts, ApiError> {
        Ok(OrderTexts {
            merchant_order_reference: text_field(
                "merchantOrderReference",
                self.merchant_order_reference.as_deref(),
                MAX_ORDER_REFERENCE_CHARS,
            )?,
            description: text_field("description", self.description.as_deref(), MAX_DESCRIPTION_CHARS)?,
            language: language_field("language", self.language.as_deref())?.map(|l| l.to_ascii_lowercase()),
            return_url: url_field("returnUrl", self.return_url.as_deref())?,
            webhook_url: url_field("webhookUrl", self.webhook_url.as_deref())?,
        })
    }
}

impl TerminalDetails {
    /// Checks the terminal part and decides the kick from `managementSystemId`.
    pub fn validate(&self) -> Result<TerminalTarget, ApiError> {
        let terminal_id = self
            .terminal_id
            .as_ref()
            .ok_or_else(|| missing("details.terminalId", "the terminal's TMS ID"))?
            .as_str();
        if !is_tms_id(terminal_id) {
            return Err(ApiError::invalid_field(
                "details.terminalId",
                format!(
                    "details.terminalId {:?} is not a TMS ID: send 1 to {MAX_TMS_ID_LEN} ASCII letters or digits",
                    clip(terminal_id)
                ),
            ));
        }
        let system = self.management_system_id.as_deref().ok_or_else(|| {
            missing(
                "details.managementSystemId",
                "GrundmasterNL or GrundmasterBE (Cloud Connect 2.0), 08900000002 (Cloud Connect 1.0)",
            )
        })?;
        match self.access_protocol.as_deref() {
            Some(ACCESS_PROTOCOL) => {}
            Some(other) => {
                return Err(ApiError::invalid_field(
                    "details.accessProtocol",
                    format!("details.accessProtocol {:?} is not supported: send \"OPI_NL\"", clip(other)),
                ));
            }
            None => return Err(missing("details.accessProtocol", "send \"OPI_NL\"")),
        }
        let kick = match system {
            "GrundmasterNL" => Kick::Cloud { tms: CloudTms::GrundmasterNl },
            "GrundmasterBE" => Kick::Cloud { tms: CloudTms::GrundmasterBe },
            CLOUD_CONNECT_1_SYSTEM_ID => Kick::Local { terminal: self.local_address()? },
            other => {
                return Err(ApiError::invalid_field(
                    "details.managementSystemId",
                    format!(
                        "details.managementSystemId {:?} is unknown: send GrundmasterNL or GrundmasterBE (the TMS \
                         that manages the terminal, Cloud Connect 2.0) or 08900000002 (Cloud Connect 1.0)",
                        clip(other)
                    ),
                ));
            }
        };
        let operating_environment = match self.operating_environment.as_deref() {
            None | Some("ATTENDED") => OperatingEnvironment::Attended,
            Some("SEMI_UNATTENDED") => OperatingEnvironment::SemiUnattended,
            Some(other) => {
                return Err(ApiError::invalid_field(
                    "details.operatingEnvironment",
                    format!(
                        "details.operatingEnvironment {:?} is unknown: send ATTENDED or SEMI_UNATTENDED",
                        clip(other)
                    ),
                ));
            }
        };
        let merchant_language =
            language_field("details.merchantLanguage", self.merchant_language.as_deref())?
                .map(|l| l.to_ascii_uppercase());
        Ok(TerminalTarget {
            terminal_id: terminal_id.to_owned(),
            kick,
            operating_environment,
            merchant_language,
        })
    }

    fn local_address(&self) -> Result<HostPort, ApiError> {
        let ip = self.ip.as_deref().ok_or_else(|| {
            missing(
                "details.ip",
                "Cloud Connect 1.0 (08900000002) kicks the terminal at its address on the shop LAN",
            )
        })?;
        let host_ok = !ip.is_empty()
            && ip.len() <= MAX_HOST_BYTES
            && (HostPort::new(ip, 1).is_literal_ip()
                || ip.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
        if !host_ok {
            return Err(ApiError::invalid_field(
                "details.ip",
                format!("details.ip {:?} is not an IP address or host name", clip(ip)),
            ));
        }
        let port = self.port.as_ref().ok_or_else(|| {
            missing(
                "details.port",
                "Cloud Connect 1.0 (08900000002) needs the terminal's trigger port, usually 4105",
            )
        })?;
        let port = port.as_str().parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
            ApiError::invalid_field(
                "details.port",
                format!("details.port {:?} is not a port number from 1 to 65535", clip(port.as_str())),
            )
        })?;
        Ok(HostPort::new(ip, port))
    }
}

/// `true` when `id` is 1 to [`MAX_TMS_ID_LEN`] ASCII letters or digits (the TAS hand-shake's rule).
pub fn is_tms_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_TMS_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn missing(field: &str, hint: &str) -> ApiError {
    ApiError::invalid_field(field, format!("{field} is missing: {hint}"))
}

/// At most 40 characters of outside text, for messages.
pub(crate) fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().nth(40).is_some() {
        out.push_str("...");
    }
    out
}

fn text_field(field: &str, value: Option<&str>, max_chars: usize) -> Result<Option<String>, ApiError> {
    let Some(v) = value else { return Ok(None) };
    if v.chars().count() > max_chars {
        return Err(ApiError::invalid_field(field, format!("{field} is longer than {max_chars} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(field, format!("{field} contains a control character")));
    }
    Ok(Some(v.to_owned()))
}

fn url_field(field: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(v) = value else { return Ok(None) };
    let rest = v.strip_prefix("https://").or_else(|| v.strip_prefix("http://"));
    let ok = v.len() <= MAX_URL_BYTES
        && rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && v.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(ApiError::invalid_field(
            field,
            format!(
                "{field} {:?} is not an absolute http:// or https:// URL of at most {MAX_URL_BYTES} bytes",
                clip(v)
            ),
        ));
    }
    Ok(Some(v.to_owned()))
}

fn language_field(field: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(v) = value else { return Ok(None) };
    if v.len() != 3 || !v.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} {:?} is not an ISO 639-2 code: send three letters such as eng or NLD", clip(v)),
        ));
    }
    Ok(Some(v.to_owned()))
}
