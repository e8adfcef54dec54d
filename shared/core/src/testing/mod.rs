//! Helpers for tests (feature `testing`): shared by this crate's tests and those of the crates
//! built on it, so that each is written once.
//!
//! - [`fakes`]: in-memory fakes of every port of [`crate::ports`], with the ports' documented
//!   semantics, their data readable by tests, and [`failures`] injection (the one scripted
//!   behaviour: a service that is down, a write that loses);
//! - [`clock`] and [`analyzer`]: a clock tests move, a face pipeline that answers what it is told;
//! - [`bundle`]: [`Fakes`], every fake wired into a ready desk, job handler and exclusion service;
//! - [`inputs`]: valid submissions of each kind and small photos;
//! - [`png_by_rows`]: large test pictures written row by row.

pub mod analyzer;
pub mod bundle;
pub mod clock;
pub mod failures;
pub mod fakes;
pub mod inputs;

pub use analyzer::{Analysis, EMBEDDING_DIM, FakeAnalyzer, embedding_of};
pub use bundle::{Fakes, PUBLIC_URL};
pub use clock::FakeClock;
pub use failures::{Failures, Fault};
pub use fakes::*;
pub use inputs::{
    PHOTO_SIDE, dsa_input, face_input, gradient_jpeg, image_input, jpeg_by_pixels, photo_jpeg,
    photo_png,
};

/// A `w`×`h` RGB PNG whose pixel at (x, y) is `px(x, y)`, written row by row: a 49-megapixel
/// test picture never exists whole in memory. Panics if encoding fails (a test helper).
pub fn png_by_rows(w: u32, h: u32, px: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_compression(png::Compression::Fast);
        let mut writer = enc.write_header().expect("PNG header");
        let mut stream = writer.stream_writer().expect("PNG stream");
        let mut row = vec![0u8; w as usize * 3];
        for y in 0..h {
            for (x, p) in row.chunks_exact_mut(3).enumerate() {
                p.copy_from_slice(&px(x as u32, y));
            }
            std::io::Write::write_all(&mut stream, &row).expect("PNG row");
        }
        stream.finish().expect("PNG end");
        writer.finish().expect("PNG end");
    }
    out
}
