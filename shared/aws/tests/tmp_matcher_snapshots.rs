// Temporary runner while tests/emulators/dynamo.rs is being edited by someone else.
#[path = "emulators/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;
#[path = "emulators/matcher_snapshots.rs"]
mod matcher_snapshots;
