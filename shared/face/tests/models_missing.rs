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
    // the dense head (sface-head.bin): missing, truncated, garbage
    std::fs::copy(src.join("sface.nnef.tar"), dir.join("sface.nnef.tar")).unwrap();
    let missing_head = FaceEngine::load(&dir).unwrap_err();
    assert!(
        matches!(missing_head, ModelError::Missing { ref path } if path.ends_with("sface-head.bin")),
        "{missing_head:?}"
    );
    let head = std::fs::read(src.join("sface-head.bin")).unwrap();
    std::fs::write(dir.join("sface-head.bin"), &head[..head.len() - 1]).unwrap();
    let err3 = FaceEngine::load(&dir).unwrap_err();
    std::fs::write(dir.join("sface-head.bin"), b"garbage").unwrap();
    let err4 = FaceEngine::load(&dir).unwrap_err();
    std::fs::write(dir.join("sface-head.bin"), &head).unwrap();
    assert!(FaceEngine::load(&dir).is_ok(), "the intact copy loads");
    let _ = std::fs::remove_dir_all(&dir);
    for e in [err, err2, err3, err4] {
        assert!(matches!(e, ModelError::Corrupt { .. }), "{e:?}");
        assert!(e.to_string().contains("scripts/setup-models"), "{e}");
    }
}
