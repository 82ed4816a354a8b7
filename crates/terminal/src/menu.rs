//! Installer menus and dialogues on the terminal's keypad (R15–R20).
//!
//! The menu tree (numbers are the keys that select an item):
//!
//! ```text
//! MENU → START MENU
//!   1 MANAGER MENU        (password 99999)
//!     1 FUNCTIES
//!       1 BETAALTERMINAL
//!         1 DAGAFSLUITING   day close (R15)
//!         2 DAG OPENEN      reopen a day closed by hand (R19)
//!         3 ACTIVEREN       activate after installation (R19)
//!         4 TOTALEN         day totals
//!   2 SERVICE MENU        (computed service password)
//!     1 FUNCTIES
//!       1 BETAALTERMINAL
//!         1 HARDWARE INSTALLATIE
//!           1 TERM.INSTALLATIE   R16, R17, R18
//!         2 CONTACT TMS        R7, R14
//!     2 TERMINAL
//!       1 CONFIGUREREN
//!         1 OPI INSTELLINGEN
//!           1 POS MODE         R20 (FLAT-OUTGOING shown only with Cloud Connect on in TMS)
//!           2 TRIGGER POORT    R21
//!     3 DIAGNOSE           R23
//! ```
//!
//! STOP goes back one level (from START MENU to the idle screen) and cancels a dialogue without
//! saving; CLEAR deletes the last typed character; a menu left without a key press for the
//! profile's `menu_timeout_ms` returns to the idle screen, nothing saved.
//!
//! `Menus` owns where the keypad is. It reads the rest of the terminal through a `MenuContext`
//! and asks for changes outside it (the configuration, the journal, a payment) with a
//! `MenuEffect` that the [`Terminal`](crate::Terminal) carries out.

use crate::config::{MANAGER_PASSWORD, PosOpiMode, TerminalConfig};
use crate::input::Key;
use crate::journal::DayTotals;
use crate::output::Screen;
use crate::reason::WireReason;
use crate::time::Timestamp;
use crate::tms;

/// A list menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListMenu {
    Start,
    Manager,
    ManagerFunctions,
    ManagerPayTerminal,
    Service,
    ServiceFunctions,
    ServicePayTerminal,
    HardwareInstall,
    ServiceTerminal,
    Configure,
    OpiSettings,
    PosMode,
}

/// What selecting a menu item does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Open(ListMenu),
    Password(PasswordKind),
    DayClose,
    DayOpen,
    Activate,
    Totals,
    TermInstall,
    ContactTms,
    SetPosMode(PosOpiMode),
    TriggerPort,
    Diagnose,
}

/// Which password is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PasswordKind {
    Manager,
    Service,
}

/// A typed-entry field.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Password(PasswordKind),
    TmsId,
    TmsIdAgain { first: String },
    TmsIp { tms_id: String },
    TriggerPort,
}

/// A yes/no question: OK (JA) does it, STOP cancels.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Confirm {
    DayClose,
    Install { tms_id: String, tms_ip: String },
    PosMode(PosOpiMode),
    TriggerPort(u16),
}

/// Where the keypad is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum MenuState {
    Idle,
    List(ListMenu),
    Entry {
        entry: Entry,
        typed: String,
    },
    Confirm(Confirm),
    /// A message; any key goes on to `then`.
    Message {
        screen: Screen,
        then: Box<MenuState>,
    },
}

impl MenuState {
    fn is_idle(&self) -> bool {
        *self == MenuState::Idle
    }

    /// In the installation dialogue (the terminal counts as busy).
    fn is_installing(&self) -> bool {
        matches!(
            self,
            MenuState::Entry { entry: Entry::TmsId | Entry::TmsIdAgain { .. } | Entry::TmsIp { .. }, .. }
                | MenuState::Confirm(Confirm::Install { .. })
        )
    }
}

impl ListMenu {
    fn title(self) -> &'static str {
        match self {
            ListMenu::Start => "START MENU",
            ListMenu::Manager => "MANAGER MENU",
            ListMenu::ManagerFunctions | ListMenu::ServiceFunctions => "FUNCTIES",
            ListMenu::ManagerPayTerminal | ListMenu::ServicePayTerminal => "BETAALTERMINAL",
            ListMenu::Service => "SERVICE MENU",
            ListMenu::HardwareInstall => "HARDWARE INSTALLATIE",
            ListMenu::ServiceTerminal => "TERMINAL",
            ListMenu::Configure => "CONFIGUREREN",
            ListMenu::OpiSettings => "OPI INSTELLINGEN",
            ListMenu::PosMode => "POS MODE",
        }
    }

    fn gloss(self) -> &'static str {
        match self {
            ListMenu::Start => "start menu",
            ListMenu::Manager => "manager menu",
            ListMenu::ManagerFunctions | ListMenu::ServiceFunctions => "functions",
            ListMenu::ManagerPayTerminal | ListMenu::ServicePayTerminal => "payment terminal",
            ListMenu::Service => "service menu",
            ListMenu::HardwareInstall => "hardware installation",
            ListMenu::ServiceTerminal => "terminal",
            ListMenu::Configure => "configure",
            ListMenu::OpiSettings => "OPI settings",
            ListMenu::PosMode => "POS OPI mode",
        }
    }

    fn parent(self) -> MenuState {
        let list = match self {
            ListMenu::Start => return MenuState::Idle,
            ListMenu::Manager | ListMenu::Service => ListMenu::Start,
            ListMenu::ManagerFunctions => ListMenu::Manager,
            ListMenu::ManagerPayTerminal => ListMenu::ManagerFunctions,
            ListMenu::ServiceFunctions | ListMenu::ServiceTerminal => ListMenu::Service,
            ListMenu::ServicePayTerminal => ListMenu::ServiceFunctions,
            ListMenu::HardwareInstall => ListMenu::ServicePayTerminal,
            ListMenu::Configure => ListMenu::ServiceTerminal,
            ListMenu::OpiSettings => ListMenu::Configure,
            ListMenu::PosMode => ListMenu::OpiSettings,
        };
        MenuState::List(list)
    }
}

/// What the menus read of the rest of the terminal for one key press.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MenuContext<'a> {
    pub(crate) now: Timestamp,
    pub(crate) cfg: &'a TerminalConfig,
    /// The MQTT link is up (for the diagnosis).
    pub(crate) mqtt_up: bool,
    /// The totals of the current period.
    pub(crate) totals: &'a DayTotals,
    /// A card transaction is in progress.
    pub(crate) in_transaction: bool,
}

/// A change a menu asks of the rest of the terminal; the menu has already moved on (the screen it
/// shows next was built from the `MenuContext` before the change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MenuEffect {
    /// STOP during a payment: the card holder cancels.
    CancelPayment,
    /// DAG OPENEN (R19).
    OpenDay,
    /// ACTIVEREN (R19).
    Activate,
    /// CONTACT TMS (R7, R14).
    ContactTms,
    /// DAGAFSLUITING confirmed (R15): close the period and the day by hand.
    CloseDay,
    /// POS MODE saved (R20).
    SetPosMode(PosOpiMode),
    /// TRIGGER POORT saved (R21).
    SetTriggerPort(u16),
    /// TERM.INSTALLATIE confirmed (R17–R19).
    Install {
        /// The TMS ID typed (twice).
        tms_id: String,
        /// The TMS IP address typed, or the default.
        tms_ip: String,
    },
}

/// The installer menus and dialogues: where the keypad is and when the menu times out.
#[derive(Debug, Clone)]
pub(crate) struct Menus {
    state: MenuState,
    deadline: Option<Timestamp>,
}

type Step = (MenuState, Option<MenuEffect>);

impl Menus {
    pub(crate) fn new() -> Menus {
        Menus { state: MenuState::Idle, deadline: None }
    }

    /// No menu is open (the idle or the transaction screen shows).
    pub(crate) fn is_idle(&self) -> bool {
        self.state.is_idle()
    }

    /// In the installation dialogue (the terminal counts as busy).
    pub(crate) fn is_installing(&self) -> bool {
        self.state.is_installing()
    }

    /// When the open menu times out.
    pub(crate) fn deadline(&self) -> Option<Timestamp> {
        self.deadline
    }

    /// Back to the idle screen, nothing saved: the menu time-out and the power going off.
    pub(crate) fn close(&mut self) {
        // Nothing half-saved: every change is applied only on the final OK.
        self.state = MenuState::Idle;
        self.deadline = None;
    }

    /// A key press; the change it asks of the rest of the terminal, if any.
    pub(crate) fn key(&mut self, cx: &MenuContext<'_>, key: Key) -> Option<MenuEffect> {
        if self.state.is_idle() {
            if cx.in_transaction {
                // The keypad belongs to the card holder during a payment; STOP is a cancel.
                return (key == Key::Stop).then_some(MenuEffect::CancelPayment);
            }
            if key == Key::Menu {
                self.set(cx, MenuState::List(ListMenu::Start));
            }
            return None;
        }
        let state = std::mem::replace(&mut self.state, MenuState::Idle);
        let (next, effect) = match state {
            MenuState::Idle => (MenuState::Idle, None),
            MenuState::Message { then, .. } => (*then, None),
            MenuState::List(m) => list_key(cx, m, key),
            MenuState::Entry { entry, typed } => (entry_key(cx, entry, typed, key), None),
            MenuState::Confirm(c) => confirm_key(cx, c, key),
        };
        self.set(cx, next);
        effect
    }

    fn set(&mut self, cx: &MenuContext<'_>, m: MenuState) {
        self.deadline =
            if m.is_idle() { None } else { Some(cx.now.plus_millis(cx.cfg.profile.menu_timeout_ms)) };
        self.state = m;
    }

    /// The screen of the open menu.
    pub(crate) fn screen(&self, cfg: &TerminalConfig) -> Screen {
        match &self.state {
            MenuState::Idle => Screen::default(),
            MenuState::Message { screen, .. } => screen.clone(),
            MenuState::List(m) => {
                let mut lines = vec![m.title().to_owned()];
                lines.extend(
                    items(cfg, *m).iter().enumerate().map(|(i, (label, _))| format!("{} {}", i + 1, label)),
                );
                Screen { lines, gloss: m.gloss().to_owned() }
            }
            MenuState::Entry { entry, typed } => {
                let (title, gloss, shown) = match entry {
                    Entry::Password(PasswordKind::Manager) => {
                        ("MANAGER WACHTWOORD", "manager password", "*".repeat(typed.len()))
                    }
                    Entry::Password(PasswordKind::Service) => {
                        ("SERVICE WACHTWOORD", "service password", "*".repeat(typed.len()))
                    }
                    Entry::TmsId => ("TMS ID", "enter the TMS ID", typed.clone()),
                    Entry::TmsIdAgain { .. } => ("TMS ID NOGMAALS", "enter the TMS ID again", typed.clone()),
                    Entry::TmsIp { .. } => {
                        let shown =
                            if typed.is_empty() { cfg.network.tms_address.clone() } else { typed.clone() };
                        ("TMS IP ADRES", "TMS IP address (OK keeps the default)", shown)
                    }
                    Entry::TriggerPort => ("TRIGGER POORT", "OPI trigger port (0 = off)", typed.clone()),
                };
                Screen::new([title.to_owned(), format!("{shown}_")], gloss)
            }
            MenuState::Confirm(c) => match c {
                Confirm::DayClose => Screen::new(["DAGAFSLUITING?", "JA = OK"], "close the day? OK = yes"),
                Confirm::Install { tms_id, tms_ip } => Screen::new(
                    [
                        "TERM.INSTALLATIE".to_owned(),
                        format!("TMS ID {tms_id}"),
                        format!("TMS {tms_ip}"),
                        "JA = OK".to_owned(),
                    ],
                    "start the installation? OK = yes",
                ),
                Confirm::PosMode(m) => Screen::new(
                    ["POS MODE".to_owned(), m.as_str().to_owned(), "OPSLAAN? JA = OK".to_owned()],
                    "save this POS mode? OK = yes",
                ),
                Confirm::TriggerPort(p) => Screen::new(
                    ["TRIGGER POORT".to_owned(), p.to_string(), "OPSLAAN? JA = OK".to_owned()],
                    "save this trigger port? OK = yes",
                ),
            },
        }
    }
}

/// The visible items of a list menu (hidden ones left out, R20).
fn items(cfg: &TerminalConfig, m: ListMenu) -> Vec<(&'static str, Action)> {
    match m {
        ListMenu::Start => vec![
            ("MANAGER MENU", Action::Password(PasswordKind::Manager)),
            ("SERVICE MENU", Action::Password(PasswordKind::Service)),
        ],
        ListMenu::Manager => vec![("FUNCTIES", Action::Open(ListMenu::ManagerFunctions))],
        ListMenu::ManagerFunctions => {
            vec![("BETAALTERMINAL", Action::Open(ListMenu::ManagerPayTerminal))]
        }
        ListMenu::ManagerPayTerminal => vec![
            ("DAGAFSLUITING", Action::DayClose),
            ("DAG OPENEN", Action::DayOpen),
            ("ACTIVEREN", Action::Activate),
            ("TOTALEN", Action::Totals),
        ],
        ListMenu::Service => vec![
            ("FUNCTIES", Action::Open(ListMenu::ServiceFunctions)),
            ("TERMINAL", Action::Open(ListMenu::ServiceTerminal)),
            ("DIAGNOSE", Action::Diagnose),
        ],
        ListMenu::ServiceFunctions => {
            vec![("BETAALTERMINAL", Action::Open(ListMenu::ServicePayTerminal))]
        }
        ListMenu::ServicePayTerminal => vec![
            ("HARDWARE INSTALLATIE", Action::Open(ListMenu::HardwareInstall)),
            ("CONTACT TMS", Action::ContactTms),
        ],
        ListMenu::HardwareInstall => vec![("TERM.INSTALLATIE", Action::TermInstall)],
        ListMenu::ServiceTerminal => vec![("CONFIGUREREN", Action::Open(ListMenu::Configure))],
        ListMenu::Configure => vec![("OPI INSTELLINGEN", Action::Open(ListMenu::OpiSettings))],
        ListMenu::OpiSettings => {
            vec![("POS MODE", Action::Open(ListMenu::PosMode)), ("TRIGGER POORT", Action::TriggerPort)]
        }
        ListMenu::PosMode => {
            let mut v = vec![("DEFAULT ITS", Action::SetPosMode(PosOpiMode::DefaultIts))];
            // R20: the FLAT-OUTGOING option is shown only when Cloud Connect is on in TMS.
            if cfg.tms.cloud_connection {
                v.push(("TCP FLAT-OUTGOING", Action::SetPosMode(PosOpiMode::TcpFlatOutgoing)));
            }
            v
        }
    }
}

fn message(lines: &[&str], gloss: &str, then: MenuState) -> MenuState {
    MenuState::Message { screen: Screen::new(lines.iter().copied(), gloss), then: Box::new(then) }
}

fn list_key(cx: &MenuContext<'_>, m: ListMenu, key: Key) -> Step {
    match key {
        Key::Stop | Key::Clear => (m.parent(), None),
        Key::Digit(d) => {
            let items = items(cx.cfg, m);
            match usize::from(d).checked_sub(1).and_then(|i| items.get(i)) {
                Some((_, action)) => select(cx, m, *action),
                None => (MenuState::List(m), None),
            }
        }
        _ => (MenuState::List(m), None),
    }
}

fn select(cx: &MenuContext<'_>, from: ListMenu, action: Action) -> Step {
    let back = MenuState::List(from);
    let next = match action {
        Action::Open(m) => MenuState::List(m),
        Action::Password(kind) => MenuState::Entry { entry: Entry::Password(kind), typed: String::new() },
        Action::DayClose => MenuState::Confirm(Confirm::DayClose),
        Action::DayOpen => return (message(&["DAG GEOPEND"], "day opened", back), Some(MenuEffect::OpenDay)),
        Action::Activate => {
            let m = message(&["TERMINAL GEACTIVEERD"], "terminal activated", back);
            return (m, Some(MenuEffect::Activate));
        }
        Action::Totals => {
            let t = cx.totals;
            let lines = [
                "TOTALEN".to_owned(),
                format!("PERIODE {}", t.period),
                format!("NETTO {}", money(t.net_minor, &cx.cfg.profile.currency)),
            ];
            MenuState::Message { screen: Screen::new(lines, "day totals"), then: Box::new(back) }
        }
        Action::TermInstall => {
            if !cx.cfg.day.is_open() && !cx.in_transaction {
                MenuState::Entry { entry: Entry::TmsId, typed: String::new() }
            } else {
                // R16: a hardware installation needs the day closed first.
                message(
                    &["DAG NIET AFGESLOTEN", "EERST DAGAFSLUITING"],
                    "day not closed: close the day first (R16)",
                    back,
                )
            }
        }
        Action::ContactTms => {
            let m = message(&["CONTACT TMS", "GEREED"], "TMS contacted (parameters not installed)", back);
            return (m, Some(MenuEffect::ContactTms));
        }
        Action::SetPosMode(mode) => MenuState::Confirm(Confirm::PosMode(mode)),
        Action::TriggerPort => MenuState::Entry { entry: Entry::TriggerPort, typed: String::new() },
        Action::Diagnose => {
            let d = tms::diagnosis(cx.cfg, cx.mqtt_up);
            let mut lines = vec!["DIAGNOSE".to_owned()];
            if d.is_empty() {
                lines.push("GEEN PROBLEMEN".to_owned());
            } else {
                lines.extend(d.iter().map(|r| r.as_str().to_uppercase()));
            }
            MenuState::Message { screen: Screen::new(lines, "diagnosis (R23)"), then: Box::new(back) }
        }
    };
    (next, None)
}

fn entry_key(cx: &MenuContext<'_>, entry: Entry, mut typed: String, key: Key) -> MenuState {
    let max = match entry {
        Entry::Password(_) => 10,
        Entry::TmsId | Entry::TmsIdAgain { .. } => 16,
        Entry::TmsIp { .. } => 15,
        Entry::TriggerPort => 5,
    };
    match key {
        Key::Digit(d) if typed.len() < max => typed.push(char::from(b'0' + d.min(9))),
        Key::Dot if matches!(entry, Entry::TmsIp { .. }) && typed.len() < max => typed.push('.'),
        Key::Clear => {
            typed.pop();
        }
        Key::Stop => return entry_cancel(&entry),
        Key::Ok => return entry_ok(cx, entry, typed),
        _ => {}
    }
    MenuState::Entry { entry, typed }
}

fn entry_cancel(entry: &Entry) -> MenuState {
    match entry {
        Entry::Password(_) => MenuState::List(ListMenu::Start),
        Entry::TmsId | Entry::TmsIdAgain { .. } | Entry::TmsIp { .. } => message(
            &["INSTALLATIE AFGEBROKEN"],
            "installation cancelled, nothing changed",
            MenuState::List(ListMenu::HardwareInstall),
        ),
        Entry::TriggerPort => MenuState::List(ListMenu::OpiSettings),
    }
}

fn entry_ok(cx: &MenuContext<'_>, entry: Entry, typed: String) -> MenuState {
    match entry {
        Entry::Password(kind) => {
            let ok = match kind {
                PasswordKind::Manager => typed == MANAGER_PASSWORD,
                PasswordKind::Service => {
                    typed == crate::password::service_password_local(&cx.cfg.identity.tms_id, cx.now)
                }
            };
            match (ok, kind) {
                (true, PasswordKind::Manager) => MenuState::List(ListMenu::Manager),
                (true, PasswordKind::Service) => MenuState::List(ListMenu::Service),
                (false, _) => {
                    message(&["WACHTWOORD ONJUIST"], "wrong password", MenuState::List(ListMenu::Start))
                }
            }
        }
        Entry::TmsId => {
            if typed.is_empty() {
                return MenuState::Entry { entry: Entry::TmsId, typed };
            }
            MenuState::Entry { entry: Entry::TmsIdAgain { first: typed }, typed: String::new() }
        }
        Entry::TmsIdAgain { first } => {
            if typed == first {
                MenuState::Entry { entry: Entry::TmsIp { tms_id: first }, typed: String::new() }
            } else {
                message(
                    &["TMS ID ONGELIJK", "OPNIEUW INVOEREN"],
                    "the two TMS IDs differ: enter it again",
                    MenuState::Entry { entry: Entry::TmsId, typed: String::new() },
                )
            }
        }
        Entry::TmsIp { tms_id } => {
            let tms_ip = if typed.is_empty() { cx.cfg.network.tms_address.clone() } else { typed.clone() };
            if typed.is_empty() || typed.parse::<core::net::Ipv4Addr>().is_ok() {
                MenuState::Confirm(Confirm::Install { tms_id, tms_ip })
            } else {
                message(
                    &["ONGELDIG IP ADRES"],
                    "invalid IP address: enter it again, or OK for the default",
                    MenuState::Entry { entry: Entry::TmsIp { tms_id }, typed: String::new() },
                )
            }
        }
        Entry::TriggerPort => match typed.parse::<u16>() {
            Ok(p) => MenuState::Confirm(Confirm::TriggerPort(p)),
            Err(_) => message(
                &["ONGELDIGE POORT"],
                "invalid port: 0 to 65535",
                MenuState::Entry { entry: Entry::TriggerPort, typed: String::new() },
            ),
        },
    }
}

fn confirm_key(cx: &MenuContext<'_>, c: Confirm, key: Key) -> Step {
    match key {
        Key::Ok => confirm_ok(cx, c),
        Key::Stop => {
            let next = match c {
                Confirm::DayClose => MenuState::List(ListMenu::ManagerPayTerminal),
                Confirm::Install { .. } => message(
                    &["INSTALLATIE AFGEBROKEN"],
                    "installation cancelled, nothing changed",
                    MenuState::List(ListMenu::HardwareInstall),
                ),
                Confirm::PosMode(_) => MenuState::List(ListMenu::PosMode),
                Confirm::TriggerPort(_) => MenuState::List(ListMenu::OpiSettings),
            };
            (next, None)
        }
        _ => (MenuState::Confirm(c), None),
    }
}

fn confirm_ok(cx: &MenuContext<'_>, c: Confirm) -> Step {
    match c {
        Confirm::DayClose => {
            if cx.in_transaction {
                let m = message(
                    &["TRANSACTIE BEZIG"],
                    "a transaction is in progress",
                    MenuState::List(ListMenu::ManagerPayTerminal),
                );
                return (m, None);
            }
            // The totals shown are those of the period the effect closes.
            let totals = cx.totals;
            let lines = [
                "DAG AFGESLOTEN".to_owned(),
                format!("PERIODE {}", totals.period),
                format!("NETTO {}", money(totals.net_minor, &cx.cfg.profile.currency)),
            ];
            let m = MenuState::Message {
                screen: Screen::new(lines, "day closed (R15), period totals shown"),
                then: Box::new(MenuState::List(ListMenu::ManagerPayTerminal)),
            };
            (m, Some(MenuEffect::CloseDay))
        }
        Confirm::PosMode(mode) => {
            let m = message(&["OPGESLAGEN", mode.as_str()], "saved", MenuState::List(ListMenu::OpiSettings));
            (m, Some(MenuEffect::SetPosMode(mode)))
        }
        Confirm::TriggerPort(p) => {
            let line = format!("TRIGGER POORT {p}");
            let m = MenuState::Message {
                screen: Screen::new(["OPGESLAGEN".to_owned(), line], "saved"),
                then: Box::new(MenuState::List(ListMenu::OpiSettings)),
            };
            (m, Some(MenuEffect::SetTriggerPort(p)))
        }
        Confirm::Install { tms_id, tms_ip } => {
            (installed_screens(cx.cfg, &tms_id), Some(MenuEffect::Install { tms_id, tms_ip }))
        }
    }
}

/// The messages after a hardware installation with `tms_id` (built from the configuration before
/// it): the software difference, if any (R18), then the merchant data to check.
fn installed_screens(cfg: &TerminalConfig, tms_id: &str) -> MenuState {
    let mut notes: Vec<Screen> = Vec::new();
    if let Some(change) = tms::software_change(cfg) {
        let (last, gloss) = if change.is_upgrade() {
            ("WORDT BIJGEWERKT", "software version differs: upgrading (R18)")
        } else {
            ("DOWNGRADE GEWEIGERD", "older software refused, current version kept (R18)")
        };
        notes.push(Screen::new(
            ["SOFTWARE VERSCHIL".to_owned(), format!("{} -> {}", change.from, change.to), last.to_owned()],
            gloss,
        ));
    }
    let id = &cfg.identity;
    let popup = Screen::new(
        [
            "CONTROLEER GEGEVENS".to_owned(),
            id.merchant_name.clone(),
            format!("MERCHANT {}", id.merchant_number),
            format!("TMS ID {tms_id}"),
            id.merchant_city.clone(),
        ],
        "installation done: check the merchant data, OK to continue",
    );
    let mut next = MenuState::Message { screen: popup, then: Box::new(MenuState::Idle) };
    for n in notes.into_iter().rev() {
        next = MenuState::Message { screen: n, then: Box::new(next) };
    }
    next
}

/// `12.34 EUR` from signed minor units, with the currency's decimals (`1234 JPY`, `1.234 KWD`).
pub(crate) fn money(minor: i128, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let units = u64::try_from(minor.unsigned_abs()).unwrap_or(u64::MAX);
    let currency = ccv_opi::Currency::new(currency).unwrap_or(ccv_opi::Currency::EUR);
    crate::text::amount_text(sign, ccv_opi::Amount::new(units, currency), "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_uses_the_currencys_decimals() {
        assert_eq!(money(1234, "EUR"), "12.34 EUR");
        assert_eq!(money(-5, "EUR"), "-0.05 EUR");
        assert_eq!(money(1234, "JPY"), "1234 JPY");
        assert_eq!(money(1234, "KWD"), "1.234 KWD");
    }
}
