//! The CCV terminal core: a deterministic, sans-IO state machine of a CCV payment terminal with
//! Cloud Connect 1.0 (local kick) and 2.0 (cloud kick over MQTT).
//!
//! **What it does.** It holds the terminal's state (identity, software version, the TMS parameters
//! as TMS holds them and as installed, POS OPI mode, trigger port, network settings, day state,
//! activation, the MQTT and TAS links), decides kicks (rules R1–R21 of the mission), runs the
//! installer menus and dialogues on the keypad (R15–R20, with the computed service password),
//! diagnoses the R23 checklist, and plays the terminal's OPI role: card payments, refunds,
//! reversals, aborts, login/logoff, reconciliation and diagnosis, with device requests, receipts
//! and a journal. Outcomes are deterministic: test cards and a table of magic amounts.
//!
//! **What it does not do.** No sockets, no DNS, no TLS, no files, no clock, no threads, no
//! logging: time and every outside event come in as an [`Input`] with a [`Timestamp`]; everything
//! the terminal wants done comes out as an [`Output`] for an IO shell (`ccv-terminal-io`) to
//! execute. It does not encode OPI XML (that is `ccv-opi`).
//!
//! The drive loop:
//!
//! ```
//! use ccv_terminal::{Input, LocalKick, Output, Terminal, TerminalConfig, Timestamp};
//!
//! let mut t = Terminal::new(TerminalConfig::default(), 7);
//! let now = Timestamp::from_secs(1_795_879_800);
//! t.handle_input(now, Input::LocalKick(LocalKick { source: "pos".into(), port: 4105, reference: None, tas: None }));
//! let mut dialled = false;
//! while let Some(out) = t.poll_output() {
//!     if let Output::DialTas(d) = out {
//!         assert_eq!(d.tas.to_string(), "TAS.JFORCE.BE:5555");
//!         dialled = true;
//!     }
//! }
//! assert!(dialled);
//! let _next_timer = t.poll_timeout();
//! ```
//!
//! Layout (the parts own their state; [`Terminal`] routes inputs to them and hands each what it
//! reads of the others, so no part reaches into another):
//! - [`terminal`]: [`Terminal`], the coordinator: the drive loop, the configuration, power, timers,
//!   the screen, the MQTT settings wanted
//! - `links`: the MQTT and TAS links ([`MqttLink`], [`TasLink`]) and the kicks
//! - `tms`: TMS sync (R14), the hardware installation, the R23 diagnosis
//! - [`menu`]: the installer menu tree and dialogues
//! - [`payment`]: the payment engine (session, journal, counters); [`cards`]: test cards and magic amounts
//! - `outbox`: the queue of outputs the parts write to
//! - [`input`] / [`output`]: the closed input and output enums
//! - [`config`]: [`TerminalConfig`] and its parts (serde, loadable from TOML)
//! - [`journal`]: journal entries and day totals
//! - [`reason`]: kick refusals, link-down reasons, diagnosis reasons
//! - [`password`]: the computed service password; [`version`]: software versions;
//!   [`time`]: [`Timestamp`], civil dates and the local time (Europe/Amsterdam)
//! - [`fuzz`]: the body of the `terminal_inputs` fuzz target

pub mod cards;
pub mod config;
pub mod fuzz;
pub mod input;
pub mod journal;
mod links;
pub mod menu;
mod outbox;
pub mod output;
pub mod password;
pub mod payment;
mod random;
pub mod reason;
pub mod terminal;
mod text;
pub mod time;
mod tms;
pub mod version;

pub use cards::{MagicOutcome, TEST_PIN, TestCard};
pub use config::{
    DayState, HostPort, Identity, ManagingTms, MigrationState, NetworkSettings, Parameters, PosOpiMode,
    Profile, SignatureAlgorithm, TerminalConfig,
};
pub use input::{
    CardEvent, Channel, CloudCommand, CloudKick, Input, Key, LocalKick, MqttEvent, TasEvent, TmsChange,
};
pub use journal::{DayTotals, JournalEntry, JournalOutcome, TransactionKind};
pub use output::{DialTas, Event, KickKind, KickReply, MqttSettings, Output, Screen};
pub use password::{service_password, service_password_at, service_password_local};
pub use payment::Memory;
pub use reason::{DiagnosisReason, KickRefusal, MqttDownReason, TasDialFailure, WireReason};
pub use terminal::{MqttLink, NonVolatile, TasLink, Terminal};
pub use time::{CivilDate, Timestamp};
pub use version::SoftwareVersion;
