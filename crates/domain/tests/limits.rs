//! What the app writes fits the managed Spin platforms' key-value limits.
//! (Kept out of `store`'s own tests: it names modules that use `store`, and
//! the crate's module graph has no cycles.)

use domain::{attachments, store, thread, workspace};

/// The largest values the app writes fit the managed platforms' value
/// limit (1 MB, read as 10^6 bytes), and its keys their key limit
/// (Fermyon Cloud: 255 bytes; every format is checked at its longest in
/// `keys::tests`).
#[test]
fn the_largest_values_fit_the_managed_platforms() {
    assert!(store::PORTABLE_VALUE_BYTES <= store::MAX_VALUE_BYTES);
    assert!(store::MAX_KEY_BYTES <= 255);
    for (what, bytes) in [
        ("file chunk", attachments::CHUNK_BYTES),
        ("stored message", thread::MAX_STORED_MESSAGE_BYTES),
        ("logo", workspace::MAX_LOGO_BYTES),
    ] {
        assert!(
            bytes <= store::PORTABLE_VALUE_BYTES,
            "{what}: {bytes} bytes"
        );
    }
    // A file of the largest size takes whole chunks, each under the limit.
    let chunks = attachments::MAX_FILE_BYTES.div_ceil(attachments::CHUNK_BYTES);
    assert!(chunks <= 9999, "chunk numbers have four digits: {chunks}");
}
