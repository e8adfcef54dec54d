//! Build-only crate: no code. Its `Cargo.toml` lists, for the crates the three Lambda functions
//! share, the union of the features they use, so that `sam build`'s separate builds of the
//! functions compile each shared crate once (see the comment there).
