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

use crate::config::{DayState, MANAGER_PASSWORD, PosOpiMode};
use crate::input::Key;
use crate::output::{Event, Screen};
use crate::reason::WireReason;
use crate::terminal::Terminal;

/// A list menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListMenu {
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
pub(crate) enum PasswordKind {
    Manager,
    Service,
}

/// A typed-entry field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    Password(PasswordKind),
    TmsId,
    TmsIdAgain { first: String },
    TmsIp { tms_id: String },
    TriggerPort,
}

/// A yes/no question: OK (JA) does it, STOP cancels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Confirm {
    DayClose,
    Install { tms_id: String, tms_ip: String },
    PosMode(PosOpiMode),
    TriggerPort(u16),
}

/// Where the keypad is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MenuState {
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
    pub(crate) fn is_idle(&self) -> bool {
        *self == MenuState::Idle
    }

    /// In the installation dialogue (the terminal counts as busy).
    pub(crate) fn is_installing(&self) -> bool {
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

impl Terminal {
    /// The visible items of a list menu (hidden ones left out, R20).
    fn items(&self, m: ListMenu) -> Vec<(&'static str, Action)> {
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
                if self.cfg.tms.cloud_connection {
                    v.push(("TCP FLAT-OUTGOING", Action::SetPosMode(PosOpiMode::TcpFlatOutgoing)));
                }
                v
            }
        }
    }

    pub(crate) fn handle_key(&mut self, key: Key) {
        if self.menu.is_idle() {
            if self.session.is_some() {
                // The keypad belongs to the card holder during a payment; STOP is a cancel.
                if key == Key::Stop {
                    self.handle_card(crate::input::CardEvent::CustomerCancel);
                }
                return;
            }
            if key == Key::Menu {
                self.set_menu(MenuState::List(ListMenu::Start));
            }
            return;
        }
        let state = std::mem::replace(&mut self.menu, MenuState::Idle);
        let next = match state {
            MenuState::Idle => MenuState::Idle,
            MenuState::Message { then, .. } => *then,
            MenuState::List(m) => self.list_key(m, key),
            MenuState::Entry { entry, typed } => self.entry_key(entry, typed, key),
            MenuState::Confirm(c) => self.confirm_key(c, key),
        };
        self.set_menu(next);
    }

    fn set_menu(&mut self, m: MenuState) {
        self.menu_deadline =
            if m.is_idle() { None } else { Some(self.now.plus_millis(self.cfg.profile.menu_timeout_ms)) };
        self.menu = m;
    }

    pub(crate) fn menu_timeout(&mut self) {
        // Nothing half-saved: every change is applied only on the final OK.
        self.set_menu(MenuState::Idle);
    }

    fn message(lines: &[&str], gloss: &str, then: MenuState) -> MenuState {
        MenuState::Message { screen: Screen::new(lines.iter().copied(), gloss), then: Box::new(then) }
    }

    fn list_key(&mut self, m: ListMenu, key: Key) -> MenuState {
        match key {
            Key::Stop | Key::Clear => m.parent(),
            Key::Digit(d) => {
                let items = self.items(m);
                match usize::from(d).checked_sub(1).and_then(|i| items.get(i)) {
                    Some((_, action)) => self.select(m, *action),
                    None => MenuState::List(m),
                }
            }
            _ => MenuState::List(m),
        }
    }

    fn select(&mut self, from: ListMenu, action: Action) -> MenuState {
        let back = MenuState::List(from);
        match action {
            Action::Open(m) => MenuState::List(m),
            Action::Password(kind) => MenuState::Entry { entry: Entry::Password(kind), typed: String::new() },
            Action::DayClose => MenuState::Confirm(Confirm::DayClose),
            Action::DayOpen => {
                self.cfg.day = DayState::Open;
                Self::message(&["DAG GEOPEND"], "day opened", back)
            }
            Action::Activate => {
                self.cfg.activated = true;
                Self::message(&["TERMINAL GEACTIVEERD"], "terminal activated", back)
            }
            Action::Totals => {
                let t = self.journal.totals();
                let lines = [
                    "TOTALEN".to_owned(),
                    format!("PERIODE {}", t.period),
                    format!("NETTO {}", money(t.net_minor, &self.cfg.profile.currency)),
                ];
                MenuState::Message { screen: Screen::new(lines, "day totals"), then: Box::new(back) }
            }
            Action::TermInstall => {
                if !self.cfg.day.is_open() && self.session.is_none() {
                    MenuState::Entry { entry: Entry::TmsId, typed: String::new() }
                } else {
                    // R16: a hardware installation needs the day closed first.
                    Self::message(
                        &["DAG NIET AFGESLOTEN", "EERST DAGAFSLUITING"],
                        "day not closed: close the day first (R16)",
                        back,
                    )
                }
            }
            Action::ContactTms => {
                self.contact_tms();
                Self::message(&["CONTACT TMS", "GEREED"], "TMS contacted (parameters not installed)", back)
            }
            Action::SetPosMode(mode) => MenuState::Confirm(Confirm::PosMode(mode)),
            Action::TriggerPort => MenuState::Entry { entry: Entry::TriggerPort, typed: String::new() },
            Action::Diagnose => {
                let d = self.diagnosis();
                let mut lines = vec!["DIAGNOSE".to_owned()];
                if d.is_empty() {
                    lines.push("GEEN PROBLEMEN".to_owned());
                } else {
                    lines.extend(d.iter().map(|r| r.as_str().to_uppercase()));
                }
                MenuState::Message { screen: Screen::new(lines, "diagnosis (R23)"), then: Box::new(back) }
            }
        }
    }

    fn entry_key(&mut self, entry: Entry, mut typed: String, key: Key) -> MenuState {
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
            Key::Stop => return self.entry_cancel(&entry),
            Key::Ok => return self.entry_ok(entry, typed),
            _ => {}
        }
        MenuState::Entry { entry, typed }
    }

    fn entry_cancel(&self, entry: &Entry) -> MenuState {
        match entry {
            Entry::Password(_) => MenuState::List(ListMenu::Start),
            Entry::TmsId | Entry::TmsIdAgain { .. } | Entry::TmsIp { .. } => Self::message(
                &["INSTALLATIE AFGEBROKEN"],
                "installation cancelled, nothing changed",
                MenuState::List(ListMenu::HardwareInstall),
            ),
            Entry::TriggerPort => MenuState::List(ListMenu::OpiSettings),
        }
    }

    fn entry_ok(&mut self, entry: Entry, typed: String) -> MenuState {
        match entry {
            Entry::Password(kind) => {
                let ok = match kind {
                    PasswordKind::Manager => typed == MANAGER_PASSWORD,
                    PasswordKind::Service => typed == self.service_password(self.now),
                };
                match (ok, kind) {
                    (true, PasswordKind::Manager) => MenuState::List(ListMenu::Manager),
                    (true, PasswordKind::Service) => MenuState::List(ListMenu::Service),
                    (false, _) => Self::message(
                        &["WACHTWOORD ONJUIST"],
                        "wrong password",
                        MenuState::List(ListMenu::Start),
                    ),
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
                    Self::message(
                        &["TMS ID ONGELIJK", "OPNIEUW INVOEREN"],
                        "the two TMS IDs differ: enter it again",
                        MenuState::Entry { entry: Entry::TmsId, typed: String::new() },
                    )
                }
            }
            Entry::TmsIp { tms_id } => {
                let tms_ip =
                    if typed.is_empty() { self.cfg.network.tms_address.clone() } else { typed.clone() };
                if typed.is_empty() || typed.parse::<core::net::Ipv4Addr>().is_ok() {
                    MenuState::Confirm(Confirm::Install { tms_id, tms_ip })
                } else {
                    Self::message(
                        &["ONGELDIG IP ADRES"],
                        "invalid IP address: enter it again, or OK for the default",
                        MenuState::Entry { entry: Entry::TmsIp { tms_id }, typed: String::new() },
                    )
                }
            }
            Entry::TriggerPort => match typed.parse::<u16>() {
                Ok(p) => MenuState::Confirm(Confirm::TriggerPort(p)),
                Err(_) => Self::message(
                    &["ONGELDIGE POORT"],
                    "invalid port: 0 to 65535",
                    MenuState::Entry { entry: Entry::TriggerPort, typed: String::new() },
                ),
            },
        }
    }

    fn confirm_key(&mut self, c: Confirm, key: Key) -> MenuState {
        match key {
            Key::Ok => self.confirm_ok(c),
            Key::Stop => match c {
                Confirm::DayClose => MenuState::List(ListMenu::ManagerPayTerminal),
                Confirm::Install { .. } => Self::message(
                    &["INSTALLATIE AFGEBROKEN"],
                    "installation cancelled, nothing changed",
                    MenuState::List(ListMenu::HardwareInstall),
                ),
                Confirm::PosMode(_) => MenuState::List(ListMenu::PosMode),
                Confirm::TriggerPort(_) => MenuState::List(ListMenu::OpiSettings),
            },
            _ => MenuState::Confirm(c),
        }
    }

    fn confirm_ok(&mut self, c: Confirm) -> MenuState {
        match c {
            Confirm::DayClose => {
                if self.session.is_some() {
                    return Self::message(
                        &["TRANSACTIE BEZIG"],
                        "a transaction is in progress",
                        MenuState::List(ListMenu::ManagerPayTerminal),
                    );
                }
                let totals = self.journal.close_period();
                self.cfg.day = DayState::ClosedByHand;
                self.publish(Event::DayClosed { by_hand: true });
                let lines = [
                    "DAG AFGESLOTEN".to_owned(),
                    format!("PERIODE {}", totals.period),
                    format!("NETTO {}", money(totals.net_minor, &self.cfg.profile.currency)),
                ];
                MenuState::Message {
                    screen: Screen::new(lines, "day closed (R15), period totals shown"),
                    then: Box::new(MenuState::List(ListMenu::ManagerPayTerminal)),
                }
            }
            Confirm::PosMode(mode) => {
                self.cfg.pos_opi_mode = mode;
                Self::message(&["OPGESLAGEN", mode.as_str()], "saved", MenuState::List(ListMenu::OpiSettings))
            }
            Confirm::TriggerPort(p) => {
                self.cfg.trigger_port = p;
                let line = format!("TRIGGER POORT {p}");
                MenuState::Message {
                    screen: Screen::new(["OPGESLAGEN".to_owned(), line], "saved"),
                    then: Box::new(MenuState::List(ListMenu::OpiSettings)),
                }
            }
            Confirm::Install { tms_id, tms_ip } => self.install(tms_id, tms_ip),
        }
    }

    /// The hardware installation itself (R17, R18, R19, R7, R14).
    fn install(&mut self, tms_id: String, tms_ip: String) -> MenuState {
        let mut notes: Vec<Screen> = Vec::new();
        // R18: a software difference warns; a downgrade is refused.
        if let Some(target) = self.cfg.tms.software_target.clone()
            && target != self.cfg.software
        {
            if target > self.cfg.software {
                notes.push(Screen::new(
                    [
                        "SOFTWARE VERSCHIL".to_owned(),
                        format!("{} -> {}", self.cfg.software, target),
                        "WORDT BIJGEWERKT".to_owned(),
                    ],
                    "software version differs: upgrading (R18)",
                ));
                self.cfg.software = target;
            } else {
                notes.push(Screen::new(
                    [
                        "SOFTWARE VERSCHIL".to_owned(),
                        format!("{} -> {}", self.cfg.software, target),
                        "DOWNGRADE GEWEIGERD".to_owned(),
                    ],
                    "older software refused, current version kept (R18)",
                ));
            }
        }
        self.cfg.identity.tms_id = tms_id.clone();
        self.cfg.network.tms_address = tms_ip;
        self.cfg.installed = self.cfg.tms.clone();
        self.enforce_r14();
        // R19: after installation the terminal must be activated again.
        self.cfg.activated = false;
        self.evaluate_mqtt();
        self.publish(Event::InstallationComplete {
            tms_id: tms_id.clone(),
            software: self.cfg.software.to_string(),
        });
        let id = &self.cfg.identity;
        let popup = Screen::new(
            [
                "CONTROLEER GEGEVENS".to_owned(),
                id.merchant_name.clone(),
                format!("MERCHANT {}", id.merchant_number),
                format!("TMS ID {}", id.tms_id),
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

    pub(crate) fn menu_screen(&self) -> Screen {
        match &self.menu {
            MenuState::Idle => Screen::default(),
            MenuState::Message { screen, .. } => screen.clone(),
            MenuState::List(m) => {
                let mut lines = vec![m.title().to_owned()];
                lines.extend(
                    self.items(*m).iter().enumerate().map(|(i, (label, _))| format!("{} {}", i + 1, label)),
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
                        let shown = if typed.is_empty() {
                            self.cfg.network.tms_address.clone()
                        } else {
                            typed.clone()
                        };
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

/// `12.34 EUR` from signed minor units (two decimals).
pub(crate) fn money(minor: i128, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let v = minor.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", v / 100, v % 100)
}
