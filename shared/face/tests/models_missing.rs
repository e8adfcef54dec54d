//! Missing or corrupt model files give an error that names the fix.

mod common;

use optout_face::{FaceEngine, ModelError};

#[test]
fn missing_model_dir_names_the_fix() {
    let dir = std::env::temp_dir().join("optout-face-no-models-here");
    let err = FaceEngine::load(&dir).unwrap_err();
    assert!(matches!(err, ModelError::Missing { .. }));
    assert!(err.to_string().contains("scripts/setup-models"), "{err}");
}

#[test]
fn corrupt_model_file_names_the_fix() {
    let src = common::model_dir();
    assert!(
        src.join("sface.nnef.tar").is_file(),
        "prepared models missing in {}: run scripts/setup-models first",
        src.display()
    );
    let dir = std::env::temp_dir().join(format!("optout-face-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["yunet-640.nnef.tar", "yunet-320.nnef.tar"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let sface = std::fs::read(src.join("sface.nnef.tar")).unwrap();
    std::fs::write(dir.join("sface.nnef.tar"), &sface[..sface.len() / 3]).unwrap();
    let err = FaceEngine::load(&dir).unwrap_err();
    std::fs::write(dir.join("sface.nnef.tar"), b"garbage").unwrap();
    let err2 = FaceEngine::load(&dir).unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    for e in [err, err2] {
        assert!(matches!(e, ModelError::Corrupt { .. }), "{e:?}");
        assert!(e.to_string().contains("scripts/setup-models"), "{e}");
    }
}
