//! The demo catalogue: categories, locations and the hand-written list of hats (names, SKUs, prices,
//! descriptions), with the trap items pinned by id so tests can find them. Seeded choices (stock
//! levels, timestamps, picture formats and sizes) are made in [`demo_rows`]. Pure data: no I/O.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use time::{Duration, PrimitiveDateTime, macros::datetime};

use super::pictures::{Look, PictureFormat, PictureSpec};

/// Item ids of the trap rows. The simulator leaves every one of them alone except [`BIG_KEY`]
/// (whose levels and price it may change, but which it never deletes), so the trap tests stay true
/// while it runs.
pub mod traps {
    /// The item imported with its supplier's id: above 2^63, so it does not fit an `i64`.
    pub const BIG_KEY: u64 = 9_223_372_036_854_775_817;
    /// Price 19.9950: sub-penny digits.
    pub const SUB_PENNY_PRICE: u64 = 21;
    /// Its shop-floor level is negative.
    pub const NEGATIVE_LEVEL: u64 = 9;
    /// Holds stock in RETURNS (not sellable).
    pub const RETURNS_STOCK: u64 = 11;
    /// Picture is a CMYK JPEG (Adobe APP14, four components).
    pub const CMYK_JPEG: u64 = 14;
    /// Soft-deleted (`is_deleted = 1`).
    pub const SOFT_DELETED: u64 = 15;
    /// Picture is a noisy PNG over 16 MiB.
    pub const HUGE_PICTURE: u64 = 18;
    /// Picture is a JPEG stored rotated, with EXIF orientation 6.
    pub const EXIF_ROTATED: u64 = 20;
    /// `supplier_note` (latin1 column) is "Café Müller supplies".
    pub const LATIN1_NOTE: u64 = 24;
    /// Name contains `<script>alert(1)</script>`.
    pub const SCRIPT_NAME: u64 = 36;
    /// Name contains an emoji: "Party Hat 🎉".
    pub const EMOJI_NAME: u64 = 37;
    /// Picture is a PNG with a transparent background.
    pub const ALPHA_PNG: u64 = 53;
    /// Shares its SKU with [`DUPLICATE_SKU_B`].
    pub const DUPLICATE_SKU_A: u64 = 58;
    /// Shares its SKU with [`DUPLICATE_SKU_A`].
    pub const DUPLICATE_SKU_B: u64 = 59;
    /// `description IS NULL`.
    pub const NULL_DESCRIPTION: u64 = 62;
    /// No picture (`image IS NULL`).
    pub const NO_IMAGE: u64 = 65;

    /// Trap items the simulator never touches at all.
    pub const FROZEN: [u64; 15] = [
        SUB_PENNY_PRICE,
        NEGATIVE_LEVEL,
        RETURNS_STOCK,
        CMYK_JPEG,
        SOFT_DELETED,
        HUGE_PICTURE,
        EXIF_ROTATED,
        LATIN1_NOTE,
        SCRIPT_NAME,
        EMOJI_NAME,
        ALPHA_PNG,
        DUPLICATE_SKU_A,
        DUPLICATE_SKU_B,
        NULL_DESCRIPTION,
        NO_IMAGE,
    ];
}

/// The latin1 supplier note of [`traps::LATIN1_NOTE`].
pub const LATIN1_NOTE_TEXT: &str = "Café Müller supplies";
/// The price of [`traps::SUB_PENNY_PRICE`], as stored.
pub const SUB_PENNY_PRICE_TEXT: &str = "19.9950";
/// The shop-floor quantity of [`traps::NEGATIVE_LEVEL`].
pub const NEGATIVE_QUANTITY: i32 = -3;
/// The first id the app's sequence hands out after the demo load.
pub const FIRST_NEW_ITEM_ID: u64 = 100;

/// A category row.
#[derive(Clone, Copy, Debug)]
pub struct Category {
    pub id: u32,
    pub slug: &'static str,
    pub name: &'static str,
}

#[rustfmt::skip]
pub const CATEGORIES: [Category; 7] = [
    Category { id: 1, slug: "classic", name: "Classic Hats" },
    Category { id: 2, slug: "party", name: "Party & Novelty" },
    Category { id: 3, slug: "sun", name: "Sun & Summer" },
    Category { id: 4, slug: "winter", name: "Winter Warmers" },
    Category { id: 5, slug: "caps", name: "Caps" },
    Category { id: 6, slug: "costume", name: "Costume & Fancy Dress" },
    Category { id: 7, slug: "western", name: "Western" },
];

const CLASSIC: u32 = 1;
const PARTY: u32 = 2;
const SUN: u32 = 3;
const WINTER: u32 = 4;
const CAPS: u32 = 5;
const COSTUME: u32 = 6;
const WESTERN: u32 = 7;

/// A location row.
#[derive(Clone, Copy, Debug)]
pub struct Location {
    pub id: u32,
    pub code: &'static str,
    pub name: &'static str,
    pub sellable: bool,
}

pub const MAIN: u32 = 1;
pub const SHOP: u32 = 2;
pub const OVERFLOW: u32 = 3;
pub const RETURNS: u32 = 4;

#[rustfmt::skip]
pub const LOCATIONS: [Location; 4] = [
    Location { id: MAIN, code: "MAIN", name: "Main warehouse", sellable: true },
    Location { id: SHOP, code: "SHOP", name: "Shop floor", sellable: true },
    Location { id: OVERFLOW, code: "OVERFLOW", name: "Overflow (garage)", sellable: true },
    Location { id: RETURNS, code: "RETURNS", name: "Returns & damaged", sellable: false },
];

/// A hand-written catalogue entry.
#[derive(Clone, Copy, Debug)]
pub struct Hat {
    pub id: u64,
    pub sku: &'static str,
    pub name: &'static str,
    pub category_id: u32,
    pub look: Look,
    /// As stored in `DECIMAL(12,4)`, as text so no float is involved.
    pub price: &'static str,
    pub vat_included: bool,
    pub description: Option<&'static str>,
    /// Must be encodable in latin1.
    pub supplier_note: Option<&'static str>,
}

impl Hat {
    const fn note(mut self, note: &'static str) -> Hat {
        self.supplier_note = Some(note);
        self
    }

    /// A trade price: VAT is added on top (`vat_included = 0`).
    const fn trade_price(mut self) -> Hat {
        self.vat_included = false;
        self
    }

    const fn no_description(mut self) -> Hat {
        self.description = None;
        self
    }
}

/// A hat with its price including VAT, a description and no supplier note.
const fn hat(
    id: u64,
    sku: &'static str,
    name: &'static str,
    category_id: u32,
    look: Look,
    price: &'static str,
    description: &'static str,
) -> Hat {
    Hat {
        id,
        sku,
        name,
        category_id,
        look,
        price,
        vat_included: true,
        description: Some(description),
        supplier_note: None,
    }
}

/// Every hat of the demo shop. Ids 13, 27 and 41 were deleted years ago (gaps are normal).
#[rustfmt::skip]
pub const HATS: &[Hat] = &[
    hat(1, "FH-BWL-0001", "Classic Black Bowler", CLASSIC, Look::Bowler, "34.9900",
        "Hard felt bowler with a grosgrain band. The hat that built the City of London.").note("Hatters & Co, Luton"),
    hat(2, "FH-BWL-0002", "Charlie Chaplin Bowler", COSTUME, Look::Bowler, "29.9900",
        "Slightly battered on purpose. Cane and moustache not included."),
    hat(3, "FH-FED-0001", "Grey Felt Fedora", CLASSIC, Look::Fedora, "49.0000",
        "Wool felt, pinched crown, 6 cm brim. Snaps down at the front, as it should.").note("Hatters & Co, Luton"),
    hat(4, "FH-FED-0002", "Gangster Pinstripe Fedora", COSTUME, Look::Fedora, "39.5000",
        "Pinstripe fedora for 1920s parties. Violin case sold separately."),
    hat(5, "FH-TRB-0001", "Brown Tweed Trilby", CLASSIC, Look::Fedora, "42.0000",
        "Short-brimmed tweed trilby. Wears well at the races and in the rain."),
    hat(6, "FH-PAN-0001", "Panama Straw Hat", SUN, Look::Fedora, "79.0000",
        "Hand-woven toquilla straw from Ecuador (yes, \"Panama\" hats come from Ecuador).").note("Sombreros García S.A."),
    hat(7, "FH-PAN-0002", "Rolled Panama Traveller", SUN, Look::Fedora, "89.0000",
        "Rolls up into its own tube for the suitcase, springs back into shape."),
    hat(8, "FH-BEA-0001", "Chunky Knit Beanie", WINTER, Look::Beanie, "14.9900",
        "Chunky rib knit, turn-up cuff. 100% acrylic, 100% cosy."),
    hat(traps::NEGATIVE_LEVEL, "FH-BEA-0002", "Propeller Beanie", PARTY, Look::Propeller, "12.5000",
        "Four-panel beanie with a working propeller. Take-off not guaranteed."),
    hat(10, "FH-BEA-0003", "Bobble Beanie with Pom-Pom", WINTER, Look::Bobble, "16.9900",
        "Knitted beanie with an oversized pom-pom.\nHand wash only."),
    hat(traps::RETURNS_STOCK, "FH-CAP-0001", "Harris Tweed Flat Cap", CAPS, Look::FlatCap, "45.0000",
        "Genuine Harris Tweed, quilted lining. Whippet not included.").note("Hatters & Co, Luton"),
    hat(12, "FH-CAP-0002", "Peaky Newsboy Cap", CAPS, Look::FlatCap, "27.5000",
        "Eight-panel newsboy cap with a button top. By order of the Peaky Blinders."),
    hat(traps::CMYK_JPEG, "FH-TOP-0001", "Victorian Silk Top Hat", CLASSIC, Look::TopHat, "119.0000",
        "Tall silk plush top hat, hand-finished. For weddings, Ascot and villainy."),
    hat(traps::SOFT_DELETED, "FH-TOP-0002", "Mini Top Hat on a Clip", PARTY, Look::TopHat, "9.9900",
        "A tiny top hat on a hair clip. Discontinued: the clips kept breaking."),
    hat(16, "FH-TOP-0003", "Mad Hatter Top Hat", COSTUME, Look::TopHat, "34.0000",
        "Oversized, with a 10/6 price card in the band. Tea party ready."),
    hat(17, "FH-SOM-0001", "Mariachi Sombrero", COSTUME, Look::Sombrero, "44.9900",
        "Embroidered felt sombrero with a 60 cm brim.").note("Sombreros García S.A."),
    hat(traps::HUGE_PICTURE, "FH-SOM-0002", "Giant Fiesta Sombrero", PARTY, Look::Sombrero, "59.9900",
        "One metre across. Doubles as a patio umbrella. Mind the door frame.").note("Sombreros García S.A."),
    hat(19, "FH-CBY-0001", "Leather Cowboy Hat", WESTERN, Look::Cowboy, "89.9900",
        "Oiled leather, shapeable brim, braided band."),
    hat(traps::EXIF_ROTATED, "FH-CBY-0002", "Rodeo Straw Cowboy Hat", WESTERN, Look::Cowboy, "39.9900",
        "Vented straw cowboy hat for hot days at the rodeo."),
    hat(traps::SUB_PENNY_PRICE, "FH-CBY-0003", "Pink Glitter Cowboy Hat", PARTY, Look::Cowboy, SUB_PENNY_PRICE_TEXT,
        "Hen party essential. Sheds glitter for weeks.").note("Price from supplier sheet, 4dp"),
    hat(22, "FH-DRS-0001", "Sherlock Deerstalker", COSTUME, Look::Deerstalker, "38.0000",
        "Houndstooth deerstalker with tied ear flaps. Elementary."),
    hat(23, "FH-DRS-0002", "Wool Deerstalker", CLASSIC, Look::Deerstalker, "55.0000",
        "Proper country tweed deerstalker, made in Scotland."),
    hat(traps::LATIN1_NOTE, "FH-BRT-0001", "French Wool Beret", CLASSIC, Look::Beret, "19.5000",
        "Classic Basque beret in soft merino. Onions not supplied.").note(LATIN1_NOTE_TEXT),
    hat(25, "FH-BRT-0002", "Military Beret", COSTUME, Look::Beret, "17.9900",
        "Shaped beret with a leather sweatband. Costume use only."),
    hat(26, "FH-CAP-0003", "Baseball Cap \"I'm With Stupid\"", CAPS, Look::BaseballCap, "12.9900",
        "Embroidered slogan, adjustable strap. Arrow points left."),
    hat(28, "FH-CAP-0004", "Trucker Cap with Mesh Back", CAPS, Look::BaseballCap, "11.9900",
        "Foam front, mesh back, snapback. Ironic or not, your call."),
    hat(29, "FH-BKT-0001", "Fisherman's Bucket Hat", SUN, Look::Bucket, "18.9900",
        "Waxed cotton bucket hat. Keeps the drizzle off."),
    hat(30, "FH-BKT-0002", "Reversible Festival Bucket Hat", SUN, Look::Bucket, "21.0000",
        "Tie-dye one side, plain black the other, for the morning after."),
    hat(31, "FH-FEZ-0001", "Red Felt Fez", COSTUME, Look::Fez, "22.0000",
        "Moulded felt fez with a black tassel. Fezzes are cool."),
    hat(32, "FH-FEZ-0002", "\"Just Like That\" Tassel Fez", COSTUME, Look::Fez, "24.9900",
        "Comedy fez with an extra-long tassel. Magic tricks sold separately."),
    hat(33, "FH-BOA-0001", "Straw Boater", SUN, Look::Boater, "36.0000",
        "Stiff sennit straw boater with a striped ribbon. Punting essential."),
    hat(34, "FH-BOA-0002", "Barbershop Quartet Boater", COSTUME, Look::Boater, "32.0000",
        "Red and white striped band. Buy four & save."),
    hat(35, "FH-JST-0001", "Jester Hat with Bells", COSTUME, Look::Jester, "18.5000",
        "Three-point jester hat with jingling bells. Not for libraries."),
    hat(traps::SCRIPT_NAME, "FH-JST-0002", "Jester Hat <script>alert(1)</script>", COSTUME, Look::Jester, "18.5000",
        "Somebody tested the admin form in production. The name stayed."),
    hat(traps::EMOJI_NAME, "FH-PTY-0001", "Party Hat 🎉", PARTY, Look::PartyCone, "3.9900",
        "Card cone party hat with elastic strap. Pack of one. 🎈"),
    hat(38, "FH-PTY-0002", "Birthday Cone Hats (pack of 6)", PARTY, Look::PartyCone, "7.4900",
        "Six assorted card cones. Trade price, VAT added at checkout.").trade_price(),
    hat(39, "FH-WIZ-0001", "Wizard Hat with Stars", COSTUME, Look::Wizard, "21.9900",
        "Tall velvet wizard hat with gold stars. You're a wizard."),
    hat(40, "FH-WIZ-0002", "Witch Hat", COSTUME, Look::Wizard, "16.9900",
        "Wide-brimmed pointy witch hat. Broomstick not included."),
    hat(42, "FH-PIR-0001", "Pirate Tricorn", COSTUME, Look::Bowler, "26.0000",
        "Black tricorn with gold trim. Arr."),
    hat(43, "FH-CAP-0005", "Captain's Peaked Cap", COSTUME, Look::BaseballCap, "28.0000",
        "White peaked cap with an anchor badge. Ship not included."),
    hat(44, "FH-CHF-0001", "Chef's Toque", COSTUME, Look::Toque, "15.0000",
        "Pleated cotton toque blanche, adjustable. 100 pleats, 100 ways to cook an egg."),
    hat(45, "FH-PPH-0001", "Pork Pie Hat", CLASSIC, Look::Fedora, "46.0000",
        "Flat-topped felt pork pie with a short brim. Ska, jazz or Breaking Bad."),
    hat(46, "FH-HOM-0001", "Black Homburg", CLASSIC, Look::Fedora, "68.0000",
        "Stiff felt homburg with a curled, bound brim."),
    hat(47, "FH-CLO-0001", "Felt Cloche Hat", CLASSIC, Look::Bowler, "39.0000",
        "1920s bell-shaped cloche in soft wool felt."),
    hat(48, "FH-USH-0001", "Ushanka Trapper Hat", WINTER, Look::Bobble, "49.9900",
        "Faux-fur ushanka with ear flaps that tie up or down."),
    hat(49, "FH-AVI-0001", "Aviator Leather Helmet", COSTUME, Look::Helmet, "54.0000",
        "Leather flying helmet with goggles. Chocks away!"),
    hat(50, "FH-SAF-0001", "Safari Pith Helmet", SUN, Look::Helmet, "42.5000",
        "Cork pith helmet covered in khaki cotton."),
    hat(51, "FH-TAM-0001", "Tartan Tam o' Shanter", CLASSIC, Look::Beret, "29.0000",
        "Wool tam in Royal Stewart tartan with a red toorie on top."),
    hat(52, "FH-VIK-0001", "Viking Helmet with Horns", PARTY, Look::Viking, "19.9900",
        "Plastic Viking helmet with horns. Historically inaccurate, proudly."),
    hat(traps::ALPHA_PNG, "FH-CRN-0001", "Crown of the Office Party King", PARTY, Look::Crown, "8.9900",
        "Gold card crown with plastic jewels. Long live the king."),
    hat(54, "FH-CRN-0002", "Tiara of Questionable Taste", PARTY, Look::Crown, "6.9900",
        "Rhinestone tiara. Questionable, tasteful? You decide."),
    hat(55, "FH-NOV-0001", "Foam Cheese Wedge Hat", PARTY, Look::CheeseWedge, "24.0000",
        "A wedge of foam cheese for your head. Go Pack Go."),
    hat(56, "FH-NOV-0002", "Rubber Chicken Hat", PARTY, Look::Helmet, "17.0000",
        "A whole rubber chicken, worn as a hat. Squeaks."),
    hat(57, "FH-NOV-0003", "Unicorn Horn Headband", PARTY, Look::PartyCone, "9.5000",
        "Glittery unicorn horn on a padded headband."),
    hat(traps::DUPLICATE_SKU_A, "FH-XMS-0001", "Santa Hat", WINTER, Look::Santa, "5.9900",
        "Red plush Santa hat with white trim and bobble."),
    hat(traps::DUPLICATE_SKU_B, "FH-XMS-0001", "Santa Hat (Kids)", WINTER, Look::Santa, "4.9900",
        "Smaller Santa hat for children. Copied from the adult one, SKU and all."),
    hat(60, "FH-XMS-0002", "Elf Hat with Ears", WINTER, Look::Santa, "8.4900",
        "Green and red elf hat with stick-out ears."),
    hat(61, "FH-BON-0001", "Easter Bonnet", SUN, Look::Boater, "27.0000",
        "Straw bonnet with silk flowers and a ribbon tie."),
    hat(traps::NULL_DESCRIPTION, "FH-VIS-0001", "Sun Visor", SUN, Look::BaseballCap, "9.0000", "").no_description(),
    hat(63, "FH-HRD-0001", "Novelty Hard Hat", COSTUME, Look::Helmet, "18.0000",
        "Yellow novelty hard hat. Not PPE! Trade price, VAT added at checkout.").trade_price(),
    hat(64, "FH-FAS-0001", "Ascot Fascinator", CLASSIC, Look::Beret, "35.0000",
        "Sinamay disc with feathers on a headband.").note("Chapellerie Élise, Lyon"),
    hat(traps::NO_IMAGE, "FH-BEE-0001", "Beekeeper Hat with Veil", COSTUME, Look::Sombrero, "23.0000",
        "Wide-brimmed hat with a mesh veil. Photo still to come."),
    hat(traps::BIG_KEY, "FH-STN-0001", "Stetson Open Road (imported)", WESTERN, Look::Cowboy, "149.0000",
        "Imported with the supplier's own id. Fur felt, 2½\" brim.").note("Imported from supplier feed"),
];

/// One `stock_levels` row of the demo data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    pub location_id: u32,
    pub quantity: i32,
    pub updated_at: PrimitiveDateTime,
}

/// One `items` row of the demo data, with its levels and how its picture is to be drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemRow {
    pub hat: &'static Hat,
    pub is_deleted: bool,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub picture: Option<PictureSpec>,
    pub levels: Vec<Level>,
}

impl PartialEq for Hat {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// The demo rows for a seed: the same seed gives the same rows.
pub fn demo_rows(seed: u64) -> Vec<ItemRow> {
    HATS.iter().map(|hat| item_row(hat, seed)).collect()
}

fn item_row(hat: &'static Hat, seed: u64) -> ItemRow {
    // One stream per item, so adding a hat does not reshuffle every other item.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(hat.id);

    let created_at = random_time(&mut rng, datetime!(2016-01-04 09:00), 8 * 365);
    let updated_at = created_at + random_offset(&mut rng, 400);
    let picture = picture_for(hat, &mut rng);
    let levels = levels_for(hat, updated_at, &mut rng);
    ItemRow {
        hat,
        is_deleted: hat.id == traps::SOFT_DELETED,
        created_at,
        updated_at,
        picture,
        levels,
    }
}

fn picture_for(hat: &Hat, rng: &mut ChaCha8Rng) -> Option<PictureSpec> {
    let format = match hat.id {
        traps::NO_IMAGE => return None,
        traps::CMYK_JPEG => PictureFormat::CmykJpeg,
        traps::ALPHA_PNG => PictureFormat::AlphaPng,
        traps::EXIF_ROTATED => PictureFormat::ExifRotatedJpeg,
        traps::HUGE_PICTURE => PictureFormat::HugeNoisyPng,
        _ if rng.random_bool(0.2) => PictureFormat::Png,
        _ => PictureFormat::Jpeg,
    };
    Some(PictureSpec::random(hat.look, format, rng))
}

fn levels_for(hat: &Hat, updated_at: PrimitiveDateTime, rng: &mut ChaCha8Rng) -> Vec<Level> {
    let mut levels = Vec::new();
    let mut push = |location_id, quantity, rng: &mut ChaCha8Rng| {
        let at = updated_at + random_offset(rng, 60);
        levels.push(Level {
            location_id,
            quantity,
            updated_at: at,
        });
    };
    if hat.id == traps::NEGATIVE_LEVEL {
        push(MAIN, 24, rng);
        push(SHOP, NEGATIVE_QUANTITY, rng);
        return levels;
    }
    if hat.id == traps::RETURNS_STOCK {
        push(MAIN, 7, rng);
        push(RETURNS, 2, rng);
        return levels;
    }
    if rng.random_bool(0.9) {
        let quantity = rng.random_range(0..=80);
        push(MAIN, quantity, rng);
    }
    if rng.random_bool(0.6) {
        let quantity = rng.random_range(0..=12);
        push(SHOP, quantity, rng);
    }
    if rng.random_bool(0.25) {
        let quantity = rng.random_range(0..=40);
        push(OVERFLOW, quantity, rng);
    }
    if rng.random_bool(0.1) {
        let quantity = rng.random_range(1..=3);
        push(RETURNS, quantity, rng);
    }
    levels
}

/// A time within `days` after `start`, with microseconds.
fn random_time(rng: &mut impl Rng, start: PrimitiveDateTime, days: i64) -> PrimitiveDateTime {
    start + random_offset(rng, days)
}

/// Up to `days` days, never a whole number of seconds (the microseconds are the point).
fn random_offset(rng: &mut impl Rng, days: i64) -> Duration {
    Duration::seconds(rng.random_range(0..days * 86_400))
        + Duration::microseconds(rng.random_range(1..1_000_000))
}

/// Names for items the simulator creates: a colour and a kind of hat, with the look to draw.
pub const NEW_ITEM_COLOURS: &[&str] = &[
    "Teal",
    "Mustard",
    "Burgundy",
    "Navy",
    "Lime",
    "Charcoal",
    "Coral",
    "Olive",
    "Lilac",
    "Tangerine",
    "Cream",
    "Leopard Print",
    "Tartan",
    "Polka Dot",
    "Neon Pink",
];

/// Kinds of hat for new items, with the SKU prefix staff would use.
pub const NEW_ITEM_KINDS: &[(&str, &str, Look, u32)] = &[
    ("Bowler", "BWL", Look::Bowler, 1),
    ("Fedora", "FED", Look::Fedora, 1),
    ("Beanie", "BEA", Look::Beanie, 4),
    ("Bobble Hat", "BEA", Look::Bobble, 4),
    ("Flat Cap", "CAP", Look::FlatCap, 5),
    ("Baseball Cap", "CAP", Look::BaseballCap, 5),
    ("Bucket Hat", "BKT", Look::Bucket, 3),
    ("Top Hat", "TOP", Look::TopHat, 1),
    ("Cowboy Hat", "CBY", Look::Cowboy, 7),
    ("Sombrero", "SOM", Look::Sombrero, 6),
    ("Party Hat", "PTY", Look::PartyCone, 2),
    ("Fez", "FEZ", Look::Fez, 6),
    ("Beret", "BRT", Look::Beret, 1),
    ("Boater", "BOA", Look::Boater, 3),
    ("Crown", "CRN", Look::Crown, 2),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_rows() {
        assert_eq!(demo_rows(42), demo_rows(42));
        assert_ne!(demo_rows(42), demo_rows(43));
    }

    #[test]
    fn ids_are_unique_and_small_but_one() {
        let mut ids: Vec<u64> = HATS.iter().map(|h| h.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), HATS.len());
        let big: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|id| *id >= FIRST_NEW_ITEM_ID)
            .collect();
        assert_eq!(big, [traps::BIG_KEY]);
        const { assert!(traps::BIG_KEY > 1 << 63) };
    }

    #[test]
    fn about_sixty_hats_with_every_trap_pinned() {
        assert!((55..=70).contains(&HATS.len()));
        for id in traps::FROZEN.iter().chain([&traps::BIG_KEY]) {
            assert!(HATS.iter().any(|h| h.id == *id), "trap item {id} missing");
        }
        let sku = |id| HATS.iter().find(|h| h.id == id).unwrap().sku;
        assert_eq!(sku(traps::DUPLICATE_SKU_A), sku(traps::DUPLICATE_SKU_B));
    }

    #[test]
    fn supplier_notes_fit_latin1() {
        for note in HATS.iter().filter_map(|h| h.supplier_note) {
            assert!(
                note.chars().all(|c| (c as u32) < 256),
                "{note} is not latin1"
            );
        }
    }

    #[test]
    fn prices_have_four_decimals() {
        for h in HATS {
            let (_, frac) = h.price.split_once('.').unwrap();
            assert_eq!(frac.len(), 4, "{}", h.price);
        }
    }
}
