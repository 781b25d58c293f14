//! Catalogue pages: what customers browse. Reads schema `stock` (the bridge's replica) only.

pub mod home;
