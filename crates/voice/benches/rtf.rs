//! Real-time factor (processing time / audio length) of Whisper on a 10 s and a 30 s voice note,
//! 2 threads, and the process RSS with the model loaded and after the idle unload.
//!
//! `cargo bench -p vpnkeeper-voice --bench rtf` (release build). The model comes from
//! VPNKEEPER_WHISPER_MODEL or scripts/fetch-whisper-model.sh's default path. The notes are the
//! committed clips: 10 s = the Russian clip + silence; 30 s = Russian, English, Russian, English
//! cut at 30 s. Goal (issue #17): RTF ≤ 0.25 (10 s) and ≤ 0.12 (30 s). Timings on a shared
//! machine are noisy: the load average is printed with them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use vpnkeeper_voice::{decode_ogg_opus, Transcriber, VoiceConfig, SAMPLE_RATE};

const RUNS: usize = 3;

fn model() -> PathBuf {
    let path = std::env::var_os("VPNKEEPER_WHISPER_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache")
                });
            cache.join("vpnkeeper/ggml-base-q8_0.bin")
        });
    if !path.is_file() {
        eprintln!(
            "no model at {}: run scripts/fetch-whisper-model.sh",
            path.display()
        );
        std::process::exit(1);
    }
    path
}

fn clip(name: &str) -> Vec<f32> {
    let bytes = std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    decode_ogg_opus(&bytes).unwrap()
}

fn note(parts: &[&[f32]], seconds: usize) -> Vec<f32> {
    let mut pcm: Vec<f32> = parts.concat();
    pcm.resize(seconds * SAMPLE_RATE as usize, 0.0);
    pcm
}

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Median seconds of `RUNS` transcriptions, and the last text.
fn time(t: &Transcriber, pcm: &[f32], language: &str) -> (f64, String) {
    let mut secs = Vec::new();
    let mut text = String::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        text = t
            .transcribe_pcm(pcm, Some(language))
            .expect("transcription")
            .text;
        secs.push(started.elapsed().as_secs_f64());
    }
    secs.sort_by(f64::total_cmp);
    (secs[RUNS / 2], text)
}

fn main() {
    let model = model();
    let (ru, en) = (clip("ru.ogg"), clip("en.ogg"));
    let note10 = note(&[&ru], 10);
    let note30 = note(&[&ru, &en, &ru, &en], 30);
    let cfg = VoiceConfig {
        model: Some(model.clone()),
        threads: 2,
        idle_unload_secs: 2,
        ..VoiceConfig::default()
    };
    println!(
        "model {}, 2 threads, load average before: {}",
        model.display(),
        load_average()
    );
    let rss_idle = status_kb("VmRSS:");

    let t = Transcriber::new(cfg.clone());
    let started = Instant::now();
    t.transcribe_pcm(&note10, Some("ru")).expect("warm-up");
    println!(
        "first note (load + transcribe 10 s): {:.2} s",
        started.elapsed().as_secs_f64()
    );
    for (name, pcm) in [("10 s", &note10), ("30 s", &note30)] {
        let (secs, text) = time(&t, pcm, "ru");
        let audio = pcm.len() as f64 / SAMPLE_RATE as f64;
        println!(
            "{name} note: median {secs:.2} s of {RUNS} → RTF {:.3}   [{}…]",
            secs / audio,
            text.chars().take(60).collect::<String>()
        );
    }
    let rss_loaded = status_kb("VmRSS:");
    wait_unloaded(&t);
    let rss_unloaded = status_kb("VmRSS:");
    drop(t);

    let scaled = Transcriber::new(cfg).with_scaled_audio_ctx(true);
    scaled.transcribe_pcm(&note10, Some("ru")).expect("warm-up");
    let (secs, text) = time(&scaled, &note10, "ru");
    println!(
        "10 s note, audio_ctx scaled to the clip: median {secs:.2} s → RTF {:.3}   [{}…]",
        secs / 10.0,
        text.chars().take(60).collect::<String>()
    );
    println!(
        "RSS: before load {} MB, loaded {} MB (peak {} MB), after idle unload {} MB",
        rss_idle / 1024,
        rss_loaded / 1024,
        status_kb("VmHWM:") / 1024,
        rss_unloaded / 1024
    );
    println!("load average after: {}", load_average());
}

fn wait_unloaded(t: &Transcriber) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while t.is_loaded() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}
