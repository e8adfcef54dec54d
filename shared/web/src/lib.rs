//! optout-web
