//! optout-embedded
