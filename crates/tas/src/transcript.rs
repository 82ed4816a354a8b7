//! The TAS transcript: every frame in both directions as one JSON line, card numbers masked.
//!
//! Entries are kept in an in-memory ring bounded in entries and in bytes (the oldest dropped and counted; served
//! a page at a time by `GET /transcript`) and, when a path is configured, appended to a file as JSON lines. A
//! connection that never identified itself leaves one short entry (peer, bytes received, why it closed), not its
//! bytes: it is recorded by [`Transcript::record_unidentified`]. A line looks like
//! `{"seq":3,"atMs":1764343380123,"tmsId":"12345678","peer":"127.0.0.1:40022","dir":"from_terminal","bytes":412,"xml":"<?xml ..."}`.
//!
//! Masking: any run of 13 to 19 digits (a PAN's length) keeps its first six and last four digits; the rest become
//! `*`. That covers a PAN wherever it appears (attribute, element, receipt text). No Luhn check: test cards'
//! numbers need not pass it (the Maestro test card's does not), and OPI carries no other number that long.
//!
//! [`Transcript::subscribe`] hands out every entry as it is recorded (masked, with its message kind), for live
//! viewers such as a sandbox's event stream.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{LineWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ccv_opi::MessageKind;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Sent by the terminal, received by the TAS.
    FromTerminal,
    /// Sent by the TAS to the terminal.
    ToTerminal,
    /// Not a frame: a connection event (connected, closed, refused) described in `note`.
    Event,
}

/// One transcript line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptEntry {
    /// Position in the transcript, from 1.
    pub seq: u64,
    /// Wall-clock time in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The terminal, once it has identified itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tms_id: Option<String>,
    /// The terminal's socket address.
    pub peer: String,
    /// Direction of the frame.
    pub dir: Direction,
    /// Payload length in bytes (without the 4-byte length prefix).
    pub bytes: usize,
    /// Which OPI message the frame is, from its root element (`None` for events and frames that are not one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<MessageKind>,
    /// The payload as text (lossy UTF-8), card numbers masked.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub xml: String,
    /// What happened, for events and frames the TAS could not decode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What the ring keeps: the payload as received (shared, not copied); masking and text conversion happen
/// when an entry is read or written to the file, off the frame path.
#[derive(Debug, Clone)]
struct RawEntry {
    seq: u64,
    at_ms: u64,
    tms_id: Option<Arc<str>>,
    peer: Arc<str>,
    dir: Direction,
    /// The payload's length, or for a connection that never identified itself the bytes it sent.
    bytes: usize,
    payload: Bytes,
    note: Option<String>,
}

/// What one entry is counted as in the ring's byte budget besides its payload and note (the entry itself, its
/// share of the peer and TMS ID).
const ENTRY_OVERHEAD: usize = 128;

impl RawEntry {
    /// The bytes this entry holds, as the ring's budget counts them.
    fn cost(&self) -> usize {
        ENTRY_OVERHEAD + self.payload.len() + self.note.as_ref().map_or(0, String::len)
    }

    fn render(&self) -> TranscriptEntry {
        TranscriptEntry {
            seq: self.seq,
            at_ms: self.at_ms,
            tms_id: self.tms_id.as_deref().map(str::to_owned),
            peer: self.peer.to_string(),
            dir: self.dir,
            bytes: self.bytes,
            kind: root_kind(&self.payload),
            xml: mask_pans(&String::from_utf8_lossy(&self.payload)),
            note: self.note.clone(),
        }
    }
}

/// One page of the transcript ([`Transcript::page`], `GET /transcript`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptPage {
    /// The entries, oldest first.
    pub entries: Vec<TranscriptEntry>,
    /// The `since` that asks for the next page: the last entry's `seq` (the `since` asked for when the page is
    /// empty).
    pub next: u64,
    /// Whether entries after this page were already in memory when it was read.
    pub more: bool,
    /// Entries dropped from memory so far to keep it within its bounds (they are still in the file, if any).
    pub dropped: u64,
}

/// Most entries in one page.
pub const MAX_PAGE_ENTRIES: usize = 1000;
/// Payload bytes after which a page ends (it holds at least one entry).
pub const MAX_PAGE_BYTES: usize = 1 << 20;

/// The in-memory entries and the bytes they hold.
#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<RawEntry>,
    bytes: usize,
}

/// A thread-safe transcript sink.
#[derive(Debug)]
pub struct Transcript {
    seq: AtomicU64,
    ring: Mutex<Ring>,
    capacity: usize,
    max_bytes: usize,
    dropped: AtomicU64,
    file: Option<Mutex<LineWriter<File>>>,
    live: broadcast::Sender<TranscriptEntry>,
}

impl Transcript {
    /// An in-memory transcript keeping the last `capacity` entries, and no more than `max_bytes` of them.
    pub fn in_memory(capacity: usize, max_bytes: usize) -> Self {
        Self {
            seq: AtomicU64::new(0),
            ring: Mutex::default(),
            capacity,
            max_bytes,
            dropped: AtomicU64::new(0),
            file: None,
            live: broadcast::channel(LIVE_QUEUE).0,
        }
    }

    /// A transcript that also appends JSON lines to `path` (created or appended to).
    pub fn with_file(capacity: usize, max_bytes: usize, path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        let mut t = Self::in_memory(capacity, max_bytes);
        t.file = Some(Mutex::new(LineWriter::new(file)));
        Ok(t)
    }

    /// Records one frame or event. The payload is shared, not copied; card numbers are masked when the entry is
    /// read ([`Transcript::entries`]) or written to the file.
    pub fn record(
        &self,
        tms_id: Option<&Arc<str>>,
        peer: &Arc<str>,
        dir: Direction,
        payload: Bytes,
        note: Option<String>,
    ) {
        let bytes = payload.len();
        self.push(tms_id, peer, dir, bytes, payload, note);
    }

    /// Records a connection that ended without identifying itself as one event: who, how many bytes it sent,
    /// and why it closed (`note`, cut to 256 bytes). Its frames are not kept.
    pub fn record_unidentified(&self, peer: &Arc<str>, received: usize, note: &str) {
        let mut end = note.len().min(MAX_NOTE);
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        let note = format!("{}; never hand-shook: {received} bytes received, not kept", &note[..end]);
        self.push(None, peer, Direction::Event, received, Bytes::new(), Some(note));
    }

    fn push(
        &self,
        tms_id: Option<&Arc<str>>,
        peer: &Arc<str>,
        dir: Direction,
        bytes: usize,
        payload: Bytes,
        note: Option<String>,
    ) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let at_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let tms_id = tms_id.cloned();
        let entry = RawEntry { seq, at_ms, tms_id, peer: peer.clone(), dir, bytes, payload, note };
        // Rendered (masked) once for the file and the live viewers, and only when someone reads it.
        let rendered = (self.file.is_some() || self.live.receiver_count() > 0).then(|| entry.render());
        if let Some(r) = &rendered
            && self.live.receiver_count() > 0
        {
            // A viewer that lags loses the oldest entries; nobody listening is fine.
            let _ = self.live.send(r.clone());
        }
        if let (Some(file), Some(r)) = (&self.file, &rendered) {
            let line = serde_json::to_string(r).unwrap_or_default();
            // A poisoned lock only means another writer panicked mid-line; keep writing.
            let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(err) = writeln!(file, "{line}") {
                tracing::warn!(error = %err, "transcript: could not write to the file");
            }
        }
        if self.capacity > 0 && entry.cost() <= self.max_bytes {
            let mut ring = self.ring();
            let mut dropped = 0;
            while ring.entries.len() >= self.capacity || ring.bytes + entry.cost() > self.max_bytes {
                let Some(oldest) = ring.entries.pop_front() else { break };
                ring.bytes -= oldest.cost();
                dropped += 1;
            }
            ring.bytes += entry.cost();
            ring.entries.push_back(entry);
            self.dropped.fetch_add(dropped, Ordering::Relaxed);
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        // Plain data; a panic elsewhere cannot leave it half-updated.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bytes the in-memory entries hold, as their bound counts them (payloads, notes and a fixed cost per
    /// entry).
    pub fn memory_bytes(&self) -> usize {
        self.ring().bytes
    }

    /// Entries dropped from memory so far (the oldest first, to keep it within its bounds).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Up to `limit` entries (at most [`MAX_PAGE_ENTRIES`], and fewer once [`MAX_PAGE_BYTES`] of payload are
    /// in) after `since`, oldest first, optionally of one terminal; `next` asks for the page after it.
    pub fn page(&self, tms_id: Option<&str>, since: u64, limit: usize) -> TranscriptPage {
        let limit = limit.clamp(1, MAX_PAGE_ENTRIES);
        let (selected, more) = {
            let ring = self.ring();
            let start = ring.entries.partition_point(|e| e.seq <= since);
            let mut matching = ring
                .entries
                .range(start..)
                .filter(|e| tms_id.is_none_or(|id| e.tms_id.as_deref() == Some(id)));
            let mut selected: Vec<RawEntry> = Vec::new();
            let mut bytes = 0;
            for e in matching.by_ref() {
                selected.push(e.clone());
                bytes += e.payload.len();
                if selected.len() >= limit || bytes >= MAX_PAGE_BYTES {
                    break;
                }
            }
            (selected, matching.next().is_some())
        };
        TranscriptPage {
            next: selected.last().map_or(since, |e| e.seq),
            entries: selected.iter().map(RawEntry::render).collect(),
            more,
            dropped: self.dropped(),
        }
    }

    /// Every entry from now on, as it is recorded (masked, as [`Transcript::entries`] gives it). A receiver that
    /// lags loses the oldest.
    pub fn subscribe(&self) -> broadcast::Receiver<TranscriptEntry> {
        self.live.subscribe()
    }

    /// The entries still in memory, oldest first, optionally only those of one terminal and after `since`.
    pub fn entries(&self, tms_id: Option<&str>, since: u64) -> Vec<TranscriptEntry> {
        let selected: Vec<RawEntry> = {
            let ring = self.ring();
            ring.entries
                .iter()
                .filter(|e| e.seq > since && tms_id.is_none_or(|id| e.tms_id.as_deref() == Some(id)))
                .cloned()
                .collect()
        };
        selected.iter().map(RawEntry::render).collect()
    }
}

/// Longest reason kept in the entry of a connection that never identified itself.
const MAX_NOTE: usize = 256;

/// Entries a live viewer may fall behind by before it loses the oldest.
const LIVE_QUEUE: usize = 4096;

/// The OPI message a frame holds, by the local name of its root element (the frame is not otherwise checked).
fn root_kind(payload: &[u8]) -> Option<MessageKind> {
    // The root element is near the start; the head is read up to its first byte that is not UTF-8.
    let head = &payload[..payload.len().min(512)];
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
    };
    let mut rest = text;
    loop {
        let open = rest.find('<')?;
        rest = &rest[open + 1..];
        if rest.starts_with('?') || rest.starts_with('!') {
            continue;
        }
        let name = rest.split(|c: char| c.is_whitespace() || c == '>' || c == '/').next()?;
        let local = name.rsplit(':').next()?;
        return MessageKind::from_name(local);
    }
}

/// Masks every run of 13..=19 digits: first six and last four digits stay, the rest become `*`.
pub fn mask_pans(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let run = &text[start..i];
            if (13..=19).contains(&run.len()) {
                out.push_str(&text[copied..start]);
                out.push_str(&run[..6]);
                out.extend(std::iter::repeat_n('*', run.len() - 10));
                out.push_str(&run[run.len() - 4..]);
                copied = i;
            }
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_pans_luhn_valid_or_not_and_keeps_shorter_numbers() {
        let xml = r#"<Card PAN="4111111111111111"/><Amount>123456789012</Amount> 6703123456781234"#;
        let masked = mask_pans(xml);
        assert_eq!(masked, r#"<Card PAN="411111******1111"/><Amount>123456789012</Amount> 670312******1234"#);
    }

    #[test]
    fn the_kind_is_the_root_elements_local_name() {
        let kind = |x: &str| root_kind(x.as_bytes());
        assert_eq!(
            kind(r#"<?xml version="1.0"?><!-- c --><CardServiceRequest RequestID="1"/>"#),
            Some(MessageKind::CardServiceRequest)
        );
        assert_eq!(kind("<opi:DeviceResponse xmlns:opi=\"x\">"), Some(MessageKind::DeviceResponse));
        assert_eq!(kind("<Other/>"), None);
        assert_eq!(kind(""), None);
        assert_eq!(kind("<"), None);
    }

    #[tokio::test]
    async fn subscribers_get_each_entry_masked_as_it_is_recorded() {
        let t = Transcript::in_memory(0, 1 << 20);
        let mut live = t.subscribe();
        let (id, peer): (Arc<str>, Arc<str>) = ("12345678".into(), "127.0.0.1:1".into());
        let xml = b"<CardServiceResponse><Authorisation CardPAN=\"6703123456781234\"/></CardServiceResponse>";
        t.record(Some(&id), &peer, Direction::FromTerminal, Bytes::from_static(xml), None);
        let e = live.try_recv().expect("the entry is sent as it is recorded");
        assert_eq!(
            (e.seq, e.kind, e.dir),
            (1, Some(MessageKind::CardServiceResponse), Direction::FromTerminal)
        );
        assert!(e.xml.contains("670312******1234") && !e.xml.contains("6703123456781234"), "{}", e.xml);
    }

    proptest::proptest! {
        #[test]
        fn masking_keeps_length_is_idempotent_and_never_shows_a_full_pan(text in "[0-9a-z <>=\"é]{0,80}") {
            let once = mask_pans(&text);
            proptest::prop_assert_eq!(once.chars().count(), text.chars().count());
            proptest::prop_assert_eq!(mask_pans(&once), once.clone());
            for run in once.split(|c: char| !c.is_ascii_digit()) {
                proptest::prop_assert!(!(13..=19).contains(&run.len()), "{once}");
            }
        }
    }

    #[test]
    fn short_runs_and_text_are_untouched() {
        assert_eq!(mask_pans("abc 12345 é 999"), "abc 12345 é 999");
    }

    #[test]
    fn the_file_gets_one_masked_json_line_per_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let t = Transcript::with_file(0, 1 << 20, &path).unwrap();
        let (id, peer): (Arc<str>, Arc<str>) = ("12345678".into(), "127.0.0.1:1".into());
        t.record(
            Some(&id),
            &peer,
            Direction::FromTerminal,
            Bytes::from_static(b"<x PAN=\"4111111111111111\"/>"),
            None,
        );
        t.record(None, &peer, Direction::Event, Bytes::new(), Some("closed".into()));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<TranscriptEntry> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].tms_id.as_deref(), Some("12345678"));
        assert!(lines[0].xml.contains("411111******1111") && !text.contains("4111111111111111"), "{text}");
        assert_eq!(lines[1].note.as_deref(), Some("closed"));
        assert!(t.entries(None, 0).is_empty(), "capacity 0 keeps nothing in memory");
    }

    #[test]
    fn ring_is_bounded_and_filterable() {
        let t = Transcript::in_memory(3, 1 << 20);
        let (a, b, p): (Arc<str>, Arc<str>, Arc<str>) = ("A".into(), "B".into(), "p".into());
        for i in 0..5 {
            let id = if i % 2 == 0 { &a } else { &b };
            t.record(Some(id), &p, Direction::FromTerminal, Bytes::from_static(b"<x/>"), None);
        }
        let all = t.entries(None, 0);
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(t.entries(Some("A"), 0).len(), 2);
        assert_eq!(t.entries(None, 4).len(), 1);
    }

    #[test]
    fn memory_is_bounded_in_bytes_the_oldest_dropped_and_counted() {
        let max = 10 * (ENTRY_OVERHEAD + 1000);
        let t = Transcript::in_memory(1000, max);
        let p: Arc<str> = "p".into();
        for _ in 0..25 {
            t.record(None, &p, Direction::FromTerminal, Bytes::from(vec![b'x'; 1000]), None);
            assert!(t.memory_bytes() <= max, "{}", t.memory_bytes());
        }
        assert_eq!(t.dropped(), 15);
        assert_eq!(
            t.entries(None, 0).iter().map(|e| e.seq).collect::<Vec<_>>(),
            (16..=25).collect::<Vec<_>>()
        );
        // An entry larger than the whole budget is not kept, and counted.
        t.record(None, &p, Direction::FromTerminal, Bytes::from(vec![b'x'; max]), None);
        assert_eq!((t.dropped(), t.entries(None, 0).len()), (16, 10));
    }

    #[test]
    fn a_connection_that_never_identified_itself_leaves_one_short_entry() {
        let t = Transcript::in_memory(10, 1 << 20);
        let p: Arc<str> = "127.0.0.1:9".into();
        t.record_unidentified(&p, 65_536, &format!("closed: {}", "é".repeat(500)));
        let e = &t.entries(None, 0)[0];
        assert_eq!(
            (e.dir, e.bytes, e.xml.as_str(), e.tms_id.as_deref()),
            (Direction::Event, 65_536, "", None)
        );
        let note = e.note.as_deref().unwrap_or_default();
        assert!(
            note.len() < 320 && note.ends_with("; never hand-shook: 65536 bytes received, not kept"),
            "{note}"
        );
    }

    #[test]
    fn pages_return_everything_in_order_within_their_limits() {
        let t = Transcript::in_memory(100, 1 << 20);
        let (a, b, p): (Arc<str>, Arc<str>, Arc<str>) = ("A".into(), "B".into(), "p".into());
        for i in 0..20 {
            let id = if i % 3 == 0 { &a } else { &b };
            t.record(Some(id), &p, Direction::FromTerminal, Bytes::from_static(b"<x/>"), None);
        }
        for (tms_id, limit) in [(None, 3), (None, 1000), (Some("A"), 2), (Some("B"), 0)] {
            let mut seen = Vec::new();
            let mut since = 0;
            for _ in 0..100 {
                let page = t.page(tms_id, since, limit);
                assert!(page.entries.len() <= limit.max(1));
                seen.extend(page.entries.iter().map(|e| e.seq));
                since = page.next;
                if !page.more {
                    break;
                }
            }
            let all: Vec<u64> = t.entries(tms_id, 0).iter().map(|e| e.seq).collect();
            assert_eq!(seen, all, "{tms_id:?} by {limit}");
        }
        assert_eq!(
            t.page(None, 20, 10),
            TranscriptPage { entries: vec![], next: 20, more: false, dropped: 0 }
        );
        assert_eq!(t.page(None, 0, usize::MAX).entries.len(), 20, "the limit is capped, not refused");
    }
}
