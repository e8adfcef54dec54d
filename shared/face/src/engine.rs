//! The engine: both models loaded once, and the per-photo pipeline.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use optout_matcher::{FaceEmbedding, PdqHash, Sha256};
use serde::{Deserialize, Serialize};
use tract_nnef::prelude::*;

use crate::align;
use crate::decode;
use crate::detect::{self, Detection, Level};
use crate::embed;
use crate::error::{AnalyzeError, ModelError};
use crate::models::{self, Plan};
use crate::pdq;
use crate::quality::{self, QualityVerdict};

/// At most this many faces (best scores first) are kept and embedded per photo.
pub const MAX_FACES: usize = 10;
/// Photos are decoded reduced (see [`decode`]) as long as the longer side stays at least this.
pub const REDUCED_LONG_SIDE: u32 = 960;
/// If the chosen face's eyes are closer than this in the reduced image, the region around it is
/// decoded again, closer: at the resolution that puts them at least this far apart (or full
/// resolution), within [`decode::REGION_MAX_GRID_PIXELS`] (the template puts them ~35 px apart).
pub const MIN_EYE_DISTANCE_REDUCED: f32 = 48.0;

/// In adaptive detection, the 320 detector's answer stands when the largest face it found is at
/// least this many pixels high and wide in its 320×320 input. Every face whose box has at least
/// half that area (the faces the several-faces check counts) is then ≥ 28 px there, a size YuNet
/// finds reliably at 320; smaller or absent faces are looked for again at 640.
pub const ADAPTIVE_MIN_FACE_SIDE: f32 = 40.0;

/// The crop the largest face is detected again on is this many times its box (see
/// `FaceEngine::refine_largest`).
const REFINE_CONTEXT: f32 = 2.0;
/// The detection on the crop stands for the face when their boxes overlap at least this much.
const REFINE_MIN_IOU: f32 = 0.5;

/// Engine settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// Detector input side when `adaptive` is off: 640 or 320 (faster, misses small faces).
    pub detect_side: usize,
    /// Detect at 320×320 first and at 640×640 only when no face or only a small one was found
    /// (see [`ADAPTIVE_MIN_FACE_SIDE`]); the 640 detector is loaded the first time a photo needs
    /// it. On by default: a portrait costs the 320 detector's time, and small faces are still
    /// found.
    pub adaptive: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            detect_side: 640,
            adaptive: true,
        }
    }
}

impl EngineOptions {
    /// One detector at `side` (640 or 320), not adaptive.
    pub fn fixed(side: usize) -> Self {
        EngineOptions {
            detect_side: side,
            adaptive: false,
        }
    }
}

/// A loaded detector and its input side.
struct Detector {
    side: usize,
    plan: Plan,
}

/// The 640 detector of the adaptive mode, loaded on first use.
struct LazyDetector {
    model_dir: PathBuf,
    cell: OnceLock<Plan>,
}

impl LazyDetector {
    fn get(&self) -> Result<Detector, AnalyzeError> {
        const SIDE: usize = 640;
        let plan = match self.cell.get() {
            Some(p) => p.clone(),
            None => {
                let t = Instant::now();
                let p = models::load_yunet(&models::nnef_loader(), &self.model_dir, SIDE)
                    .map_err(|e| AnalyzeError::Inference(e.to_string()))?;
                tracing::debug!(elapsed_ms = ms(t), "640 detector loaded");
                // Two photos may load it at once; either copy is the same model.
                self.cell.get_or_init(|| p).clone()
            }
        };
        Ok(Detector { side: SIDE, plan })
    }
}

/// A face box in pixels of the upright, full-resolution photo.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

/// One detected face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceRecord {
    #[serde(rename = "box")]
    pub bbox: FaceBox,
    /// Detector confidence, 0..1.
    pub score: f32,
    /// Right eye, left eye, nose tip, right mouth corner, left mouth corner (x, y).
    pub landmarks: [[f32; 2]; 5],
    /// Variance of the Laplacian of the aligned face (see [`quality::MIN_SHARPNESS`]).
    pub sharpness: f32,
    /// L2-normalised SFace embedding (128 floats).
    pub embedding: FaceEmbedding,
}

/// Everything the pipeline found in one photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoAnalysis {
    /// Upright size (after EXIF orientation).
    pub width: u32,
    pub height: u32,
    pub faces: Vec<FaceRecord>,
    /// Index into `faces` of the face the case is about (the largest), if any.
    pub chosen_face: Option<usize>,
    pub verdict: QualityVerdict,
    /// SHA-256 of the submitted bytes.
    pub sha256: Sha256,
    /// PDQ hash of the upright pixels.
    pub pdq: PdqHash,
    /// PDQ quality 0..=100 (below ~50 the hash is unreliable).
    pub pdq_quality: u8,
}

impl PhotoAnalysis {
    /// The chosen face's embedding.
    pub fn embedding(&self) -> Option<&FaceEmbedding> {
        self.chosen_face
            .and_then(|i| self.faces.get(i))
            .map(|f| &f.embedding)
    }
}

/// Time spent in each stage of one [`FaceEngine::analyze_timed`] call, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimings {
    pub sha256: f64,
    pub decode: f64,
    pub pdq: f64,
    pub letterbox: f64,
    pub detect: f64,
    pub align: f64,
    pub embed: f64,
}

/// Both models, ready to run. Cheap to share: `Send + Sync`, put it behind an `Arc`.
pub struct FaceEngine {
    /// The detector run first (320 in adaptive mode), or the only one.
    first: Detector,
    /// Adaptive mode: the 640 detector for photos whose faces are small or not found at 320.
    fine: Option<LazyDetector>,
    sface: embed::Embedder,
}

impl std::fmt::Debug for FaceEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceEngine")
            .field("detect_side", &self.first.side)
            .field("adaptive", &self.fine.is_some())
            .finish_non_exhaustive()
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

impl FaceEngine {
    /// Load the prepared models from `model_dir` (see [`crate::default_model_dir`]).
    pub fn load(model_dir: &Path) -> Result<FaceEngine, ModelError> {
        Self::load_with(model_dir, EngineOptions::default())
    }

    /// Load with explicit options.
    pub fn load_with(model_dir: &Path, options: EngineOptions) -> Result<FaceEngine, ModelError> {
        let side = if options.adaptive {
            320
        } else {
            options.detect_side
        };
        if !models::DETECT_SIDES.contains(&side) {
            return Err(ModelError::Corrupt {
                path: model_dir.join(models::yunet_nnef(side)),
                reason: format!(
                    "detector size {side} is not prepared (use one of {:?})",
                    models::DETECT_SIDES
                ),
            });
        }
        let t = Instant::now();
        let nnef = models::nnef_loader();
        let yunet = models::load_yunet(&nnef, model_dir, side)?;
        let sface = embed::Embedder::load(&nnef, model_dir)?;
        let fine = if options.adaptive {
            // Loaded when first needed, but a missing file is reported now.
            let path = model_dir.join(models::yunet_nnef(640));
            if !path.is_file() {
                return Err(ModelError::Missing { path });
            }
            Some(LazyDetector {
                model_dir: model_dir.to_path_buf(),
                cell: OnceLock::new(),
            })
        } else {
            None
        };
        tracing::debug!(elapsed_ms = ms(t), detect_side = side, "face models loaded");
        Ok(FaceEngine {
            first: Detector { side, plan: yunet },
            fine,
            sface,
        })
    }

    /// The input side of the detector run first (320 in adaptive mode).
    pub fn detect_side(&self) -> usize {
        self.first.side
    }

    /// Whether small or missing faces are looked for again at 640.
    pub fn is_adaptive(&self) -> bool {
        self.fine.is_some()
    }

    /// Analyse one photo.
    pub fn analyze(&self, bytes: &[u8]) -> Result<PhotoAnalysis, AnalyzeError> {
        self.analyze_timed(bytes).map(|(a, _)| a)
    }

    /// Analyse one photo and report how long each stage took.
    pub fn analyze_timed(
        &self,
        bytes: &[u8],
    ) -> Result<(PhotoAnalysis, StageTimings), AnalyzeError> {
        let mut tm = StageTimings::default();
        let t = Instant::now();
        let sha256 = Sha256::of(bytes);
        tm.sha256 = ms(t);

        let t = Instant::now();
        let header = decode::read_header(bytes)?;
        let decoded = decode::decode_reduced(bytes, REDUCED_LONG_SIDE)?;
        tm.decode = ms(t);

        let t = Instant::now();
        let (hash, pdq_quality) = pdq::pdq_rgb(&decoded.image);
        tm.pdq = ms(t);

        let dets = self.detect(&decoded.image, &mut tm)?;
        // choose the largest face
        let chosen = dets
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.area().total_cmp(&b.1.area()))
            .map(|(i, _)| i);

        // Crops come from the reduced image, except the chosen face's when it is small there: its
        // region is decoded again, closer.
        let t = Instant::now();
        let closer = match chosen.map(|i| &dets[i]) {
            Some(d) if decoded.scale < 1.0 && eye_distance(d) < MIN_EYE_DISTANCE_REDUCED => {
                closer_region(bytes, &header, &decoded, d)?
            }
            _ => None,
        };
        tm.decode += ms(t);

        let mut faces = Vec::with_capacity(dets.len());
        for (i, d) in dets.iter().enumerate() {
            let t = Instant::now();
            let full_res = d.mapped(|p| decoded.map.to_full(p));
            let crop = match &closer {
                Some(region) if Some(i) == chosen => {
                    let lm = full_res.landmarks.map(|p| region.map.from_full(p));
                    align::align(&region.image, &lm)
                }
                _ => align::align(&decoded.image, &d.landmarks),
            }
            .ok_or_else(|| AnalyzeError::Inference("degenerate landmarks".into()))?;
            let sharpness = quality::sharpness(&crop, models::SFACE_SIDE);
            tm.align += ms(t);
            let t = Instant::now();
            let embedding = embed::embed(&self.sface, &crop)?;
            tm.embed += ms(t);
            let b = full_res.bbox;
            faces.push(FaceRecord {
                bbox: FaceBox {
                    x: b[0],
                    y: b[1],
                    width: b[2] - b[0],
                    height: b[3] - b[1],
                },
                score: d.score,
                landmarks: full_res.landmarks,
                sharpness,
                embedding,
            });
        }
        let verdict = verdict(&faces, chosen);
        tracing::debug!(
            faces = faces.len(),
            verdict = verdict.code(),
            "photo analysed"
        );
        let analysis = PhotoAnalysis {
            width: decoded.full_width,
            height: decoded.full_height,
            faces,
            chosen_face: chosen,
            verdict,
            sha256,
            pdq: hash,
            pdq_quality,
        };
        Ok((analysis, tm))
    }

    /// Bench helper: run the first detector once on a letterboxed input (`3 * side * side` floats).
    pub fn bench_detector(&self, input: &[f32]) -> Result<(), AnalyzeError> {
        let side = self.first.side;
        let t = Tensor::from_shape(&[1, 3, side, side], input)
            .map_err(|e| AnalyzeError::Inference(e.to_string()))?;
        self.first
            .plan
            .run(tvec!(t.into()))
            .map_err(|e| AnalyzeError::Inference(e.to_string()))?;
        Ok(())
    }

    /// Bench helper: embed one aligned 112x112 RGB face.
    pub fn bench_embedder(&self, face: &[u8]) -> Result<FaceEmbedding, AnalyzeError> {
        embed::embed(&self.sface, face)
    }

    /// Faces in `img` (pixels of `img`), best first: with the first detector, and in adaptive
    /// mode again with the 640 one when the largest face found is small or none was found.
    fn detect(
        &self,
        img: &image::RgbImage,
        tm: &mut StageTimings,
    ) -> Result<Vec<Detection>, AnalyzeError> {
        let (dets, scale) = Self::detect_with(&self.first, img, tm)?;
        let Some(fine) = &self.fine else {
            return Ok(dets);
        };
        let largest = dets
            .iter()
            .map(|d| (d.bbox[2] - d.bbox[0]).min(d.bbox[3] - d.bbox[1]) * scale)
            .fold(0.0f32, f32::max);
        if largest >= ADAPTIVE_MIN_FACE_SIDE {
            return self.refine_largest(dets, img, tm);
        }
        let (first_letterbox, first_detect) = (tm.letterbox, tm.detect);
        let (dets, _) = Self::detect_with(&fine.get()?, img, tm)?;
        tm.letterbox += first_letterbox;
        tm.detect += first_detect;
        Ok(dets)
    }

    /// A face that fills a small part of the photo is seen by the 320 detector at few pixels,
    /// and its landmarks are coarse. When the crop around the largest face (twice its size) is
    /// at most half the photo's longer side, the face is detected again on that crop, where it
    /// fills the 320 input, and takes that detection's box and landmarks. (A face that fills
    /// the photo gains nothing: its crop is the photo.)
    fn refine_largest(
        &self,
        mut dets: Vec<Detection>,
        img: &image::RgbImage,
        tm: &mut StageTimings,
    ) -> Result<Vec<Detection>, AnalyzeError> {
        let Some(i) = (0..dets.len()).max_by(|&a, &b| dets[a].area().total_cmp(&dets[b].area()))
        else {
            return Ok(dets);
        };
        let d = dets[i];
        let side = REFINE_CONTEXT * d.width().max(d.height());
        let (cx, cy) = (0.5 * (d.bbox[0] + d.bbox[2]), 0.5 * (d.bbox[1] + d.bbox[3]));
        let (w, h) = (img.width() as f32, img.height() as f32);
        if side > 0.5 * w.max(h) {
            return Ok(dets);
        }
        let x0 = (cx - 0.5 * side).clamp(0.0, w).floor();
        let y0 = (cy - 0.5 * side).clamp(0.0, h).floor();
        let x1 = (cx + 0.5 * side).clamp(0.0, w).ceil();
        let y1 = (cy + 0.5 * side).clamp(0.0, h).ceil();
        if x1 - x0 < 16.0 || y1 - y0 < 16.0 {
            return Ok(dets);
        }
        let t = Instant::now();
        let crop = image::imageops::crop_imm(
            img,
            x0 as u32,
            y0 as u32,
            (x1 - x0) as u32,
            (y1 - y0) as u32,
        )
        .to_image();
        tm.letterbox += ms(t);
        let (before_letterbox, before_detect) = (tm.letterbox, tm.detect);
        let (found, _) = Self::detect_with(&self.first, &crop, tm)?;
        tm.letterbox += before_letterbox;
        tm.detect += before_detect;
        let local = [
            d.bbox[0] - x0,
            d.bbox[1] - y0,
            d.bbox[2] - x0,
            d.bbox[3] - y0,
        ];
        let best = found
            .iter()
            .map(|f| (detect::iou(&f.bbox, &local), f))
            .filter(|(overlap, _)| *overlap >= REFINE_MIN_IOU)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((_, f)) = best {
            let mut r = *f;
            for (k, v) in r.bbox.iter_mut().enumerate() {
                *v += if k % 2 == 0 { x0 } else { y0 };
            }
            for p in r.landmarks.iter_mut() {
                p[0] += x0;
                p[1] += y0;
            }
            dets[i] = r;
        }
        Ok(dets)
    }

    /// One detector run; also returns the letterbox scale (detector px per image px).
    fn detect_with(
        det: &Detector,
        img: &image::RgbImage,
        tm: &mut StageTimings,
    ) -> Result<(Vec<Detection>, f32), AnalyzeError> {
        let side = det.side;
        let t = Instant::now();
        let (data, scale) = detect::letterbox(img, side);
        let input = Tensor::from_shape(&[1, 3, side, side], &data)
            .map_err(|e| AnalyzeError::Inference(e.to_string()))?;
        drop(data);
        tm.letterbox = ms(t);
        let t = Instant::now();
        let out = det
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| AnalyzeError::Inference(e.to_string()))?;
        let slices: Vec<&[f32]> = out
            .iter()
            .map(|o| models::f32s(o))
            .collect::<TractResult<_>>()
            .map_err(|e| AnalyzeError::Inference(e.to_string()))?;
        if slices.len() != 12 {
            return Err(AnalyzeError::Inference(
                "detector returned an unexpected output".into(),
            ));
        }
        let levels: Vec<Level<'_>> = (0..3)
            .map(|i| Level {
                stride: detect::STRIDES[i],
                cls: slices[i],
                obj: slices[3 + i],
                bbox: slices[6 + i],
                kps: slices[9 + i],
            })
            .collect();
        let mut dets = detect::nms(
            detect::decode(&levels, side, scale, detect::SCORE_THRESHOLD),
            detect::NMS_IOU,
        );
        dets.truncate(MAX_FACES);
        tm.detect = ms(t);
        Ok((dets, scale))
    }
}

/// The region around a face that its aligned crop samples, decoded at the resolution that puts the
/// eyes [`MIN_EYE_DISTANCE_REDUCED`] apart (full resolution at most; for JPEG, the DCT reduction
/// at or above that, coarser if its grid would exceed [`decode::REGION_MAX_GRID_PIXELS`]). `None`
/// when no decode would be closer than the reduced one.
fn closer_region(
    bytes: &[u8],
    header: &decode::Header,
    decoded: &decode::Decoded,
    d: &Detection,
) -> Result<Option<decode::Decoded>, AnalyzeError> {
    let lm = d.landmarks.map(|p| decoded.map.to_full(p));
    let eyes = (lm[0][0] - lm[1][0]).hypot(lm[0][1] - lm[1][1]);
    let reduced = decoded.map.factor;
    let wanted = ((eyes / MIN_EYE_DISTANCE_REDUCED).floor() as u32).clamp(1, reduced);
    let mut factor = optout_core::pixels::supported_factor(header.kind, wanted);
    if header.kind == optout_core::photo::PhotoType::Jpeg {
        let grid = |f: u32| {
            let (w, h) = optout_core::pixels::grid_size(header.width, header.height, f);
            u64::from(w) * u64::from(h)
        };
        while factor < reduced && grid(factor) > decode::REGION_MAX_GRID_PIXELS {
            factor *= 2;
        }
    }
    if factor >= reduced {
        return Ok(None);
    }
    // Every source pixel the warp to the 112x112 template reads, in full-resolution pixels.
    let Some(inv) = align::estimate(&lm, &align::TEMPLATE).and_then(|m| m.inverse()) else {
        return Ok(None);
    };
    let side = models::SFACE_SIDE as f64;
    let corners = [[0.0, 0.0], [side, 0.0], [0.0, side], [side, side]].map(|p| inv.apply(p));
    let margin = 2.0 * f64::from(factor);
    let lo = |i: usize| corners.iter().map(|c| c[i]).fold(f64::INFINITY, f64::min) - margin;
    let hi = |i: usize| {
        corners
            .iter()
            .map(|c| c[i])
            .fold(f64::NEG_INFINITY, f64::max)
            + margin
    };
    let region = [lo(0), lo(1), hi(0), hi(1)].map(|v| v as f32);
    decode::decode_region(bytes, header, factor, region).map(Some)
}

fn eye_distance(d: &Detection) -> f32 {
    let [a, b] = [d.landmarks[0], d.landmarks[1]];
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// The verdict for a set of faces and the chosen one.
pub fn verdict(faces: &[FaceRecord], chosen: Option<usize>) -> QualityVerdict {
    let Some(face) = chosen.and_then(|i| faces.get(i)) else {
        return QualityVerdict::NoFace;
    };
    let area = face.bbox.width * face.bbox.height;
    let similar = faces
        .iter()
        .enumerate()
        .filter(|(i, f)| {
            Some(*i) != chosen && f.bbox.width * f.bbox.height >= quality::SIMILAR_SIZE_RATIO * area
        })
        .count();
    if similar > 0 {
        QualityVerdict::SeveralFaces
    } else if face.bbox.width.min(face.bbox.height) < quality::MIN_FACE_SIDE {
        QualityVerdict::FaceTooSmall
    } else if face.sharpness < quality::MIN_SHARPNESS {
        QualityVerdict::TooBlurred
    } else {
        QualityVerdict::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(w: f32, sharpness: f32) -> FaceRecord {
        FaceRecord {
            bbox: FaceBox {
                x: 0.0,
                y: 0.0,
                width: w,
                height: w * 1.2,
            },
            score: 0.9,
            landmarks: [[0.0; 2]; 5],
            sharpness,
            embedding: FaceEmbedding::normalized(&[1.0; 128]).unwrap(),
        }
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(&[], None), QualityVerdict::NoFace);
        assert_eq!(verdict(&[face(200.0, 100.0)], Some(0)), QualityVerdict::Ok);
        assert_eq!(
            verdict(&[face(200.0, 100.0), face(190.0, 100.0)], Some(0)),
            QualityVerdict::SeveralFaces
        );
        assert_eq!(
            verdict(&[face(200.0, 100.0), face(60.0, 100.0)], Some(0)),
            QualityVerdict::Ok
        );
        assert_eq!(
            verdict(&[face(40.0, 100.0)], Some(0)),
            QualityVerdict::FaceTooSmall
        );
        assert_eq!(
            verdict(&[face(200.0, 5.0)], Some(0)),
            QualityVerdict::TooBlurred
        );
    }

    #[test]
    fn engine_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<FaceEngine>();
    }
}
