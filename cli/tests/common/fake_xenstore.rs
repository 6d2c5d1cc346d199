//! The fake xenstore lives in the integration harness, shared with the differential test.
pub use brouter_integration::fake_xenstore::FakeXenstore;
