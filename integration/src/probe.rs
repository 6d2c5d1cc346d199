//! Traffic probes: the lab's ([`brouter_lab::probe`]), which take a [`crate::Netns`]
//! directly (it derefs to the lab's namespace handle). Kept under this name so tests say
//! `brouter_integration::probe::…` as before.

pub use brouter_lab::probe::*;
