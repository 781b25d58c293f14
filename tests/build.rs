//! `sqlx::migrate!` embeds `migrations/` at compile time; without this, adding a migration would not
//! rebuild the crate and the new migration would be missing from the binary.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
