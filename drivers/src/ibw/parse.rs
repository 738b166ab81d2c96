//! Decoding an .ibw buffer: header checks (version, checksum, sizes), data conversion to `f32`, and
//! the optional sections (note, extended units, dimension labels). Field offsets follow WaveMetrics'
//! Technical Note 003 (`IgorBin.h`).

use super::bytes::{decode_text, ByteOrder, Reader};
use super::error::IbwError;
use super::note::Note;
use super::{DimLabels, DimScale, IbwWave, NumberType};

/// Size of `BinHeader5`.
const BIN5: usize = 64;
/// Size of `WaveHeader5` up to the data.
const WAVE5: usize = 320;
/// Size of `WaveHeader2` up to the data (`offsetof(WaveHeader2, wData)`).
const WAVE2: usize = 110;
/// `WaveHeader2` including its 16-byte `wData` field: what the v1–v3 checksum covers.
const WAVE2_CHECKSUMMED: usize = 126;

/// Decodes an Igor binary wave (versions 1, 2, 3, 5; either byte order). Bytes after the last
/// declared section are ignored. Never panics: malformed input gives an [`IbwError`] naming the field
/// or section and its offset.
pub fn parse(bytes: &[u8]) -> Result<IbwWave, IbwError> {
    let (version, order) = detect_version(bytes)?;
    let r = Reader { buf: bytes, order };
    match version {
        5 => parse_v5(r),
        _ => parse_v123(r, version),
    }
}

fn detect_version(bytes: &[u8]) -> Result<(u16, ByteOrder), IbwError> {
    let [a, b, ..] = *bytes else {
        return Err(IbwError::Truncated { what: "version field".into(), offset: 0, end: 2, len: bytes.len() });
    };
    let known = |v: u16| matches!(v, 1 | 2 | 3 | 5);
    let (le, be) = (u16::from_le_bytes([a, b]), u16::from_be_bytes([a, b]));
    if known(le) {
        Ok((le, ByteOrder::Little))
    } else if known(be) {
        Ok((be, ByteOrder::Big))
    } else {
        Err(IbwError::UnknownVersion { bytes: [a, b] })
    }
}

fn number_type(code: u16, offset: usize) -> Result<NumberType, IbwError> {
    const CMPLX: u16 = 0x01;
    const UNSIGNED: u16 = 0x40;
    let unsupported = |what| Err(IbwError::UnsupportedType { code, offset, what });
    if code == 0 {
        return unsupported("text wave");
    }
    if code & CMPLX != 0 {
        return unsupported("complex wave");
    }
    let unsigned = code & UNSIGNED != 0;
    Ok(match (code & !UNSIGNED, unsigned) {
        (0x02, false) => NumberType::F32,
        (0x04, false) => NumberType::F64,
        (0x08, false) => NumberType::I8,
        (0x10, false) => NumberType::I16,
        (0x20, false) => NumberType::I32,
        (0x80, false) => NumberType::I64,
        (0x08, true) => NumberType::U8,
        (0x10, true) => NumberType::U16,
        (0x20, true) => NumberType::U32,
        (0x80, true) => NumberType::U64,
        _ => return unsupported("unknown number type"),
    })
}

/// Converts the raw data bytes (already bounds-checked) to `f32`.
fn convert(raw: &[u8], ty: NumberType, order: ByteOrder) -> Vec<f32> {
    fn word<const N: usize>(chunk: &[u8], order: ByteOrder) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(chunk);
        if order == ByteOrder::Big {
            out.reverse();
        }
        out
    }
    let n = ty.size_bytes();
    raw.chunks_exact(n)
        .map(|c| match ty {
            NumberType::F32 => f32::from_le_bytes(word(c, order)),
            NumberType::F64 => f64::from_le_bytes(word(c, order)) as f32,
            NumberType::I8 => f32::from(i8::from_le_bytes(word(c, order))),
            NumberType::U8 => f32::from(c[0]),
            NumberType::I16 => f32::from(i16::from_le_bytes(word(c, order))),
            NumberType::U16 => f32::from(u16::from_le_bytes(word(c, order))),
            NumberType::I32 => i32::from_le_bytes(word(c, order)) as f32,
            NumberType::U32 => u32::from_le_bytes(word(c, order)) as f32,
            NumberType::I64 => i64::from_le_bytes(word(c, order)) as f32,
            NumberType::U64 => u64::from_le_bytes(word(c, order)) as f32,
        })
        .collect()
}

/// Reads `npnts` values of type `ty` at `offset`; `Truncated` if they are not all in the buffer.
fn read_data(r: Reader, offset: usize, npnts: usize, ty: NumberType) -> Result<Vec<f32>, IbwError> {
    let n_bytes = npnts.checked_mul(ty.size_bytes()).ok_or(IbwError::BadField {
        field: "npnts",
        offset,
        value: npnts as i64,
        why: "data size overflows".into(),
    })?;
    Ok(convert(r.bytes("wave data", offset, n_bytes)?, ty, r.order))
}

fn check_checksum(r: Reader, span: usize) -> Result<(), IbwError> {
    match r.checksum(span)? {
        0 => Ok(()),
        sum => Err(IbwError::Checksum { span, sum }),
    }
}

/// Walks the optional sections that follow each other after the wave data.
struct Sections<'a> {
    r: Reader<'a>,
    at: usize,
}

impl<'a> Sections<'a> {
    fn take(&mut self, what: &str, size: usize) -> Result<&'a [u8], IbwError> {
        let out = self.r.bytes(what, self.at, size)?;
        self.at += size;
        Ok(out)
    }
}

fn parse_v5(r: Reader) -> Result<IbwWave, IbwError> {
    check_checksum(r, BIN5 + WAVE5)?;
    let wfm_size = r.size("BinHeader5.wfmSize", 4)?;
    let formula_size = r.size("BinHeader5.formulaSize", 8)?;
    let note_size = r.size("BinHeader5.noteSize", 12)?;
    let data_eunits_size = r.size("BinHeader5.dataEUnitsSize", 16)?;
    let mut dim_eunits_size = [0usize; 4];
    let mut dim_labels_size = [0usize; 4];
    for d in 0..4 {
        dim_eunits_size[d] = r.size("BinHeader5.dimEUnitsSize", 20 + 4 * d)?;
        dim_labels_size[d] = r.size("BinHeader5.dimLabelsSize", 36 + 4 * d)?;
    }
    let s_indices_size = r.size("BinHeader5.sIndicesSize", 52)?;
    let options1 = r.size("BinHeader5.optionsSize1", 56)?;
    let options2 = r.size("BinHeader5.optionsSize2", 60)?;

    let w = BIN5;
    let creation = r.u32("WaveHeader5.creationDate", w + 4)?;
    let modification = r.u32("WaveHeader5.modDate", w + 8)?;
    let npnts = r.size("WaveHeader5.npnts", w + 12)?;
    let ty = number_type(r.u16("WaveHeader5.type", w + 16)?, w + 16)?;
    let name = decode_text(r.bytes("WaveHeader5.bname", w + 28, 32)?);

    let mut dims = Vec::new();
    for d in 0..4 {
        let n = r.size("WaveHeader5.nDim", w + 68 + 4 * d)?;
        if n == 0 {
            break;
        }
        dims.push(n);
    }
    let product = dims.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n));
    let consistent = match product {
        Some(p) if !dims.is_empty() => p == npnts,
        Some(_) => npnts == 0,
        None => false,
    };
    if !consistent {
        return Err(IbwError::BadField {
            field: "WaveHeader5.npnts",
            offset: w + 12,
            value: npnts as i64,
            why: format!("does not equal the product of the dimensions {dims:?}"),
        });
    }
    let data_bytes = npnts.saturating_mul(ty.size_bytes());
    if wfm_size < WAVE5.saturating_add(data_bytes) {
        return Err(IbwError::BadField {
            field: "BinHeader5.wfmSize",
            offset: 4,
            value: wfm_size as i64,
            why: format!("smaller than the wave header (320) plus {data_bytes} data bytes"),
        });
    }
    let data = read_data(r, BIN5 + WAVE5, npnts, ty)?;

    let data_units_field = decode_text(r.bytes("WaveHeader5.dataUnits", w + 148, 4)?);
    let mut sections = Sections { r, at: BIN5.saturating_add(wfm_size) };
    sections.take("dependency formula", formula_size)?;
    let note = Note::parse(&decode_text(sections.take("wave note", note_size)?));
    let data_units = match data_eunits_size {
        0 => data_units_field,
        n => decode_text(sections.take("extended data units", n)?),
    };
    let mut scales = Vec::with_capacity(dims.len());
    for (d, &eunits_size) in dim_eunits_size.iter().enumerate() {
        let short = decode_text(r.bytes("WaveHeader5.dimUnits", w + 152 + 4 * d, 4)?);
        let units = match eunits_size {
            0 => short,
            n => decode_text(sections.take("extended dimension units", n)?),
        };
        if d < dims.len() {
            let delta = r.f64("WaveHeader5.sfA", w + 84 + 8 * d)?;
            let offset = r.f64("WaveHeader5.sfB", w + 116 + 8 * d)?;
            scales.push(DimScale { delta, offset, units });
        }
    }
    let mut labels = vec![DimLabels::default(); dims.len()];
    for (d, &size) in dim_labels_size.iter().enumerate() {
        if size == 0 {
            continue;
        }
        let field_offset = 36 + 4 * d;
        let Some(&n) = dims.get(d) else {
            return Err(IbwError::BadField {
                field: "BinHeader5.dimLabelsSize",
                offset: field_offset,
                value: size as i64,
                why: format!("labels for dimension {d}, which the wave does not have"),
            });
        };
        let raw = sections.take("dimension labels", size)?;
        let slots = n.saturating_add(1);
        if size % slots != 0 {
            return Err(IbwError::BadField {
                field: "BinHeader5.dimLabelsSize",
                offset: field_offset,
                value: size as i64,
                why: format!("not a whole number of labels for {n} elements plus the dimension label"),
            });
        }
        let mut texts = raw.chunks_exact(size / slots).map(decode_text);
        let dimension = texts.next().unwrap_or_default();
        if let Some(slot) = labels.get_mut(d) {
            *slot = DimLabels { dimension, elements: texts.collect() };
        }
    }
    sections.take("string indices", s_indices_size)?;
    sections.take("reserved options 1", options1)?;
    sections.take("reserved options 2", options2)?;

    Ok(IbwWave {
        version: 5,
        byte_order: r.order,
        name,
        number_type: ty,
        dims,
        scales,
        labels,
        data_units,
        data,
        note,
        creation_date_mac_s: creation,
        modification_date_mac_s: modification,
    })
}

fn parse_v123(r: Reader, version: u16) -> Result<IbwWave, IbwError> {
    // BinHeader1: version, wfmSize, checksum (8 bytes). BinHeader2 adds noteSize and pictSize (16);
    // BinHeader3 adds formulaSize too (20).
    let (bin, note_size, formula_size) = match version {
        1 => (8, 0, 0),
        2 => (16, r.size("BinHeader2.noteSize", 6)?, 0),
        _ => (20, r.size("BinHeader3.noteSize", 6)?, r.size("BinHeader3.formulaSize", 10)?),
    };
    check_checksum(r, bin + WAVE2_CHECKSUMMED)?;
    let wfm_size = r.size("BinHeader.wfmSize", 2)?;
    let w = bin;
    let ty = number_type(r.u16("WaveHeader2.type", w)?, w)?;
    let name = decode_text(r.bytes("WaveHeader2.bname", w + 6, 20)?);
    let data_units = decode_text(r.bytes("WaveHeader2.dataUnits", w + 34, 4)?);
    let x_units = decode_text(r.bytes("WaveHeader2.xUnits", w + 38, 4)?);
    let npnts = r.size("WaveHeader2.npnts", w + 42)?;
    let delta = r.f64("WaveHeader2.hsA", w + 48)?;
    let offset = r.f64("WaveHeader2.hsB", w + 56)?;
    let creation = if version == 1 { 0 } else { r.u32("WaveHeader2.creationDate", w + 96)? };
    let modification = r.u32("WaveHeader2.modDate", w + 102)?;
    let data_bytes = npnts.saturating_mul(ty.size_bytes());
    if wfm_size < WAVE2.saturating_add(data_bytes).saturating_add(16) {
        return Err(IbwError::BadField {
            field: "BinHeader.wfmSize",
            offset: 2,
            value: wfm_size as i64,
            why: format!("smaller than the wave header (110) plus {data_bytes} data bytes plus 16 padding"),
        });
    }
    let data = read_data(r, bin + WAVE2, npnts, ty)?;
    let mut sections = Sections { r, at: bin.saturating_add(wfm_size) };
    let note = Note::parse(&decode_text(sections.take("wave note", note_size)?));
    sections.take("dependency formula", formula_size)?;
    let dims = if npnts > 0 { vec![npnts] } else { Vec::new() };
    let scales = dims.iter().map(|_| DimScale { delta, offset, units: x_units.clone() }).collect();
    let labels = vec![DimLabels::default(); dims.len()];
    Ok(IbwWave {
        version,
        byte_order: r.order,
        name,
        number_type: ty,
        dims,
        scales,
        labels,
        data_units,
        data,
        note,
        creation_date_mac_s: creation,
        modification_date_mac_s: modification,
    })
}
