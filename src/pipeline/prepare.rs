//! The first stages: levelling and registration. The LR frame is levelled; every HR frame has its
//! lines aligned, is registered against the levelled LR (its returned geometry, then the sub-pixel
//! shift), and — for heights — has its offset (and tilt) fitted to the LR, on its own or with
//! `[level] hr_frames = "joint"` one plane for all the frames together. Its pieces then become
//! training pairs (x0 = the LR at the piece's own pixel positions) and patches on the HR grid. The LR
//! is brought onto the acquired data's gain and offset, fitted on the acquired pixels: the model input
//! and the **fair baseline** (DESIGN.md §1.7) both use that mapping.

use super::input::{ChannelKind, PipelineInput};
use super::motion::refine_with_motion;
use super::PipelineError;
use crate::geo_image::GeoImage;
use crate::level::{align_lines_to, HrFrameLevelling, LevelConfig, LevelMode, Plane};
use crate::reconstruct::{acquired_mask, paste_patches, MeasuredPatch, PasteError};
use crate::register::{
    fit_gain_offset, fit_relative_plane, register, undo_line_shifts, GainOffset, RegisterConfig, RegisterError, Registration,
};
use crate::train::{NormalizeError, Normalizer, TilePair};
use crate::upsample::Interpolation;
use afm_drivers::{PixelRect, Raster, ScanRegion};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

/// Settings of the preparing stages.
#[derive(Debug, Clone, PartialEq)]
pub struct PrepareConfig {
    /// Levelling of the LR and HR frames.
    pub level: LevelConfig,
    /// Registration of the HR frames.
    pub register: RegisterConfig,
    /// How the LR is brought onto the HR grid as the model input x0.
    pub model_input: Interpolation,
}

/// One HR frame after levelling and registration.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedFrame {
    /// Its label.
    pub label: String,
    /// The shift found and its quality.
    pub registration: Registration,
    /// Returned minus requested centre, in the frame's pixels (points, lines), when requested.
    pub returned_minus_requested_px: Option<[f64; 2]>,
    /// The offset/tilt removed to bring it onto the LR (heights; zero otherwise).
    pub relative_plane: Plane,
    /// The levelled, adjusted values at the registered position (the returned one when ambiguous).
    pub image: GeoImage,
    /// How far each line's content lies from the frame's mean shift (points, lines), in the frame's
    /// pixels, as the drift and creep model predicts it (None: no model, or the frame is ambiguous).
    pub line_shifts_px: Option<Vec<[f64; 2]>>,
}

/// One piece of acquired data: a training pair and a measured patch.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// Index of its frame.
    pub frame: usize,
    /// The measured values and their registered geometry.
    pub image: GeoImage,
    /// The model input at the same pixels (LR at their positions, on the acquired scale).
    pub x0: Array2<f32>,
    /// The fair baseline at the same pixels (bicubic of the levelled LR, on the acquired scale).
    pub fair: Array2<f32>,
    /// What the reconstruction takes its low frequencies from at the same pixels: the fair baseline,
    /// or with a learned input filter the filtered fair baseline.
    pub reference: Array2<f32>,
    /// False when its frame's registration is ambiguous: pasted, but not trained on.
    pub trainable: bool,
    /// The piece resampled onto the HR grid over the pixels it covers (None: outside the grid).
    pub on_hr: Option<MeasuredPatch>,
}

/// The registration of one frame as reports carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameRegistration {
    /// The frame's label.
    pub label: String,
    /// Shift and quality.
    #[serde(flatten)]
    pub registration: Registration,
    /// Returned minus requested centre in the frame's pixels, when requested.
    pub returned_minus_requested_px: Option<[f64; 2]>,
}

/// Everything the model and scoring stages need, on the HR grid unless said otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The LR frame as acquired.
    pub lr_raw: GeoImage,
    /// The levelled LR frame.
    pub lr: GeoImage,
    /// The channel's name, e.g. "Height" or "AmplitudeRetrace".
    pub channel: String,
    /// The channel's kind.
    pub kind: ChannelKind,
    /// The levelling mode used.
    pub level_mode: LevelMode,
    /// The channel the frames were registered in (`channel`, or `[register] channel`).
    pub registration_channel: String,
    /// The HR grid.
    pub hr_region: ScanRegion,
    /// Its raster.
    pub hr_raster: Raster,
    /// LR → the acquired data's scale, fitted on the acquired pixels.
    pub mapping: GainOffset,
    /// The model input: the levelled LR on the HR grid (by `model_input`), mapped.
    pub x0: Array2<f32>,
    /// The fair baseline before pasting: bicubic of the levelled LR, mapped.
    pub fair: Array2<f32>,
    /// What the reconstruction takes its low frequencies from: `fair`, or with a learned input filter
    /// the filtered `fair` (see [`crate::linear_input`]).
    pub reference: Array2<f32>,
    /// Bicubic of the levelled LR, not mapped (reference).
    pub bicubic: Array2<f32>,
    /// Nearest of the levelled LR, not mapped (reference).
    pub nearest: Array2<f32>,
    /// The HR frames after levelling and registration.
    pub frames: Vec<PreparedFrame>,
    /// Every piece, frame by frame.
    pub pieces: Vec<Piece>,
    /// true where a measured piece lies on the HR grid.
    pub acquired: Array2<bool>,
}

impl Prepared {
    /// The measured pieces on the HR grid, in order (later ones win where they overlap).
    pub fn measured(&self) -> Vec<MeasuredPatch> {
        self.pieces.iter().filter_map(|p| p.on_hr.clone()).collect()
    }

    /// The fair baseline with the measured pieces pasted: what the run delivers when SR does not help.
    pub fn fair_pasted(&self, seam_px: usize) -> Result<Array2<f32>, PasteError> {
        paste_patches(self.fair.view(), &self.measured(), seam_px)
    }

    /// The registration of every frame.
    pub fn registrations(&self) -> Vec<FrameRegistration> {
        self.frames
            .iter()
            .map(|f| FrameRegistration {
                label: f.label.clone(),
                registration: f.registration,
                returned_minus_requested_px: f.returned_minus_requested_px,
            })
            .collect()
    }

    /// The trainable pieces.
    pub fn trainable(&self) -> impl Iterator<Item = &Piece> {
        self.pieces.iter().filter(|p| p.trainable)
    }

    /// The network's normalisation: the levelled LR on the acquired scale.
    pub fn normalizer(&self) -> Result<Normalizer, NormalizeError> {
        Normalizer::from_lr(self.mapping.apply(self.lr.view()).view())
    }
}

impl Piece {
    /// The piece as a training pair: its model input and its measured values.
    pub fn training_pair(&self) -> TilePair {
        TilePair { x0: self.x0.clone(), x1: self.image.data.clone() }
    }
}

/// Levels, registers and places everything of `input`.
pub fn prepare(input: &PipelineInput, cfg: &PrepareConfig) -> Result<Prepared, PipelineError> {
    let kind = input.kind();
    let height = kind.is_height();
    let level_mode = cfg.level.mode_for(height);
    let lr_levelled = cfg.level.apply(input.lr.view(), height);
    let lr = input.lr.with_data(lr_levelled.data.clone());
    // Register every frame (in the registration channel), fill weak components from the motion
    // model, then place and adjust.
    let other_lr = registration_lr(input, cfg)?;
    let register_lr = other_lr.as_ref().unwrap_or(&lr);
    let mut frames = Vec::with_capacity(input.frames.len());
    for (k, f) in input.frames.iter().enumerate() {
        let registered = register_frame(register_lr, f, registration_image(input, k), cfg);
        frames.push(registered.map_err(|e| PipelineError::Frame { label: f.label.clone(), reason: e })?);
    }
    if let Some(log) = &input.motion {
        let mut changed = refine_with_motion(&mut frames, log, &lr.region, lr.pitch_m());
        if cfg.register.undo_line_motion && remeasure_unsheared(register_lr, &mut frames, input, cfg)? > 0 {
            changed = refine_with_motion(&mut frames, log, &lr.region, lr.pitch_m());
        }
        if changed > 0 {
            tracing::info!("{changed} patches: the shift along a straight edge comes from the drift and creep model");
        }
        if !cfg.register.undo_line_motion {
            frames.iter_mut().for_each(|f| f.line_shifts_px = None);
        }
    }
    // A ridge clipped by the search window needs the model's component along it; without one (offline
    // pairs, fuse) the shift along the edge is unknown and the stated position is the best guess.
    let stated: Vec<&str> = frames
        .iter_mut()
        .filter(|f| f.registration.ridge_at_border && !f.registration.from_motion_model)
        .map(|f| {
            f.registration.take_weak_component_as_stated();
            f.label.as_str()
        })
        .collect();
    if !stated.is_empty() {
        tracing::info!(
            "{}: the correlation ridge along a straight edge reached the search window; the shift along the edge is the stated position",
            stated.join(", ")
        );
    }
    let joint = height && cfg.level.hr_frames == HrFrameLevelling::Joint;
    for f in &mut frames {
        place_frame(&lr, f, height, level_mode, joint).map_err(|e| PipelineError::Frame { label: f.label.clone(), reason: e })?;
    }
    if joint {
        super::joint_level::level_jointly(&lr, &lr_levelled, &mut frames, level_mode != LevelMode::None)
            .map_err(|e| PipelineError::Frame { label: "HR frames".into(), reason: e })?;
    }
    // Pieces at their registered positions, with the LR (levelled, bicubic) at the same pixels.
    let mut pieces = Vec::new();
    for (index, (f, input_frame)) in frames.iter().zip(&input.frames).enumerate() {
        for rect in &input_frame.pieces {
            let image = f.image.crop(rect);
            let lr_there = lr.resample_onto(&image.region, &image.raster, Interpolation::Bicubic)?;
            pieces.push((index, image, lr_there, !f.registration.ambiguous));
        }
    }
    let mapping = lr_mapping(&pieces, height);
    let on_grid = |method| lr.resample_onto(&input.hr_region, &input.hr_raster, method);
    let bicubic = on_grid(Interpolation::Bicubic)?;
    let nearest = on_grid(Interpolation::Nearest)?;
    let fair = mapping.apply(bicubic.view());
    let x0 = match cfg.model_input {
        Interpolation::Bicubic => fair.clone(),
        Interpolation::Nearest => mapping.apply(nearest.view()),
        m => mapping.apply(on_grid(m)?.view()),
    };
    let pieces = pieces
        .into_iter()
        .map(|(frame, image, lr_there, trainable)| {
            let fair = mapping.apply(lr_there.view());
            let x0 = match cfg.model_input {
                Interpolation::Bicubic => fair.clone(),
                m => mapping.apply(lr.resample_onto(&image.region, &image.raster, m)?.view()),
            };
            let on_hr = onto_hr_grid(&image, &input.hr_region, &input.hr_raster)?;
            Ok(Piece { frame, image, x0, reference: fair.clone(), fair, trainable, on_hr })
        })
        .collect::<Result<Vec<_>, PipelineError>>()?;
    let acquired =
        acquired_mask((input.hr_raster.lines, input.hr_raster.points), pieces.iter().filter_map(|p| p.on_hr.as_ref().map(|m| m.rect)));
    Ok(Prepared {
        lr_raw: input.lr.clone(),
        lr,
        channel: input.channel.clone(),
        kind,
        level_mode,
        registration_channel: input.register_on.as_ref().map_or(&input.channel, |o| &o.channel).clone(),
        hr_region: input.hr_region,
        hr_raster: input.hr_raster,
        mapping,
        x0,
        reference: fair.clone(),
        fair,
        bicubic,
        nearest,
        frames,
        pieces,
        acquired,
    })
}

/// The levelled LR of `[register] channel` (levelled by its own kind), after checking that it has the
/// same frames and geometry as the reconstructed channel; None when registration runs on the
/// reconstructed channel.
fn registration_lr(input: &PipelineInput, cfg: &PrepareConfig) -> Result<Option<GeoImage>, PipelineError> {
    let Some(other) = &input.register_on else { return Ok(None) };
    let wrong = |what: String| PipelineError::Frame { label: format!("[register] channel {}", other.channel), reason: what };
    if other.frames.len() != input.frames.len() {
        return Err(wrong(format!("{} frames in it, {} in {}", other.frames.len(), input.frames.len(), input.channel)));
    }
    let same = |a: &GeoImage, b: &GeoImage| a.region == b.region && a.raster == b.raster;
    if !same(&other.lr, &input.lr) {
        return Err(wrong(format!("its LR frame's geometry differs from {}'s", input.channel)));
    }
    if let Some((f, _)) = input.frames.iter().zip(&other.frames).find(|(f, o)| !same(&f.image, o)) {
        return Err(wrong(format!("{}: its geometry differs from {}'s", f.label, input.channel)));
    }
    let height = super::input::ChannelKind::of(&other.channel).is_height();
    Ok(Some(other.lr.with_data(cfg.level.apply(other.lr.view(), height).data)))
}

/// Frame `k` as registration sees it: in `[register] channel` when one is given.
fn registration_image(input: &PipelineInput, k: usize) -> &GeoImage {
    input.register_on.as_ref().map_or(&input.frames[k].image, |o| &o.frames[k])
}

/// Creep shears a frame while its lines are scanned, and a correlation weighs the lines by their
/// content, so the shift it finds is not quite the mean over the lines that the motion model and the
/// placing assume. Registers every frame again with the model's line shifts undone (the frame as it
/// would have been scanned without motion within it); returns how many were measured again.
fn remeasure_unsheared(
    lr: &GeoImage,
    frames: &mut [PreparedFrame],
    input: &PipelineInput,
    cfg: &PrepareConfig,
) -> Result<usize, PipelineError> {
    let mut remeasured = 0;
    for (k, f) in frames.iter_mut().enumerate() {
        let Some(shifts) = &f.line_shifts_px else { continue };
        let image = registration_image(input, k);
        let Some(data) = undo_line_shifts(image.view(), shifts) else { continue };
        let unsheared = image.with_data(data);
        f.registration =
            register_image(lr, &f.label, &unsheared, cfg).map_err(|e| PipelineError::Frame { label: f.label.clone(), reason: e })?;
        remeasured += 1;
    }
    Ok(remeasured)
}

/// Registers one HR frame against the levelled LR (not yet placed; the comparison ignores tilt, and
/// per-line offsets barely move a correlation peak).
/// `compared` is the frame as registration sees it (another channel with `[register] channel`).
fn register_frame(
    lr: &GeoImage,
    f: &super::input::HrFrameInput,
    compared: &GeoImage,
    cfg: &PrepareConfig,
) -> Result<PreparedFrame, String> {
    let registration = register_image(lr, &f.label, compared, cfg)?;
    // Where the returned centre falls on the requested frame's pixels, relative to its middle.
    let returned_minus_requested_px = f.requested.map(|req| {
        let r = &f.image.raster;
        let (col, row) = req.pixel_of_m(r, f.image.region.center_x_m, f.image.region.center_y_m);
        [col - r.points.saturating_sub(1) as f64 / 2.0, row - r.lines.saturating_sub(1) as f64 / 2.0]
    });
    Ok(PreparedFrame {
        label: f.label.clone(),
        registration,
        returned_minus_requested_px,
        relative_plane: Plane::default(),
        image: f.image.clone(),
        line_shifts_px: None,
    })
}

/// The registration of `image` (the frame called `label`) against the levelled LR, with what went
/// wrong said in the log: a frame too little inside the LR keeps its returned geometry (not searched),
/// an ambiguous one is flagged.
fn register_image(lr: &GeoImage, label: &str, image: &GeoImage, cfg: &PrepareConfig) -> Result<Registration, String> {
    let registration = match register(lr, image, &cfg.register) {
        Ok(r) => r,
        // Too little of it inside the LR to search (a tiny frame, or one at the LR's edge): its
        // returned geometry stands, and the report says it was not searched.
        Err(RegisterError::OutsideLr { cols, rows, .. }) => {
            tracing::warn!("{label}: only {cols}×{rows} px inside the LR frame with the search margin: not registered");
            Registration::identity()
        }
        Err(e) => return Err(format!("registration: {e}")),
    };
    if registration.ambiguous {
        tracing::warn!(
            "{label}: registration ambiguous (peak {:.3}, ratio {:.2}, standard error {:.2} px, shift {:.2}/{:.2} LR px): kept at its returned position and not trained on",
            registration.peak,
            registration.peak_ratio,
            registration.sigma_frame_px,
            registration.shift_lr_px[0],
            registration.shift_lr_px[1]
        );
    }
    Ok(registration)
}

/// Moves a registered frame to where it really lies (unless ambiguous) and levels it **relative to the
/// levelled LR there**: for heights its offset — and its tilt with `plane`, and each line's offset with
/// `plane+lines` (the median of the line's difference to the LR, so features that cross the lines do not
/// bias it, as they bias line-to-line medians on a small frame); for other channels, with `plane+lines`,
/// each line's offset only. With `joint` (heights levelled together, [`super::joint_level`]) it is only
/// moved.
fn place_frame(lr: &GeoImage, f: &mut PreparedFrame, height: bool, mode: LevelMode, joint: bool) -> Result<(), String> {
    let r = &mut f.registration;
    if r.searched {
        let shift = r.shift_lr_px;
        r.set_shift_lr_px(shift, lr, &f.image);
    }
    if !r.ambiguous {
        f.image = f.image.shifted(r.shift_x_m, r.shift_y_m);
        if let Some(shifts) = &f.line_shifts_px {
            match undo_line_shifts(f.image.view(), shifts) {
                Some(data) => f.image = f.image.with_data(data),
                None => tracing::warn!("{}: the motion model's line shifts do not fit the frame; its lines are kept as scanned", f.label),
            }
        }
    }
    if joint || (!height && mode != LevelMode::PlaneLines) {
        return Ok(());
    }
    let reference = lr.resample_onto(&f.image.region, &f.image.raster, Interpolation::Bicubic).map_err(|e| e.to_string())?;
    if height {
        let (adjusted, plane) = fit_relative_plane(f.image.view(), reference.view(), mode != LevelMode::None);
        f.image = f.image.with_data(adjusted);
        f.relative_plane = plane;
    }
    if mode == LevelMode::PlaneLines {
        f.image = f.image.with_data(align_lines_to(f.image.view(), reference.view()));
    }
    Ok(())
}

/// The map bringing the levelled LR onto the trainable pieces, fitted over all their pixels: for
/// heights an offset only (a gain fitted between a noisy, lagging LR and the patches is biased low —
/// regression dilution — and heights share one scale anyway), for other channels gain and offset
/// (their gain changes between scans). Identity without any piece.
fn lr_mapping(pieces: &[(usize, GeoImage, Array2<f32>, bool)], height: bool) -> GainOffset {
    let used: Vec<_> = pieces.iter().filter(|p| p.3).collect();
    if used.is_empty() {
        return GainOffset::default();
    }
    if height {
        let (sum, n) = used.iter().fold((0.0f64, 0usize), |(s, n), p| {
            (s + p.1.data.iter().zip(p.2.iter()).map(|(&m, &l)| m as f64 - l as f64).sum::<f64>(), n + p.1.data.len())
        });
        return GainOffset { gain: 1.0, offset: sum / n.max(1) as f64 };
    }
    let lr_values: Vec<f32> = used.iter().flat_map(|p| p.2.iter().copied()).collect();
    let measured: Vec<f32> = used.iter().flat_map(|p| p.1.data.iter().copied()).collect();
    let n = lr_values.len();
    let x = ArrayView2::from_shape((1, n), &lr_values);
    let y = ArrayView2::from_shape((1, n), &measured);
    match (x, y) {
        (Ok(x), Ok(y)) => fit_gain_offset(x, y, Array2::from_elem((1, n), true).view()),
        _ => GainOffset::default(),
    }
}

/// `image` resampled onto the HR grid over the HR pixels inside its extent; None when none are.
pub fn onto_hr_grid(image: &GeoImage, hr_region: &ScanRegion, hr_raster: &Raster) -> Result<Option<MeasuredPatch>, PipelineError> {
    // Where every HR column and row falls in the image's own pixels.
    let map =
        crate::upsample::GridMap { src_region: image.region, src_raster: image.raster, dst_region: *hr_region, dst_raster: *hr_raster };
    let (cols, rows) = map.source_coordinates()?;
    let span = |v: &[f64], n: usize| -> Option<(usize, usize)> {
        let inside: Vec<usize> = (0..v.len()).filter(|&i| v[i] >= -1e-6 && v[i] <= n as f64 - 1.0 + 1e-6).collect();
        Some((*inside.first()?, inside.len()))
    };
    let (Some((col, ncols)), Some((row, nrows))) = (span(&cols, image.raster.points), span(&rows, image.raster.lines)) else {
        return Ok(None);
    };
    let rect = PixelRect { col, row, cols: ncols, rows: nrows };
    let (region, raster) = hr_region.sub_region(hr_raster, &rect);
    let data = image.resample_onto(&region, &raster, Interpolation::Bicubic)?;
    Ok(Some(MeasuredPatch { rect, data }))
}
