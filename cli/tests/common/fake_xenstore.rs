//! The fake xenstore lives in the integration harness, shared with the differential test.
#[allow(unused_imports)] // each test file uses a different part
pub use brouter_integration::fake_xenstore::FakeXenstore;
