//! Splitting a large batch into lanes: sets of whole source transactions that share no item, level
//! row or SKU, so that each set can be applied on a connection of its own at the same time as the
//! others. Nothing one lane writes or sums is written or summed by another: an item's quantity is
//! the sum of its level rows, so a level row ties together its item now and the item it counted
//! for before (`Prior`); duplicate flags are worked out per SKU, so an item ties together its SKU
//! now and before. Lookups and picture rows change what many items read, so a batch with any of
//! them is not split.

use crate::mapping::Change;
use crate::sink::apply::Prior;
use rustc_hash::FxHashMap;
use std::collections::hash_map::Entry;

/// What ties source transactions together: two that name the same one go in the same lane.
#[derive(Hash, PartialEq, Eq)]
enum Key<'a> {
    Item(&'a str),
    Level(&'a str),
    Sku(&'a str),
}

/// Splits `transactions` (each one's changes, in commit order) into `lanes` sets of transaction
/// indices, each in commit order, balanced by row changes. `None` when the batch should be applied
/// whole: it holds lookup or picture-row changes, or its transactions are so tied together that
/// the smallest set would hold less than a quarter of the batch's share for a lane.
pub fn split(transactions: &[&[Change]], prior: &Prior, lanes: usize) -> Option<Vec<Vec<usize>>> {
    if lanes < 2 || transactions.len() < lanes {
        return None;
    }
    let mut parent: Vec<usize> = (0..transactions.len()).collect();
    let mut owner: FxHashMap<Key<'_>, usize> = FxHashMap::default();
    for (index, changes) in transactions.iter().enumerate() {
        for change in changes.iter() {
            let keys: [Option<Key<'_>>; 3] = match change {
                Change::Item { key, row } => [
                    Some(Key::Item(key.as_str())),
                    row.as_ref().and_then(|r| r.sku.as_deref()).map(Key::Sku),
                    prior
                        .items
                        .get(key.as_str())
                        .and_then(|(sku, _)| sku.as_deref())
                        .map(Key::Sku),
                ],
                Change::Level { key, row } => [
                    Some(Key::Level(key.as_str())),
                    row.as_ref().map(|r| Key::Item(r.item_key.as_str())),
                    prior.level_items.get(key.as_str()).map(|i| Key::Item(i)),
                ],
                Change::Picture { .. } | Change::Lookup { .. } => return None,
            };
            for key in keys.into_iter().flatten() {
                match owner.entry(key) {
                    Entry::Occupied(other) => union(&mut parent, index, *other.get()),
                    Entry::Vacant(slot) => {
                        slot.insert(index);
                    }
                }
            }
        }
    }
    // Each group of tied transactions goes, whole, to the lane with the fewest rows so far; the
    // groups are taken largest first, so one large group does not arrive last to a full lane.
    let mut groups: FxHashMap<usize, (Vec<usize>, usize)> = FxHashMap::default();
    for (index, changes) in transactions.iter().enumerate() {
        let group = groups.entry(find(&mut parent, index)).or_default();
        group.0.push(index);
        group.1 += changes.len();
    }
    let mut groups: Vec<(Vec<usize>, usize)> = groups.into_values().collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then(a.0[0].cmp(&b.0[0])));
    let mut sets: Vec<(Vec<usize>, usize)> = vec![(vec![], 0); lanes];
    for (members, rows) in groups {
        let lightest = sets
            .iter_mut()
            .min_by_key(|(_, r)| *r)
            .expect("at least two lanes");
        lightest.0.extend(members);
        lightest.1 += rows;
    }
    let total: usize = sets.iter().map(|(_, rows)| rows).sum();
    if sets.iter().any(|(_, rows)| rows * lanes * 4 < total) {
        return None;
    }
    Some(
        sets.into_iter()
            .map(|(mut members, _)| {
                members.sort_unstable();
                members
            })
            .collect(),
    )
}

fn find(parent: &mut [usize], mut at: usize) -> usize {
    while parent[at] != at {
        parent[at] = parent[parent[at]];
        at = parent[at];
    }
    at
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (a, b) = (find(parent, a), find(parent, b));
    if a != b {
        parent[a.max(b)] = a.min(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{ItemRow, LevelRow, LookupRow, Role};
    use contracts::ItemKey;

    fn level(key: &str, item: &str) -> Change {
        Change::Level {
            key: key.into(),
            row: Some(LevelRow {
                item_key: ItemKey::new(item.to_owned()),
                location_key: None,
                quantity: 1,
            }),
        }
    }

    fn level_gone(key: &str) -> Change {
        Change::Level {
            key: key.into(),
            row: None,
        }
    }

    fn item(key: &str, sku: &str) -> Change {
        Change::Item {
            key: ItemKey::new(key.to_owned()),
            row: Some(ItemRow {
                sku: Some(sku.into()),
                name: key.into(),
                description: None,
                category_key: None,
                price_minor: Some(1000),
                price_includes_vat: true,
                deleted: false,
                quarantine: None,
                image_sha256: None,
                source_updated_at: None,
            }),
        }
    }

    /// [`split`] into two lanes of transactions given as their changes.
    fn split_of(txns: &[Vec<Change>], prior: &Prior) -> Option<Vec<Vec<usize>>> {
        let refs: Vec<&[Change]> = txns.iter().map(Vec::as_slice).collect();
        split(&refs, prior, 2)
    }

    /// The lane (of `lanes`, sets of the transactions' indices) transaction `index` went to.
    fn lane_of(lanes: &[Vec<usize>], index: usize) -> usize {
        lanes.iter().position(|l| l.contains(&index)).unwrap()
    }

    #[test]
    fn independent_transactions_are_spread_evenly_in_commit_order() {
        let txns: Vec<Vec<Change>> = (0..8)
            .map(|i| vec![level(&format!("L{i}"), &format!("I{i}"))])
            .collect();
        let lanes = split_of(&txns, &Prior::default()).unwrap();
        assert_eq!(lanes.len(), 2);
        assert_eq!(lanes[0].len(), 4);
        assert_eq!(lanes[1].len(), 4);
        for lane in &lanes {
            assert!(lane.windows(2).all(|w| w[0] < w[1]), "{lanes:?}");
        }
    }

    #[test]
    fn a_level_row_moving_ties_its_old_item_to_its_new_one() {
        // L1 counted for A in the mirror and now counts for B: whoever sums A or B must see it.
        let txns = vec![
            vec![level("L1", "B")],
            vec![level("L2", "A")],
            vec![level("L3", "B")],
            vec![level("L4", "C")],
            vec![level("L5", "D")],
            vec![level("L6", "E")],
        ];
        let prior = Prior {
            level_items: [("L1".to_owned(), "A".to_owned())].into_iter().collect(),
            ..Prior::default()
        };
        let lanes = split_of(&txns, &prior).unwrap();
        assert_eq!(lane_of(&lanes, 0), lane_of(&lanes, 1));
        assert_eq!(lane_of(&lanes, 0), lane_of(&lanes, 2));
    }

    #[test]
    fn a_deleted_level_row_and_a_row_changed_twice_stay_with_their_item() {
        let txns = vec![
            vec![level_gone("L1")],
            vec![level("L9", "A")],
            vec![level("L2", "X")],
            vec![level("L2", "Y")],
            vec![level("L5", "D")],
            vec![level("L6", "E")],
        ];
        let prior = Prior {
            level_items: [("L1".to_owned(), "A".to_owned())].into_iter().collect(),
            ..Prior::default()
        };
        let lanes = split_of(&txns, &prior).unwrap();
        assert_eq!(lane_of(&lanes, 0), lane_of(&lanes, 1));
        assert_eq!(lane_of(&lanes, 2), lane_of(&lanes, 3));
    }

    #[test]
    fn items_sharing_a_sku_now_or_before_stay_together() {
        let txns = vec![
            vec![item("A", "HAT-1")],
            vec![item("B", "HAT-1")],
            vec![item("C", "HAT-3")],
            vec![item("D", "HAT-4")],
            vec![item("E", "HAT-5")],
            vec![item("F", "HAT-6")],
        ];
        // C had D's SKU before: the flags of HAT-4 depend on both.
        let prior = Prior {
            items: [("C".to_owned(), (Some("HAT-4".to_owned()), false))]
                .into_iter()
                .collect(),
            ..Prior::default()
        };
        let lanes = split_of(&txns, &prior).unwrap();
        assert_eq!(lane_of(&lanes, 0), lane_of(&lanes, 1));
        assert_eq!(lane_of(&lanes, 2), lane_of(&lanes, 3));
    }

    #[test]
    fn lookups_or_one_tied_group_keep_the_batch_whole() {
        let mut txns: Vec<Vec<Change>> = (0..6)
            .map(|i| vec![level(&format!("L{i}"), &format!("I{i}"))])
            .collect();
        txns.push(vec![Change::Lookup {
            role: Role::Locations,
            key: "1".into(),
            row: Some(LookupRow {
                label: None,
                flag: Some(true),
            }),
        }]);
        assert!(split_of(&txns, &Prior::default()).is_none());

        // Every transaction touches item A: one group, nothing to share out.
        let txns: Vec<Vec<Change>> = (0..6).map(|i| vec![level(&format!("L{i}"), "A")]).collect();
        assert!(split_of(&txns, &Prior::default()).is_none());
    }
}
