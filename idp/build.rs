//! `sqlx::migrate!` embeds `migrations/` at compile time; without this, adding a migration file
//! (and nothing else) would not rebuild the server, which would then run without it.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
