//! The shared broker state: sessions keyed by client id, the subscription index, and routing of
//! PUBLISH packets to connected sessions (or to the queue of a persistent session that is offline).
//!
//! One `std::sync::Mutex` guards it; no `.await` happens while it is held, and every send to a
//! connection is a non-blocking `try_send`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::Publish;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::model::{EndpointEvent, Limits, Reason};
use crate::topics;

/// Lets the broker close a connection from outside and say why.
#[derive(Debug, Default)]
pub(crate) struct Kicker {
    pub(crate) token: CancellationToken,
    reason: Mutex<Option<Reason>>,
}

impl Kicker {
    pub(crate) fn kick(&self, reason: Reason) {
        let mut slot = lock(&self.reason);
        if slot.is_none() {
            *slot = Some(reason);
        }
        self.token.cancel();
    }

    pub(crate) fn reason(&self) -> Option<Reason> {
        lock(&self.reason).clone()
    }
}

/// A poisoned lock only means another task panicked mid-update; the maps stay structurally valid,
/// so the broker keeps serving rather than failing every connection.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug)]
struct Link {
    conn_id: u64,
    tx: Outbox,
    kicker: Arc<Kicker>,
}

/// Why [`Outbox::try_send`] did not queue a message.
pub(crate) enum OutboxError {
    /// The connection already holds `max_queued` undelivered messages.
    Full(Publish),
    /// The connection is gone.
    Closed(Publish),
}

/// The broker's end of a connection's queue of messages to deliver. It holds at most `cap` messages, the
/// configured `max_queued`, counted on both ends, so a subscriber that takes a burst (the payment API on
/// `ccv/+/+/evt` during a kick storm) is cut off by the limit the operator set and nothing smaller.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<Publish>,
    depth: Arc<AtomicUsize>,
    cap: usize,
}

/// The connection's end of its [`Outbox`].
#[derive(Debug)]
pub(crate) struct Inbox {
    rx: mpsc::UnboundedReceiver<Publish>,
    depth: Arc<AtomicUsize>,
}

/// A connection's message queue holding at most `cap` messages.
pub(crate) fn outbox(cap: usize) -> (Outbox, Inbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    let depth = Arc::new(AtomicUsize::new(0));
    (Outbox { tx, depth: depth.clone(), cap: cap.max(1) }, Inbox { rx, depth })
}

impl Outbox {
    pub(crate) fn try_send(&self, p: Publish) -> Result<(), OutboxError> {
        if self.tx.is_closed() {
            return Err(OutboxError::Closed(p));
        }
        if self.depth.fetch_add(1, Ordering::AcqRel) >= self.cap {
            self.depth.fetch_sub(1, Ordering::AcqRel);
            return Err(OutboxError::Full(p));
        }
        self.tx.send(p).map_err(|e| {
            self.depth.fetch_sub(1, Ordering::AcqRel);
            OutboxError::Closed(e.0)
        })
    }
}

impl Inbox {
    pub(crate) async fn recv(&mut self) -> Option<Publish> {
        let p = self.rx.recv().await?;
        self.depth.fetch_sub(1, Ordering::AcqRel);
        Some(p)
    }

    pub(crate) fn try_recv(&mut self) -> Option<Publish> {
        let p = self.rx.try_recv().ok()?;
        self.depth.fetch_sub(1, Ordering::AcqRel);
        Some(p)
    }

    pub(crate) fn close(&mut self) {
        self.rx.close();
    }
}

#[derive(Debug, Default)]
struct Session {
    link: Option<Link>,
    subs: HashMap<String, QoS>,
    persistent: bool,
    queued: VecDeque<Publish>,
    expires: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    sessions: HashMap<Arc<str>, Session>,
    exact: HashMap<String, HashMap<Arc<str>, QoS>>,
    wild: HashMap<String, HashMap<Arc<str>, QoS>>,
}

impl State {
    fn index(&mut self, filter: &str) -> &mut HashMap<String, HashMap<Arc<str>, QoS>> {
        if topics::has_wildcard(filter) { &mut self.wild } else { &mut self.exact }
    }

    fn unindex(&mut self, client: &str, filter: &str) {
        let index = self.index(filter);
        if let Some(set) = index.get_mut(filter) {
            set.remove(client);
            shrink_sparse(set);
            if set.is_empty() {
                index.remove(filter);
                shrink_sparse(index);
            }
        }
    }

    fn remove_session(&mut self, client: &str) {
        if let Some(session) = self.sessions.remove(client) {
            shrink_sparse(&mut self.sessions);
            for filter in session.subs.keys() {
                self.unindex(client, filter);
            }
        }
    }
}

/// Gives a map's spare room back once it is at most a quarter full, keeping room for twice what it holds: after
/// a storm of clients that came and went, the maps are sized for who is there, not for the peak. Each shrink
/// costs what the map holds and at least as many removals came before it, so removal stays O(1) amortised.
fn shrink_sparse<K: Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>) {
    if map.capacity() > 64 && map.len() <= map.capacity() / 4 {
        map.shrink_to(map.len() * 2);
    }
}

/// The broker shared by all connections of one endpoint.
#[derive(Debug)]
pub(crate) struct Broker {
    state: Mutex<State>,
    pub(crate) events: broadcast::Sender<EndpointEvent>,
    pub(crate) limits: Limits,
    pub(crate) session_expiry: Duration,
    next_conn_id: AtomicU64,
    pub(crate) connected: AtomicUsize,
    /// Woken whenever a persistent session changes (the state file's writer waits on it).
    pub(crate) changed: tokio::sync::Notify,
}

/// What a (re)connecting client gets back.
pub(crate) struct Attached {
    pub(crate) conn_id: u64,
    pub(crate) session_present: bool,
    pub(crate) resend: Vec<Publish>,
}

impl Broker {
    pub(crate) fn new(limits: Limits, session_expiry: Duration) -> Self {
        Broker {
            state: Mutex::new(State::default()),
            events: broadcast::channel(1024).0,
            limits,
            session_expiry,
            next_conn_id: AtomicU64::new(1),
            connected: AtomicUsize::new(0),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// A persistent session changed: the state file is due (a stored permit if nobody waits now).
    fn persistent_changed(&self) {
        self.changed.notify_one();
    }

    /// Every persistent session as it would be after this process ended: offline, expiring a session expiry from
    /// now unless it already expires sooner.
    pub(crate) fn snapshot(&self) -> crate::persist::Snapshot {
        let st = lock(&self.state);
        let (now, now_ms) = (Instant::now(), crate::persist::now_ms());
        let full = self.session_expiry.as_millis() as u64;
        let sessions = st
            .sessions
            .iter()
            .filter(|(_, s)| s.persistent)
            .map(|(id, s)| {
                let left = s.expires.map_or(full, |e| e.saturating_duration_since(now).as_millis() as u64);
                crate::persist::SavedSession {
                    client_id: id.to_string(),
                    subscriptions: s.subs.iter().map(|(f, q)| (f.clone(), *q as u8)).collect(),
                    queued: s
                        .queued
                        .iter()
                        .map(|p| crate::persist::SavedMessage::new(&p.topic, &p.payload))
                        .collect(),
                    expires_at_ms: now_ms.saturating_add(left),
                }
            })
            .collect();
        crate::persist::Snapshot::new(sessions)
    }

    /// Puts back the sessions of a snapshot (before any client connects); those that expired, and what exceeds
    /// the limits, are left out. Returns how many sessions were restored.
    pub(crate) fn restore(&self, snapshot: crate::persist::Snapshot) -> usize {
        let mut st = lock(&self.state);
        let (now, now_ms) = (Instant::now(), crate::persist::now_ms());
        let mut restored = 0;
        for saved in snapshot.sessions {
            if saved.expires_at_ms <= now_ms
                || saved.client_id.is_empty()
                || saved.client_id.len() > self.limits.max_client_id
            {
                continue;
            }
            let client: Arc<str> = Arc::from(saved.client_id.as_str());
            let mut session = Session {
                persistent: true,
                expires: Some(now + Duration::from_millis(saved.expires_at_ms - now_ms)),
                ..Session::default()
            };
            for (filter, qos) in saved.subscriptions.into_iter().take(self.limits.max_subscriptions) {
                let qos = if qos >= 1 { QoS::AtLeastOnce } else { QoS::AtMostOnce };
                if topics::validate_filter(&filter).is_err() {
                    continue;
                }
                session.subs.insert(filter.clone(), qos);
                st.index(&filter).entry(filter).or_default().insert(client.clone(), qos);
            }
            for m in saved.queued.into_iter().take(self.limits.max_queued) {
                if let Some(payload) = m.payload().filter(|p| p.len() <= self.limits.max_payload) {
                    session.queued.push_back(Publish::new(m.topic, QoS::AtLeastOnce, payload));
                }
            }
            st.sessions.insert(client, session);
            restored += 1;
        }
        restored
    }

    pub(crate) fn emit(&self, event: EndpointEvent) {
        // No receiver is fine: events are for observers (tests, tools).
        let _ = self.events.send(event);
    }

    /// Attaches a new connection to the session of `client_id`, disconnecting any connection that
    /// holds it (one connection per client id).
    pub(crate) fn attach(
        &self,
        client_id: &Arc<str>,
        clean: bool,
        tx: Outbox,
        kicker: Arc<Kicker>,
    ) -> Attached {
        let conn_id = self.next_conn_id.fetch_add(1, Ordering::Relaxed);
        let mut st = lock(&self.state);
        let now = Instant::now();
        if let Some(old) = st.sessions.get_mut(client_id) {
            if let Some(link) = old.link.take() {
                link.kicker.kick(Reason::TakenOver);
            }
        }
        let expired = st.sessions.get(client_id).is_some_and(|s| s.expires.is_some_and(|e| e <= now));
        if clean || expired || st.sessions.get(client_id).is_some_and(|s| !s.persistent) {
            st.remove_session(client_id);
        }
        let session_present = st.sessions.contains_key(client_id);
        let session = st.sessions.entry(client_id.clone()).or_default();
        session.persistent = !clean;
        session.expires = None;
        session.link = Some(Link { conn_id, tx, kicker });
        // The queue goes with its room: a session that held a long queue does not keep its size.
        let resend = Vec::from(std::mem::take(&mut session.queued));
        drop(st);
        self.persistent_changed();
        Attached { conn_id, session_present, resend }
    }

    /// Detaches connection `conn_id`. A persistent session keeps `leftovers` (unacknowledged QoS 1
    /// messages) for the next connection; a clean one is dropped with its subscriptions.
    pub(crate) fn detach(&self, client_id: &Arc<str>, conn_id: u64, leftovers: Vec<Publish>) {
        let mut st = lock(&self.state);
        let max_queued = self.limits.max_queued;
        let Some(session) = st.sessions.get_mut(client_id) else { return };
        match &session.link {
            Some(link) if link.conn_id == conn_id => {}
            Some(link) => {
                // Taken over: hand what the old connection still owed to the new one.
                if session.persistent {
                    for p in leftovers {
                        if link.tx.try_send(p).is_err() {
                            break;
                        }
                    }
                }
                return;
            }
            None => return,
        }
        session.link = None;
        if !session.persistent {
            st.remove_session(client_id);
            return;
        }
        for p in leftovers.into_iter().rev() {
            session.queued.push_front(p);
        }
        session.queued.truncate(max_queued);
        session.expires = Some(Instant::now() + self.session_expiry);
        drop(st);
        self.persistent_changed();
    }

    pub(crate) fn subscribe(&self, client_id: &Arc<str>, filter: &str, qos: QoS) -> usize {
        let mut st = lock(&self.state);
        let Some(session) = st.sessions.get_mut(client_id) else { return 0 };
        session.subs.insert(filter.to_owned(), qos);
        let count = session.subs.len();
        let persistent = session.persistent;
        st.index(filter).entry(filter.to_owned()).or_default().insert(client_id.clone(), qos);
        drop(st);
        if persistent {
            self.persistent_changed();
        }
        count
    }

    pub(crate) fn subscription_count(&self, client_id: &Arc<str>) -> usize {
        lock(&self.state).sessions.get(client_id).map_or(0, |s| s.subs.len())
    }

    pub(crate) fn unsubscribe(&self, client_id: &Arc<str>, filter: &str) {
        let mut st = lock(&self.state);
        let persistent = st.sessions.get_mut(client_id).is_some_and(|session| {
            session.subs.remove(filter);
            session.persistent
        });
        st.unindex(client_id, filter);
        drop(st);
        if persistent {
            self.persistent_changed();
        }
    }

    /// Routes one PUBLISH to every matching subscription; returns how many sessions got it.
    pub(crate) fn route(&self, publish: &Publish) -> usize {
        let mut st = lock(&self.state);
        // Fast path: no wildcard subscription anywhere, so the exact set is the whole answer and
        // holds each client once.
        let targets: Vec<(Arc<str>, QoS)> = if st.wild.is_empty() {
            match st.exact.get(&publish.topic) {
                Some(set) => set.iter().map(|(c, q)| (c.clone(), *q)).collect(),
                None => return 0,
            }
        } else {
            let mut merged: HashMap<Arc<str>, QoS> = HashMap::new();
            let mut add = |set: &HashMap<Arc<str>, QoS>| {
                for (client, qos) in set {
                    let entry = merged.entry(client.clone()).or_insert(*qos);
                    if *qos > *entry {
                        *entry = *qos;
                    }
                }
            };
            if let Some(set) = st.exact.get(&publish.topic) {
                add(set);
            }
            for (filter, set) in &st.wild {
                if topics::matches(filter, &publish.topic) {
                    add(set);
                }
            }
            merged.into_iter().collect()
        };
        let now = Instant::now();
        let mut delivered = 0;
        let mut queued_offline = false;
        let mut expired = Vec::new();
        for (client, sub_qos) in targets {
            let Some(session) = st.sessions.get_mut(&client) else { continue };
            let qos = if publish.qos == QoS::AtLeastOnce && sub_qos == QoS::AtLeastOnce {
                QoS::AtLeastOnce
            } else {
                QoS::AtMostOnce
            };
            let mut out = Publish::from_bytes(publish.topic.clone(), qos, publish.payload.clone());
            out.pkid = 0;
            match &session.link {
                Some(link) => match link.tx.try_send(out) {
                    Ok(()) => delivered += 1,
                    Err(OutboxError::Full(p)) => {
                        if p.qos == QoS::AtLeastOnce {
                            link.kicker.kick(Reason::SlowConsumer);
                            if session.persistent && session.queued.len() < self.limits.max_queued {
                                session.queued.push_back(p);
                            }
                        } else {
                            tracing::debug!(client = %client, "QoS 0 message dropped: client is not reading");
                        }
                    }
                    Err(OutboxError::Closed(p)) => {
                        if session.persistent && p.qos == QoS::AtLeastOnce {
                            session.queued.push_back(p);
                        }
                    }
                },
                None if session.expires.is_some_and(|e| e <= now) => expired.push(client),
                None if qos == QoS::AtLeastOnce => {
                    if session.queued.len() >= self.limits.max_queued {
                        session.queued.pop_front();
                        tracing::warn!(client = %client, "offline queue full; oldest message dropped");
                    }
                    session.queued.push_back(out);
                    queued_offline = true;
                    delivered += 1;
                }
                None => {}
            }
        }
        for client in expired {
            st.remove_session(&client);
        }
        drop(st);
        if queued_offline {
            self.persistent_changed();
        }
        delivered
    }

    /// Drops persistent sessions whose expiry has passed.
    pub(crate) fn sweep(&self) -> usize {
        let mut st = lock(&self.state);
        let now = Instant::now();
        let dead: Vec<Arc<str>> = st
            .sessions
            .iter()
            .filter(|(_, s)| s.link.is_none() && s.expires.is_some_and(|e| e <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for client in &dead {
            st.remove_session(client);
        }
        drop(st);
        if !dead.is_empty() {
            self.persistent_changed();
        }
        dead.len()
    }

    pub(crate) fn session_count(&self) -> usize {
        lock(&self.state).sessions.len()
    }

    /// Entries of the routing index: each (filter, subscriber) once.
    pub(crate) fn subscription_total(&self) -> usize {
        let st = lock(&self.state);
        st.exact.values().chain(st.wild.values()).map(HashMap::len).sum()
    }

    /// The room the session map and the routing index hold, in entries (what [`shrink_sparse`] keeps bounded).
    #[cfg(test)]
    fn capacity(&self) -> usize {
        let st = lock(&self.state);
        st.sessions.capacity() + st.exact.capacity() + st.wild.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: u8) -> Publish {
        Publish::new("ccv/NL-CAT/T1/evt", QoS::AtLeastOnce, vec![i])
    }

    #[test]
    fn the_session_map_and_the_routing_index_shrink_after_a_storm_of_clients_has_left() {
        let broker = Broker::new(Limits::default(), Duration::from_secs(3600));
        let storm = 5_000;
        let mut links = Vec::with_capacity(storm);
        for i in 0..storm {
            let id: Arc<str> = Arc::from(format!("vpos-{i}").as_str());
            let (tx, _rx) = outbox(8);
            let attached = broker.attach(&id, true, tx, Arc::new(Kicker::default()));
            broker.subscribe(&id, &format!("ccv/NL-CAT/{i:08}/cmd"), QoS::AtLeastOnce);
            links.push((id, attached.conn_id));
        }
        assert_eq!((broker.session_count(), broker.subscription_total()), (storm, storm));
        let peak = broker.capacity();
        assert!(peak >= 2 * storm, "{peak}");
        for (id, conn_id) in links {
            broker.detach(&id, conn_id, Vec::new());
        }
        assert_eq!((broker.session_count(), broker.subscription_total()), (0, 0));
        // Room for at most a few dozen entries per map is kept, not the storm's 5,000.
        assert!(
            broker.capacity() <= 3 * 128,
            "{} entries of room kept after the storm (peak {peak})",
            broker.capacity()
        );
    }

    #[tokio::test]
    async fn an_outbox_holds_max_queued_messages_and_frees_a_slot_per_message_taken() {
        let (tx, mut rx) = outbox(2);
        assert!(tx.try_send(msg(1)).is_ok());
        assert!(tx.try_send(msg(2)).is_ok());
        assert!(matches!(tx.try_send(msg(3)), Err(OutboxError::Full(p)) if p.payload[..] == [3]));
        assert_eq!(rx.recv().await.map(|p| p.payload[0]), Some(1));
        assert!(tx.try_send(msg(4)).is_ok(), "taking one message frees one slot");
        assert_eq!(rx.try_recv().map(|p| p.payload[0]), Some(2));
        assert_eq!(rx.try_recv().map(|p| p.payload[0]), Some(4));
        assert!(rx.try_recv().is_none());
        rx.close();
        assert!(matches!(tx.try_send(msg(5)), Err(OutboxError::Closed(_))));
    }
}
