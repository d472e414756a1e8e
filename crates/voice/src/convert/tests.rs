//! Round trip: a small synthetic CTranslate2 Whisper written here → ggml → parsed back.

use std::collections::BTreeMap;

use super::half::{f16_to_f32, f32_to_f16};
use super::*;

const D: usize = 64; // n_state (q8_0 needs rows of 32)
const MELS: usize = 8;
const LAYERS: usize = 2;

/// A CTranslate2 `model.bin` writer, the inverse of `ct2::parse`.
#[derive(Default)]
struct Ct2Writer {
    vars: Vec<(String, Vec<usize>, u8, Vec<u8>)>,
}

impl Ct2Writer {
    /// An f16 tensor whose values encode their position: easy to check after slicing.
    fn tensor(&mut self, name: &str, dims: &[usize]) {
        let n: usize = dims.iter().product();
        let seed = self.vars.len() as f32;
        let data = (0..n)
            .flat_map(|i| f32_to_f16(((i as f32 * 0.37 + seed).sin()) * 0.5).to_le_bytes())
            .collect();
        self.vars.push((name.into(), dims.to_vec(), 4, data));
    }
    fn scalar_i16(&mut self, name: &str, v: i16) {
        self.vars
            .push((name.into(), vec![], 2, v.to_le_bytes().to_vec()));
    }
    fn bytes(&self) -> Vec<u8> {
        let string = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        };
        let mut out = 6u32.to_le_bytes().to_vec();
        string(&mut out, "WhisperSpec");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(self.vars.len() as u32).to_le_bytes());
        for (name, dims, dtype, data) in &self.vars {
            string(&mut out, name);
            out.push(dims.len() as u8);
            dims.iter()
                .for_each(|d| out.extend_from_slice(&(*d as u32).to_le_bytes()));
            out.push(*dtype);
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(data);
        }
        out.extend_from_slice(&1u32.to_le_bytes());
        string(&mut out, "decoder/projection/weight");
        string(&mut out, "decoder/embeddings/weight");
        out
    }
    fn f16_values(&self, name: &str) -> Vec<f32> {
        let (_, _, _, data) = self.vars.iter().find(|v| v.0 == name).unwrap();
        data.chunks_exact(2)
            .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
            .collect()
    }
}

fn synthetic_model(vocab: usize) -> Ct2Writer {
    let mut w = Ct2Writer::default();
    w.tensor("encoder/conv1/weight", &[D, MELS, 3]);
    w.tensor("encoder/conv1/bias", &[D]);
    w.tensor("encoder/conv2/weight", &[D, D, 3]);
    w.tensor("encoder/conv2/bias", &[D]);
    w.tensor("encoder/position_encodings/encodings", &[30, D]);
    w.scalar_i16("encoder/num_heads", 4);
    w.scalar_i16("decoder/num_heads", 4);
    w.tensor("decoder/embeddings/weight", &[vocab, D]);
    w.tensor("decoder/position_encodings/encodings", &[16, D]);
    for side in ["encoder", "decoder"] {
        for i in 0..LAYERS {
            let l = format!("{side}/layer_{i}");
            for ln in ["self_attention/layer_norm", "ffn/layer_norm"] {
                w.tensor(&format!("{l}/{ln}/gamma"), &[D]);
                w.tensor(&format!("{l}/{ln}/beta"), &[D]);
            }
            w.tensor(&format!("{l}/self_attention/linear_0/weight"), &[3 * D, D]);
            w.tensor(&format!("{l}/self_attention/linear_0/bias"), &[3 * D]);
            w.tensor(&format!("{l}/self_attention/linear_1/weight"), &[D, D]);
            w.tensor(&format!("{l}/self_attention/linear_1/bias"), &[D]);
            w.tensor(&format!("{l}/ffn/linear_0/weight"), &[4 * D, D]);
            w.tensor(&format!("{l}/ffn/linear_0/bias"), &[4 * D]);
            w.tensor(&format!("{l}/ffn/linear_1/weight"), &[D, 4 * D]);
            w.tensor(&format!("{l}/ffn/linear_1/bias"), &[D]);
            if side == "decoder" {
                w.tensor(&format!("{l}/attention/layer_norm/gamma"), &[D]);
                w.tensor(&format!("{l}/attention/layer_norm/beta"), &[D]);
                w.tensor(&format!("{l}/attention/linear_0/weight"), &[D, D]);
                w.tensor(&format!("{l}/attention/linear_0/bias"), &[D]);
                w.tensor(&format!("{l}/attention/linear_1/weight"), &[2 * D, D]);
                w.tensor(&format!("{l}/attention/linear_1/bias"), &[2 * D]);
                w.tensor(&format!("{l}/attention/linear_2/weight"), &[D, D]);
                w.tensor(&format!("{l}/attention/linear_2/bias"), &[D]);
            }
        }
        w.tensor(&format!("{side}/layer_norm/gamma"), &[D]);
        w.tensor(&format!("{side}/layer_norm/beta"), &[D]);
    }
    w
}

/// `n_text` ordinary tokens (the last one " Привет" in GPT-2's byte-level spelling), then one
/// special token.
fn tokenizer_json(n_text: usize) -> String {
    let spell: std::collections::HashMap<u8, char> = super::vocab::unicode_to_byte()
        .into_iter()
        .map(|(c, b)| (b, c))
        .collect();
    let privet: String = " Привет".bytes().map(|b| spell[&b]).collect();
    let mut vocab: Vec<String> = (0..n_text - 1).map(|i| format!("\"tok{i}\":{i}")).collect();
    vocab.push(format!(
        "{}:{}",
        serde_json::to_string(&privet).unwrap(),
        n_text - 1
    ));
    vocab.push(format!("\"<|endoftext|>\":{n_text}"));
    let added = format!(r#"[{{"id":{n_text},"content":"<|endoftext|>","special":true}}]"#);
    format!(
        r#"{{"model":{{"vocab":{{{}}}}},"added_tokens":{added}}}"#,
        vocab.join(",")
    )
}

/// A parsed ggml file.
struct Ggml {
    hparams: Vec<i32>,
    mel: (i32, i32, Vec<f32>),
    vocab: Vec<Vec<u8>>,
    tensors: BTreeMap<String, (Vec<i32>, i32, Vec<u8>)>,
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn i32(&mut self) -> i32 {
        let v = i32::from_le_bytes(self.b[self.at..self.at + 4].try_into().unwrap());
        self.at += 4;
        v
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        self.at += n;
        self.b[self.at - n..self.at].to_vec()
    }
}

fn parse_ggml(b: &[u8]) -> Ggml {
    let mut r = Reader { b, at: 0 };
    assert_eq!(r.i32() as u32, 0x6767_6d6c, "magic");
    let hparams: Vec<i32> = (0..11).map(|_| r.i32()).collect();
    let (n_mel, n_fft) = (r.i32(), r.i32());
    let mel: Vec<f32> = (0..n_mel * n_fft)
        .map(|_| f32::from_bits(r.i32() as u32))
        .collect();
    let n_vocab = r.i32();
    let vocab = (0..n_vocab).map(|_| {
        let len = r.i32() as usize;
        r.bytes(len)
    });
    let vocab: Vec<Vec<u8>> = vocab.collect();
    let mut tensors = BTreeMap::new();
    while r.at < b.len() {
        let (n_dims, name_len, ty) = (r.i32(), r.i32() as usize, r.i32());
        let ne: Vec<i32> = (0..n_dims).map(|_| r.i32()).collect();
        let name = String::from_utf8(r.bytes(name_len)).unwrap();
        let n: usize = ne.iter().map(|&d| d as usize).product();
        let size = match ty {
            0 => n * 4,
            1 => n * 2,
            8 => n / 32 * 34,
            other => panic!("type {other}"),
        };
        tensors.insert(name, (ne, ty, r.bytes(size)));
    }
    Ggml {
        hparams,
        mel: (n_mel, n_fft, mel),
        vocab,
        tensors,
    }
}

fn f16s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(2)
        .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
        .collect()
}

fn convert(precision: Precision) -> (Ct2Writer, Ggml, ConvertSummary) {
    let dir = tempfile::tempdir().unwrap();
    let model = synthetic_model(40);
    std::fs::write(dir.path().join("model.bin"), model.bytes()).unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), tokenizer_json(38)).unwrap();
    let out = dir.path().join("ggml.bin");
    let summary = ct2_to_ggml(dir.path(), &out, precision).unwrap();
    let ggml = parse_ggml(&std::fs::read(&out).unwrap());
    assert!(!out.with_extension("partial").exists());
    (model, ggml, summary)
}

#[test]
fn header_hparams_mel_and_vocab() {
    let (_, g, summary) = convert(Precision::F16);
    assert_eq!(
        g.hparams,
        vec![40, 30, D as i32, 4, 2, 16, D as i32, 4, 2, MELS as i32, 1]
    );
    assert_eq!(
        (g.mel.0, g.mel.1, g.mel.2.len()),
        (MELS as i32, 201, MELS * 201)
    );
    assert_eq!(g.vocab.len(), 38, "the non-special tokens only");
    assert_eq!(g.vocab[0], b"tok0");
    assert_eq!(
        g.vocab[37],
        " Привет".as_bytes(),
        "byte-level Ġ mapped back to a space"
    );
    assert_eq!(summary.tensors, g.tensors.len());
}

#[test]
fn tensor_names_are_whisper_cpp_names() {
    let (_, g, _) = convert(Precision::F16);
    // 5 + 15 per encoder layer + 2, then 2 + 24 per decoder layer + 2: 245 for base (6 + 6).
    assert_eq!(g.tensors.len(), 5 + 15 * LAYERS + 2 + 2 + 24 * LAYERS + 2);
    for name in [
        "encoder.positional_embedding",
        "encoder.conv1.weight",
        "encoder.blocks.1.attn.key.weight",
        "encoder.blocks.0.mlp.2.bias",
        "encoder.ln_post.weight",
        "decoder.token_embedding.weight",
        "decoder.blocks.1.cross_attn.value.bias",
        "decoder.blocks.0.cross_attn_ln.bias",
        "decoder.ln.bias",
    ] {
        assert!(g.tensors.contains_key(name), "{name} missing");
    }
    for absent in [
        "encoder.blocks.0.attn.key.bias",
        "decoder.blocks.0.cross_attn.key.bias",
    ] {
        assert!(
            !g.tensors.contains_key(absent),
            "{absent}: whisper has no key bias"
        );
    }
}

#[test]
fn shapes_are_reversed_and_types_follow_whisper_cpp() {
    let (_, g, _) = convert(Precision::F16);
    let t = |n: &str| (g.tensors[n].0.clone(), g.tensors[n].1);
    assert_eq!(
        t("encoder.conv1.weight"),
        (vec![3, MELS as i32, D as i32], 1)
    );
    assert_eq!(t("encoder.conv1.bias"), (vec![1, D as i32], 0));
    assert_eq!(t("encoder.positional_embedding"), (vec![D as i32, 30], 0));
    assert_eq!(
        t("encoder.blocks.0.attn.query.weight"),
        (vec![D as i32, D as i32], 1)
    );
    assert_eq!(
        t("encoder.blocks.0.mlp.0.weight"),
        (vec![D as i32, 4 * D as i32], 1)
    );
    assert_eq!(t("decoder.blocks.0.attn_ln.weight"), (vec![D as i32], 0));
}

#[test]
fn fused_projections_are_split_by_rows() {
    let (m, g, _) = convert(Precision::F16);
    let qkv = m.f16_values("encoder/layer_1/self_attention/linear_0/weight");
    let key = f16s(&g.tensors["encoder.blocks.1.attn.key.weight"].2);
    assert_eq!(key, qkv[D * D..2 * D * D], "key = rows d..2d");
    let bias = m.f16_values("decoder/layer_0/self_attention/linear_0/bias");
    let value_bias: Vec<f32> = g.tensors["decoder.blocks.0.attn.value.bias"]
        .2
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(value_bias, bias[2 * D..], "value bias = last third, as f32");
    let kv = m.f16_values("decoder/layer_1/attention/linear_1/weight");
    assert_eq!(
        f16s(&g.tensors["decoder.blocks.1.cross_attn.value.weight"].2),
        kv[D * D..]
    );
}

#[test]
fn q8_0_quantises_matrices_only_and_stays_close() {
    let (m, g, _) = convert(Precision::Q8_0);
    assert_eq!(g.hparams[10], 2007, "ftype q8_0");
    assert_eq!(g.tensors["decoder.token_embedding.weight"].1, 8);
    assert_eq!(g.tensors["encoder.blocks.0.attn.out.weight"].1, 8);
    assert_eq!(
        g.tensors["encoder.conv2.weight"].1, 1,
        "conv kernels stay f16"
    );
    assert_eq!(
        g.tensors["decoder.positional_embedding"].1, 0,
        "positional embeddings stay f32"
    );
    assert_eq!(g.tensors["encoder.blocks.0.mlp_ln.bias"].1, 0);
    // Dequantise one matrix: each value within ~half a step of the original (the stored scale is
    // rounded to f16 after quantising, as in ggml, which adds up to 127 × 2^-11 of a step).
    let original = m.f16_values("encoder/layer_0/ffn/linear_1/weight");
    let blocks = &g.tensors["encoder.blocks.0.mlp.2.weight"].2;
    for (b, chunk) in blocks.chunks_exact(34).zip(original.chunks(32)) {
        let scale = f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
        for (q, x) in b[2..].iter().zip(chunk) {
            assert!(((*q as i8) as f32 * scale - x).abs() <= scale * 0.57 + 1e-4);
        }
    }
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.bin");
    let err = ct2_to_ggml(dir.path(), &out, Precision::F16).unwrap_err();
    assert!(err.to_string().contains("model.bin"), "{err}");
    std::fs::write(dir.path().join("model.bin"), b"\x06\0\0\0garbage").unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), tokenizer_json(38)).unwrap();
    let err = ct2_to_ggml(dir.path(), &out, Precision::F16).unwrap_err();
    assert!(
        matches!(err, ConvertError::Format(_)) && !err.to_string().contains('\n'),
        "{err}"
    );
    let mut truncated = synthetic_model(40).bytes();
    truncated.truncate(truncated.len() / 2);
    std::fs::write(dir.path().join("model.bin"), truncated).unwrap();
    assert!(ct2_to_ggml(dir.path(), &out, Precision::F16)
        .unwrap_err()
        .to_string()
        .contains("truncated"));
    assert!(
        !out.exists() && !out.with_extension("partial").exists(),
        "nothing half-written"
    );
}
