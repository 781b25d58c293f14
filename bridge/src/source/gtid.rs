//! GTID states of both source flavours, parsed from and written as the servers write them, so a
//! checkpoint's `gtid` column can be handed back to the server on resume.
//!
//! - MariaDB: the last sequence number per replication domain, `domain-server-seq`, one per domain
//!   (`@@gtid_binlog_pos`, `@slave_connect_state`).
//! - MySQL 8: a set of transaction numbers per source (`uuid:1-5:7-9`, `uuid:tag:1-3` for MySQL
//!   8.4's tagged GTIDs), `@@gtid_executed`; a replica asks for what it lacks by sending the set it
//!   has (COM_BINLOG_DUMP_GTID).
//!
//! A state holds whichever the text had; one source writes only one kind.

use std::collections::BTreeMap;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GtidState {
    /// MariaDB: domain → (server id, sequence number) of its latest transaction.
    domains: BTreeMap<u32, (u32, u64)>,
    /// MySQL: `uuid` or `uuid:tag` (lower case) → transaction numbers, as sorted, disjoint,
    /// non-adjacent inclusive intervals.
    sets: BTreeMap<String, Vec<(u64, u64)>>,
}

/// One MySQL GTID or GTID-set element split into its source (`uuid` or `uuid:tag`) and the
/// intervals it names; `None` if it is not one.
fn mysql_element(text: &str) -> Option<(String, Vec<(u64, u64)>)> {
    let mut parts = text.split(':').map(str::trim);
    let uuid = parts.next()?.to_ascii_lowercase();
    let hex = uuid.chars().filter(char::is_ascii_hexdigit).count();
    if uuid.len() != 36 || hex != 32 {
        return None;
    }
    let mut source = uuid;
    let mut intervals = Vec::new();
    for part in parts {
        if part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            // A tag comes before its intervals (`uuid:tag:1-3`): one tag per element here, of
            // letters, digits and underscores as MySQL allows.
            let word = part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !word || !intervals.is_empty() || source.contains(':') {
                return None;
            }
            source = format!("{source}:{}", part.to_ascii_lowercase());
            continue;
        }
        let (start, end) = match part.split_once('-') {
            Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
            None => {
                let n = part.parse().ok()?;
                (n, n)
            }
        };
        if start == 0 || end < start {
            return None;
        }
        intervals.push((start, end));
    }
    (!intervals.is_empty()).then_some((source, intervals))
}

/// Inserts `(start, end)` into sorted, disjoint intervals, merging what touches it.
fn insert_interval(intervals: &mut Vec<(u64, u64)>, (start, end): (u64, u64)) {
    intervals.push((start, end));
    intervals.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(intervals.len());
    for &(a, b) in intervals.iter() {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    *intervals = merged;
}

fn mariadb_gtid(text: &str) -> Option<(u32, u32, u64)> {
    let mut parts = text.splitn(3, '-').map(str::trim);
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    ))
}

impl GtidState {
    /// Reads a state as the server prints it (elements separated by commas, whitespace and new
    /// lines ignored). Elements that are neither kind are ignored.
    pub fn parse(text: Option<&str>) -> Self {
        let mut state = Self::default();
        for element in text
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
        {
            if let Some((source, intervals)) = mysql_element(element) {
                let mine = state.sets.entry(source).or_default();
                for interval in intervals {
                    insert_interval(mine, interval);
                }
            } else {
                state.advance(element);
            }
        }
        state
    }

    /// Records one transaction: MariaDB's `domain-server-seq` becomes its domain's latest; MySQL's
    /// `uuid:n` (or `uuid:tag:n`) joins its source's set.
    pub fn advance(&mut self, gtid: &str) {
        if let Some((source, intervals)) = mysql_element(gtid) {
            let mine = self.sets.entry(source).or_default();
            for interval in intervals {
                insert_interval(mine, interval);
            }
        } else if let Some((domain, server, seq)) = mariadb_gtid(gtid) {
            self.domains.insert(domain, (server, seq));
        }
    }

    /// Whether the transaction `gtid` is in this state (MariaDB: at or before its domain's latest).
    pub fn contains(&self, gtid: &str) -> bool {
        if let Some((source, intervals)) = mysql_element(gtid) {
            let Some(mine) = self.sets.get(&source) else {
                return false;
            };
            return !intervals.is_empty()
                && intervals
                    .iter()
                    .all(|&(a, b)| mine.iter().any(|&(x, y)| x <= a && b <= y));
        }
        match mariadb_gtid(gtid) {
            Some((domain, _, seq)) => self
                .domains
                .get(&domain)
                .is_some_and(|(_, mine)| *mine >= seq),
            None => false,
        }
    }

    /// The first place where `self` holds a transaction `other` lacks: "domain N" (MariaDB) or
    /// "source uuid" (MySQL). `None` when `other` has everything `self` has.
    pub fn ahead_of(&self, other: &Self) -> Option<String> {
        let domain = self
            .domains
            .iter()
            .find(|(domain, (_, seq))| {
                other
                    .domains
                    .get(domain)
                    .is_none_or(|(_, theirs)| theirs < seq)
            })
            .map(|(domain, _)| format!("domain {domain}"));
        domain.or_else(|| {
            self.sets
                .iter()
                .find(|(source, mine)| {
                    let theirs = other.sets.get(*source).map_or(&[][..], Vec::as_slice);
                    !mine
                        .iter()
                        .all(|&(a, b)| theirs.iter().any(|&(x, y)| x <= a && b <= y))
                })
                .map(|(source, _)| format!("source {source}"))
        })
    }

    /// Whether this is a MySQL GTID set (else MariaDB's per-domain list, or empty).
    pub fn is_mysql(&self) -> bool {
        !self.sets.is_empty()
    }

    /// As the server writes it; `None` when empty.
    pub fn render(&self) -> Option<String> {
        let mariadb = self
            .domains
            .iter()
            .map(|(d, (s, q))| format!("{d}-{s}-{q}"));
        let mysql = self.sets.iter().map(|(source, intervals)| {
            let mut text = source.clone();
            for &(a, b) in intervals {
                if a == b {
                    text.push_str(&format!(":{a}"));
                } else {
                    text.push_str(&format!(":{a}-{b}"));
                }
            }
            text
        });
        let all: Vec<String> = mariadb.chain(mysql).collect();
        (!all.is_empty()).then(|| all.join(","))
    }

    /// The MySQL set as COM_BINLOG_DUMP_GTID carries it: the source sends every transaction not
    /// in it.
    pub fn request_sids(&self) -> anyhow::Result<Vec<mysql_async::Sid<'static>>> {
        self.sets
            .iter()
            .map(|(source, intervals)| {
                let mut text = source.clone();
                for &(a, b) in intervals {
                    text.push_str(&format!(":{a}-{b}"));
                }
                text.parse::<mysql_async::Sid<'static>>()
                    .map_err(|e| anyhow::anyhow!("GTID set element {text}: {e}"))
            })
            .collect()
    }
}

/// A MySQL GTID event's transaction as text: `uuid:gno`, or `uuid:tag:gno` (MySQL 8.4).
pub fn mysql_gtid(sid: [u8; 16], tag: Option<&str>, gno: u64) -> String {
    let hex: String = sid.iter().map(|b| format!("{b:02x}")).collect();
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    match tag {
        Some(tag) => format!("{uuid}:{}:{gno}", tag.to_ascii_lowercase()),
        None => format!("{uuid}:{gno}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const B: &str = "2174b383-5441-11e8-b90a-c80aa9429562";

    #[test]
    fn mariadb_state_keeps_the_latest_per_domain() {
        let mut state = GtidState::parse(Some("0-1-10,1-2-5"));
        state.advance("0-1-11");
        state.advance("2-3-1");
        assert_eq!(state.render().as_deref(), Some("0-1-11,1-2-5,2-3-1"));
        assert_eq!(GtidState::parse(None).render(), None);
        assert!(state.contains("0-9-11") && state.contains("1-2-4"));
        assert!(!state.contains("0-1-12") && !state.contains("3-1-1"));
        assert!(!state.is_mysql());
    }

    #[test]
    fn mysql_sets_read_as_the_server_prints_them() {
        // @@gtid_executed: upper-case UUIDs are possible in old dumps, new lines after commas.
        let printed = format!(
            "{},\n{B}:1-27",
            "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:11-18"
        );
        let state = GtidState::parse(Some(&printed));
        assert!(state.is_mysql());
        assert_eq!(
            state.render().unwrap(),
            format!("{B}:1-27,{A}:1-5:11-18"),
            "sorted by source, lower case, as MySQL writes it"
        );
        assert_eq!(GtidState::parse(state.render().as_deref()), state);
        assert!(state.contains(&format!("{A}:3")) && state.contains(&format!("{A}:11-18")));
        assert!(!state.contains(&format!("{A}:6")) && !state.contains(&format!("{A}:5-11")));
        assert!(!state.contains(&format!("{B}:28")));
        assert!(!state.contains("4e11fa47-71ca-11e1-9e33-c80aa9429562:1"));
    }

    #[test]
    fn mysql_transactions_join_their_interval() {
        let mut state = GtidState::parse(Some(&format!("{A}:1-5:7-9")));
        state.advance(&format!("{A}:6"));
        assert_eq!(
            state.render().unwrap(),
            format!("{A}:1-9"),
            "a gap filled merges"
        );
        state.advance(&format!("{A}:11"));
        state.advance(&format!("{A}:10"));
        state.advance(&format!("{A}:3"));
        assert_eq!(state.render().unwrap(), format!("{A}:1-11"));
        state.advance(&format!("{B}:1"));
        assert_eq!(state.render().unwrap(), format!("{B}:1,{A}:1-11"));
    }

    #[test]
    fn mysql_tagged_gtids_are_sources_of_their_own() {
        let mut state = GtidState::parse(Some(&format!("{A}:1-3,{A}:Nightly:1-2")));
        state.advance(&format!("{A}:nightly:3"));
        assert_eq!(state.render().unwrap(), format!("{A}:1-3,{A}:nightly:1-3"));
        assert!(state.contains(&format!("{A}:nightly:3")));
        assert!(!state.contains(&format!("{A}:other:1")));
    }

    #[test]
    fn a_source_missing_transactions_is_behind() {
        let ours = GtidState::parse(Some(&format!("{A}:1-10,{B}:1-3")));
        let ahead = GtidState::parse(Some(&format!("{A}:1-12,{B}:1-3")));
        assert_eq!(ours.ahead_of(&ahead), None);
        assert_eq!(
            ahead.ahead_of(&ours).as_deref(),
            Some(format!("source {A}").as_str())
        );
        // A fresh data directory: a new server UUID, none of ours.
        let fresh = GtidState::parse(Some("9e11fa47-71ca-11e1-9e33-c80aa9429562:1-400"));
        assert!(ours.ahead_of(&fresh).is_some());
        // A hole: the source has 1-4 and 6-10, the checkpoint needs 5 too.
        let holed = GtidState::parse(Some(&format!("{A}:1-4:6-10,{B}:1-3")));
        assert!(ours.ahead_of(&holed).is_some());
        let maria = GtidState::parse(Some("0-1-50"));
        assert_eq!(
            maria.ahead_of(&GtidState::parse(Some("0-1-3"))).as_deref(),
            Some("domain 0")
        );
    }

    #[test]
    fn odd_text_is_no_gtid() {
        for text in [
            "",
            "  ,  ",
            "nonsense",
            "3e11fa47-71ca-11e1-9e33:1",
            &format!("{A}:0"),
            &format!("{A}:5-3"),
            &format!("{A}:x-1"),
        ] {
            let state = GtidState::parse(Some(text));
            assert_eq!(state.render(), None, "{text:?}");
        }
    }

    #[test]
    fn a_gtid_event_names_its_transaction() {
        let sid = [
            0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42,
            0x95, 0x62,
        ];
        assert_eq!(mysql_gtid(sid, None, 23), format!("{A}:23"));
        assert_eq!(
            mysql_gtid(sid, Some("Nightly"), 2),
            format!("{A}:nightly:2")
        );
        let mut state = GtidState::parse(Some(&format!("{A}:1-22")));
        state.advance(&mysql_gtid(sid, None, 23));
        assert_eq!(state.render().unwrap(), format!("{A}:1-23"));
    }

    #[test]
    fn a_mysql_set_becomes_the_dump_request() {
        let state = GtidState::parse(Some(&format!("{A}:1-5:7,{B}:1-27")));
        let sids = state.request_sids().unwrap();
        assert_eq!(sids.len(), 2);
        let a = sids.iter().find(|s| s.to_string().starts_with(A)).unwrap();
        // On the wire an interval's end is exclusive.
        let wire: Vec<(u64, u64)> = a.intervals().iter().map(|i| (i.start(), i.end())).collect();
        assert_eq!(wire, vec![(1, 6), (7, 8)]);
        assert_eq!(a.to_string(), format!("{A}:1-5:7"));
        assert!(
            GtidState::parse(Some("0-1-5"))
                .request_sids()
                .unwrap()
                .is_empty()
        );
    }
}
