//! What the stock staff do next: the kinds of transaction, their mix, and the simulator's memory of
//! which items it may touch. Planning is sequential and uses only the seeded generator, so a seed
//! replays the same work against the same starting data; executing the plan is `apply.rs`'s job.
//!
//! Items that a transaction will delete or bring back are taken out of the lists while it runs and
//! put back where they belong when it ends, so two transactions never fight over one item's life.

use rand::{Rng, seq::IndexedRandom};
use time::PrimitiveDateTime;

use crate::legacy::{
    catalog::{LOCATIONS, MAIN, NEW_ITEM_COLOURS, NEW_ITEM_KINDS, OVERFLOW, RETURNS, SHOP, traps},
    pictures::{Look, PictureFormat, PictureSpec},
};

/// A kind of stock-staff transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Goods in: a level goes up (and the item's `updated_at` is touched, as the goods-in screen does).
    GoodsReceived,
    /// Units move between two locations: two level rows in one transaction.
    Move,
    /// A stock take sets a level outright, sometimes below zero.
    Correction,
    /// A location row is deleted rather than set to zero.
    LevelDeleted,
    /// A new item, with a level or two and sometimes a picture.
    NewItem,
    PriceChange,
    /// A new picture, or (now and then) the picture removed.
    ImageReplaced,
    SoftDeleted,
    Undeleted,
    /// The item and its levels deleted outright.
    HardDeleted,
    /// A hard-deleted item inserted again with the same id.
    Reinserted,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::GoodsReceived,
        Kind::Move,
        Kind::Correction,
        Kind::LevelDeleted,
        Kind::NewItem,
        Kind::PriceChange,
        Kind::ImageReplaced,
        Kind::SoftDeleted,
        Kind::Undeleted,
        Kind::HardDeleted,
        Kind::Reinserted,
    ];

    /// Relative frequency, out of 100.
    fn weight(self) -> u32 {
        match self {
            Kind::GoodsReceived => 24,
            Kind::Move => 16,
            Kind::Correction => 14,
            Kind::LevelDeleted => 5,
            Kind::NewItem => 8,
            Kind::PriceChange => 10,
            Kind::ImageReplaced => 5,
            Kind::SoftDeleted => 5,
            Kind::Undeleted => 4,
            Kind::HardDeleted => 4,
            Kind::Reinserted => 5,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::GoodsReceived => "goods received",
            Kind::Move => "move between locations",
            Kind::Correction => "stock correction",
            Kind::LevelDeleted => "location row deleted",
            Kind::NewItem => "new item",
            Kind::PriceChange => "price change",
            Kind::ImageReplaced => "image replaced",
            Kind::SoftDeleted => "item soft-deleted",
            Kind::Undeleted => "item undeleted",
            Kind::HardDeleted => "item hard-deleted",
            Kind::Reinserted => "item re-inserted",
        }
    }

    fn choose(rng: &mut impl Rng) -> Kind {
        let mut roll = rng.random_range(0..Kind::ALL.iter().map(|k| k.weight()).sum::<u32>());
        for kind in Kind::ALL {
            if roll < kind.weight() {
                return kind;
            }
            roll -= kind.weight();
        }
        Kind::GoodsReceived
    }
}

/// An item row as read before a hard delete, to insert again later with the same id.
#[derive(Clone, Debug)]
pub struct SavedItem {
    pub id: u64,
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub category_id: Option<u32>,
    pub price: String,
    pub vat_included: bool,
    pub image: Option<Vec<u8>>,
    pub image_mime: Option<String>,
    pub supplier_note: Option<String>,
    pub created_at: PrimitiveDateTime,
}

/// A new item's attributes (its id comes from the app's sequence when it is inserted).
#[derive(Clone, Debug)]
pub struct NewItem {
    pub name: String,
    pub sku_prefix: &'static str,
    pub description: Option<String>,
    pub category_id: u32,
    pub price: String,
    pub levels: Vec<(u32, i32)>,
    pub picture: Option<PictureSpec>,
}

/// How a price changes.
#[derive(Clone, Debug)]
pub enum PriceChange {
    /// Set to this `DECIMAL(12,4)` text.
    SetTo(String),
    /// Multiply by this factor (text such as "1.05") and round to pennies, in SQL.
    Scale(&'static str),
}

/// One planned transaction with its targets chosen.
#[derive(Clone, Debug)]
pub enum Job {
    GoodsReceived {
        item: u64,
        location: u32,
        quantity: i32,
    },
    /// Moves part of the stock of one of the item's positive levels (`pick` chooses which) to `to`.
    Move {
        item: u64,
        pick: u32,
        to: u32,
        share: f64,
    },
    Correction {
        item: u64,
        location: u32,
        quantity: i32,
    },
    /// Deletes one of the item's level rows (`pick` chooses which).
    LevelDeleted {
        item: u64,
        pick: u32,
    },
    NewItem(Box<NewItem>),
    PriceChange {
        item: u64,
        change: PriceChange,
    },
    /// `None`: the picture is removed.
    ImageReplaced {
        item: u64,
        picture: Option<PictureSpec>,
    },
    SoftDeleted {
        item: u64,
    },
    Undeleted {
        item: u64,
    },
    HardDeleted {
        item: u64,
    },
    Reinserted {
        saved: Box<SavedItem>,
        quantity: i32,
    },
}

impl Job {
    pub fn kind(&self) -> Kind {
        match self {
            Job::GoodsReceived { .. } => Kind::GoodsReceived,
            Job::Move { .. } => Kind::Move,
            Job::Correction { .. } => Kind::Correction,
            Job::LevelDeleted { .. } => Kind::LevelDeleted,
            Job::NewItem(_) => Kind::NewItem,
            Job::PriceChange { .. } => Kind::PriceChange,
            Job::ImageReplaced { .. } => Kind::ImageReplaced,
            Job::SoftDeleted { .. } => Kind::SoftDeleted,
            Job::Undeleted { .. } => Kind::Undeleted,
            Job::HardDeleted { .. } => Kind::HardDeleted,
            Job::Reinserted { .. } => Kind::Reinserted,
        }
    }
}

/// What happened to a job's item, for [`World::finish`].
pub enum Ending {
    /// Committed; for a new item, its id; for a hard delete, the row as it was.
    Committed {
        new_id: Option<u64>,
        saved: Option<Box<SavedItem>>,
    },
    /// Gave up after the retry: the item goes back where it was.
    Failed,
}

/// The simulator's view of the items it may work on. The trap items of the demo data are never in
/// it (see [`traps::FROZEN`]); [`traps::BIG_KEY`] is, but is never deleted.
#[derive(Debug, Default)]
pub struct World {
    /// Live items: levels, prices and pictures change; they may be deleted.
    active: Vec<u64>,
    soft_deleted: Vec<u64>,
    hard_deleted: Vec<SavedItem>,
}

impl World {
    /// From the `(id, is_deleted)` of every item, in id order.
    pub fn new(items: impl IntoIterator<Item = (u64, bool)>) -> Self {
        let mut world = World::default();
        for (id, deleted) in items {
            if traps::FROZEN.contains(&id) {
                continue;
            }
            if deleted {
                world.soft_deleted.push(id)
            } else {
                world.active.push(id)
            }
        }
        world
    }

    pub fn active_items(&self) -> usize {
        self.active.len()
    }

    /// Chooses the next transaction. Never fails: a kind with nothing to act on becomes another kind.
    pub fn plan(&mut self, rng: &mut impl Rng) -> Job {
        let kind = Kind::choose(rng);
        self.plan_kind(kind, rng)
    }

    fn plan_kind(&mut self, kind: Kind, rng: &mut impl Rng) -> Job {
        let Some(&item) = self.active.choose(rng) else {
            return Job::NewItem(Box::new(new_item(rng)));
        };
        match kind {
            Kind::GoodsReceived => {
                let location = *[MAIN, MAIN, MAIN, SHOP, OVERFLOW]
                    .choose(rng)
                    .unwrap_or(&MAIN);
                Job::GoodsReceived {
                    item,
                    location,
                    quantity: rng.random_range(1..=48),
                }
            }
            Kind::Move => {
                let to = *[SHOP, SHOP, MAIN, OVERFLOW, RETURNS]
                    .choose(rng)
                    .unwrap_or(&SHOP);
                Job::Move {
                    item,
                    pick: rng.random(),
                    to,
                    share: rng.random_range(0.1..=1.0),
                }
            }
            Kind::Correction => {
                let location = LOCATIONS[rng.random_range(0..LOCATIONS.len())].id;
                let quantity = if rng.random_bool(0.12) {
                    rng.random_range(-5..=-1)
                } else {
                    rng.random_range(0..=60)
                };
                Job::Correction {
                    item,
                    location,
                    quantity,
                }
            }
            Kind::LevelDeleted => Job::LevelDeleted {
                item,
                pick: rng.random(),
            },
            Kind::NewItem => Job::NewItem(Box::new(new_item(rng))),
            Kind::PriceChange => Job::PriceChange {
                item,
                change: price_change(rng),
            },
            Kind::ImageReplaced => {
                let look = NEW_ITEM_KINDS
                    .choose(rng)
                    .map_or(Look::Bowler, |kind| kind.2);
                let picture = rng.random_bool(0.85).then(|| small_picture(look, rng));
                Job::ImageReplaced { item, picture }
            }
            Kind::SoftDeleted => match self.take_deletable(rng) {
                Some(item) => Job::SoftDeleted { item },
                None => self.plan_kind(Kind::NewItem, rng),
            },
            Kind::Undeleted => match take_random(&mut self.soft_deleted, rng) {
                Some(item) => Job::Undeleted { item },
                None => self.plan_kind(Kind::SoftDeleted, rng),
            },
            Kind::HardDeleted => match self.take_deletable(rng) {
                Some(item) => Job::HardDeleted { item },
                None => self.plan_kind(Kind::NewItem, rng),
            },
            Kind::Reinserted => match take_random(&mut self.hard_deleted, rng) {
                Some(saved) => Job::Reinserted {
                    saved: Box::new(saved),
                    quantity: rng.random_range(1..=20),
                },
                None => self.plan_kind(Kind::HardDeleted, rng),
            },
        }
    }

    /// A live item that may be deleted (not the big-key trap item), taken out of the live list.
    fn take_deletable(&mut self, rng: &mut impl Rng) -> Option<u64> {
        let candidates: Vec<usize> = (0..self.active.len())
            .filter(|&i| self.active[i] != traps::BIG_KEY)
            .collect();
        let &index = candidates.choose(rng)?;
        Some(self.active.remove(index))
    }

    /// Puts a finished job's item where it now belongs.
    pub fn finish(&mut self, job: Job, ending: Ending) {
        match (job, ending) {
            (
                Job::NewItem(_),
                Ending::Committed {
                    new_id: Some(id), ..
                },
            ) => self.active.push(id),
            (Job::SoftDeleted { item }, Ending::Committed { .. }) => self.soft_deleted.push(item),
            (Job::SoftDeleted { item }, Ending::Failed) => self.active.push(item),
            (Job::Undeleted { item }, Ending::Committed { .. }) => self.active.push(item),
            (Job::Undeleted { item }, Ending::Failed) => self.soft_deleted.push(item),
            (
                Job::HardDeleted { .. },
                Ending::Committed {
                    saved: Some(saved), ..
                },
            ) => self.hard_deleted.push(*saved),
            // Committed without a row (someone else deleted it first) or failed: nothing to bring back,
            // or the item is still there.
            (Job::HardDeleted { item }, Ending::Failed) => self.active.push(item),
            (Job::Reinserted { saved, .. }, Ending::Committed { .. }) => self.active.push(saved.id),
            (Job::Reinserted { saved, .. }, Ending::Failed) => self.hard_deleted.push(*saved),
            _ => {}
        }
    }
}

fn take_random<T>(list: &mut Vec<T>, rng: &mut impl Rng) -> Option<T> {
    if list.is_empty() {
        return None;
    }
    let index = rng.random_range(0..list.len());
    Some(list.remove(index))
}

fn new_item(rng: &mut impl Rng) -> NewItem {
    let colour = NEW_ITEM_COLOURS.choose(rng).copied().unwrap_or("Plain");
    let &(kind, sku_prefix, look, category_id) =
        NEW_ITEM_KINDS.choose(rng).unwrap_or(&NEW_ITEM_KINDS[0]);
    let edition = if rng.random_bool(0.15) {
        " (Limited Edition)"
    } else {
        ""
    };
    let mut levels = vec![(MAIN, rng.random_range(0..=60))];
    if rng.random_bool(0.5) {
        levels.push((SHOP, rng.random_range(1..=6)));
    }
    NewItem {
        name: format!("{colour} {kind}{edition}"),
        sku_prefix,
        description: rng.random_bool(0.8).then(|| {
            format!(
                "Our {} {}, new this season.",
                colour.to_lowercase(),
                kind.to_lowercase()
            )
        }),
        category_id,
        price: random_price(rng),
        levels,
        picture: rng.random_bool(0.4).then(|| small_picture(look, rng)),
    }
}

fn price_change(rng: &mut impl Rng) -> PriceChange {
    match rng.random_range(0..10) {
        0..=6 => PriceChange::SetTo(random_price(rng)),
        7 | 8 => PriceChange::Scale(
            ["1.05", "1.10", "0.90", "0.75"]
                .choose(rng)
                .copied()
                .unwrap_or("1.05"),
        ),
        // Typed from a supplier's sheet, with four decimals.
        _ => PriceChange::SetTo(format!(
            "{}.{:04}",
            rng.random_range(3..80),
            rng.random_range(0..10_000)
        )),
    }
}

/// A shop price: pounds and .99, .50 or .00, as `DECIMAL(12,4)` text.
fn random_price(rng: &mut impl Rng) -> String {
    let pence = ["9900", "5000", "0000", "4900"]
        .choose(rng)
        .copied()
        .unwrap_or("9900");
    format!("{}.{pence}", rng.random_range(3..120))
}

/// Staff pictures are phone-sized: 600–900 px, mostly JPEG.
fn small_picture(look: Look, rng: &mut impl Rng) -> PictureSpec {
    let format = if rng.random_bool(0.8) {
        PictureFormat::Jpeg
    } else {
        PictureFormat::Png
    };
    let width = rng.random_range(600..=900);
    let height = rng.random_range(600..=900);
    PictureSpec {
        look,
        format,
        width,
        height,
        seed: rng.random(),
    }
}

/// The SKU the demo data's scheme gives an item: `FH-<kind>-<id>`.
pub fn sku(prefix: &str, id: u64) -> String {
    format!("FH-{prefix}-{id:04}")
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::legacy::catalog;

    fn demo_world() -> World {
        World::new(
            catalog::HATS
                .iter()
                .map(|h| (h.id, h.id == traps::SOFT_DELETED)),
        )
    }

    #[test]
    fn trap_items_are_never_planned() {
        let mut world = demo_world();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..2000 {
            let job = world.plan(&mut rng);
            let item = match &job {
                Job::GoodsReceived { item, .. }
                | Job::Move { item, .. }
                | Job::Correction { item, .. }
                | Job::LevelDeleted { item, .. }
                | Job::PriceChange { item, .. }
                | Job::ImageReplaced { item, .. }
                | Job::SoftDeleted { item }
                | Job::Undeleted { item }
                | Job::HardDeleted { item } => Some(*item),
                Job::Reinserted { saved, .. } => Some(saved.id),
                Job::NewItem(_) => None,
            };
            if let Some(item) = item {
                assert!(!traps::FROZEN.contains(&item), "{job:?}");
            }
            if matches!(job, Job::SoftDeleted { .. } | Job::HardDeleted { .. }) {
                assert!(item != Some(traps::BIG_KEY));
            }
            let ending = match &job {
                Job::HardDeleted { item } => Ending::Committed {
                    new_id: None,
                    saved: Some(Box::new(saved(*item))),
                },
                Job::NewItem(_) => Ending::Committed {
                    new_id: Some(1000 + rng.random_range(0..100_000)),
                    saved: None,
                },
                _ => Ending::Committed {
                    new_id: None,
                    saved: None,
                },
            };
            world.finish(job, ending);
        }
    }

    #[test]
    fn the_same_seed_plans_the_same_work() {
        let plan = |seed| {
            let mut world = demo_world();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..50)
                .map(|_| format!("{:?}", world.plan(&mut rng)))
                .collect::<Vec<_>>()
        };
        assert_eq!(plan(9), plan(9));
        assert_ne!(plan(9), plan(10));
    }

    #[test]
    fn every_kind_is_planned() {
        let mut world = demo_world();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let job = world.plan(&mut rng);
            seen.insert(job.kind());
            let ending = match &job {
                Job::HardDeleted { item } => Ending::Committed {
                    new_id: None,
                    saved: Some(Box::new(saved(*item))),
                },
                _ => Ending::Committed {
                    new_id: None,
                    saved: None,
                },
            };
            world.finish(job, ending);
        }
        assert_eq!(seen.len(), Kind::ALL.len(), "{seen:?}");
    }

    fn saved(id: u64) -> SavedItem {
        SavedItem {
            id,
            sku: sku("TST", id),
            name: "Test Hat".into(),
            description: None,
            category_id: Some(1),
            price: "1.0000".into(),
            vat_included: true,
            image: None,
            image_mime: None,
            supplier_note: None,
            created_at: time::macros::datetime!(2020-01-01 00:00),
        }
    }
}
