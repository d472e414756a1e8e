//! Writer for whisper.cpp's legacy ggml model file (what `models/convert-pt-to-ggml.py` makes and
//! whisper.cpp 1.8 loads): magic, hparams, mel filters, vocab, then tensors.

use std::io::{self, Write};

use super::half::f32_to_f16;

pub(crate) const MAGIC: u32 = 0x6767_6d6c; // "ggml"
pub(crate) const FTYPE_F16: i32 = 1;
pub(crate) const FTYPE_Q8_0: i32 = 2007; // GGML_FTYPE_MOSTLY_Q8_0 (7) + 1000 × quantisation version 2
const QK8_0: usize = 32;

/// Element type of one tensor, as ggml numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TensorType {
    F32 = 0,
    F16 = 1,
    Q8_0 = 8,
}

/// The 11 hyperparameters, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hparams {
    pub n_vocab: i32,
    pub n_audio_ctx: i32,
    pub n_audio_state: i32,
    pub n_audio_head: i32,
    pub n_audio_layer: i32,
    pub n_text_ctx: i32,
    pub n_text_state: i32,
    pub n_text_head: i32,
    pub n_text_layer: i32,
    pub n_mels: i32,
    pub ftype: i32,
}

fn i32s<W: Write>(w: &mut W, values: &[i32]) -> io::Result<()> {
    values
        .iter()
        .try_for_each(|v| w.write_all(&v.to_le_bytes()))
}

pub(crate) fn write_header<W: Write>(
    w: &mut W,
    h: &Hparams,
    mel: &[f32],
    n_fft: usize,
    vocab: &[Vec<u8>],
) -> io::Result<()> {
    w.write_all(&MAGIC.to_le_bytes())?;
    #[rustfmt::skip]
    i32s(w, &[h.n_vocab, h.n_audio_ctx, h.n_audio_state, h.n_audio_head, h.n_audio_layer,
        h.n_text_ctx, h.n_text_state, h.n_text_head, h.n_text_layer, h.n_mels, h.ftype])?;
    i32s(w, &[h.n_mels, n_fft as i32])?;
    mel.iter().try_for_each(|v| w.write_all(&v.to_le_bytes()))?;
    i32s(w, &[vocab.len() as i32])?;
    for token in vocab {
        i32s(w, &[token.len() as i32])?;
        w.write_all(token)?;
    }
    Ok(())
}

/// One tensor: `shape` in row-major order (outermost first); ggml wants it reversed.
pub(crate) fn write_tensor<W: Write>(
    w: &mut W,
    name: &str,
    shape: &[usize],
    ty: TensorType,
    data: &[f32],
) -> io::Result<()> {
    i32s(w, &[shape.len() as i32, name.len() as i32, ty as i32])?;
    shape
        .iter()
        .rev()
        .try_for_each(|&d| w.write_all(&(d as i32).to_le_bytes()))?;
    w.write_all(name.as_bytes())?;
    let mut buf = Vec::with_capacity(data.len() * 4);
    match ty {
        TensorType::F32 => data
            .iter()
            .for_each(|v| buf.extend_from_slice(&v.to_le_bytes())),
        TensorType::F16 => data
            .iter()
            .for_each(|v| buf.extend_from_slice(&f32_to_f16(*v).to_le_bytes())),
        TensorType::Q8_0 => quantize_q8_0(data, &mut buf),
    }
    w.write_all(&buf)
}

/// ggml's `quantize_row_q8_0_ref`: per block of 32, an f16 scale amax/127 and 32 × i8.
pub(crate) fn quantize_q8_0(data: &[f32], out: &mut Vec<u8>) {
    for block in data.chunks(QK8_0) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let inv = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
        out.extend(block.iter().map(|v| (v * inv).round() as i8 as u8));
    }
}

/// Whether q8_0 can hold a tensor: rows must be whole blocks of 32.
pub(crate) fn q8_0_fits(shape: &[usize]) -> bool {
    shape.last().is_some_and(|cols| cols % QK8_0 == 0)
}
