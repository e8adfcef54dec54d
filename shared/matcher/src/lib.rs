//! optout-matcher
