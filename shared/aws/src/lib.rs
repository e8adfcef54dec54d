//! optout-aws
