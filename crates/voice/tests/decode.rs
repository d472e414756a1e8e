//! The Ogg/Opus decoder against committed opusenc fixtures (tests/fixtures/make-fixtures.sh).

use vpnkeeper_voice::{decode_ogg_opus, VoiceError};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Index of the first sample louder than `threshold`.
fn onset(pcm: &[f32], threshold: f32) -> usize {
    pcm.iter()
        .position(|s| s.abs() > threshold)
        .expect("no loud sample")
}

fn rms(pcm: &[f32]) -> f32 {
    (pcm.iter().map(|s| s * s).sum::<f32>() / pcm.len() as f32).sqrt()
}

#[test]
fn length_is_the_granule_minus_pre_skip() {
    // 1.234 s at 48 kHz in the WAV; pre-skip 312, final granule 59,544 → 19,744 samples at 16 kHz.
    let pcm = decode_ogg_opus(&fixture("tone.ogg")).unwrap();
    assert_eq!(pcm.len(), 19_744);
}

#[test]
fn pre_skip_is_dropped_so_the_audio_starts_on_time() {
    // The WAV is 0.5 s of silence then a tone: the tone must start at sample 8,000. Without the
    // pre-skip (312 / 3 = 104 samples) it would start ~104 samples late.
    let pcm = decode_ogg_opus(&fixture("tone.ogg")).unwrap();
    let start = onset(&pcm, 0.05);
    assert!(
        (7_970..=8_030).contains(&start),
        "tone starts at sample {start}, expected ~8000"
    );
    assert!(
        rms(&pcm[..7_900]) < 0.002,
        "the leading silence is not silent"
    );
    // The 440 Hz tone at amplitude 12000/32768 has RMS ~0.26.
    let tone_rms = rms(&pcm[9_000..19_000]);
    assert!((0.2..0.32).contains(&tone_rms), "tone RMS {tone_rms}");
}

#[test]
fn granule_trimming_keeps_the_tone_to_the_last_sample() {
    // The tone runs to the end of the WAV: after trimming the end padding, the last 10 ms are
    // still tone, not the encoder's padding.
    let pcm = decode_ogg_opus(&fixture("tone.ogg")).unwrap();
    let tail = &pcm[pcm.len() - 160..];
    assert!(
        rms(tail) > 0.1,
        "the end of the clip lost the tone: RMS {}",
        rms(tail)
    );
}

#[test]
fn stereo_is_downmixed_to_mono_at_the_right_length() {
    let pcm = decode_ogg_opus(&fixture("stereo.ogg")).unwrap();
    assert_eq!(pcm.len(), 12_000);
    assert!(rms(&pcm) > 0.1);
}

#[test]
fn speech_clips_decode_to_their_duration() {
    let ru = decode_ogg_opus(&fixture("ru.ogg")).unwrap();
    assert_eq!(ru.len(), 132_121);
    let en = decode_ogg_opus(&fixture("en.ogg")).unwrap();
    assert_eq!(en.len(), 130_591);
}

#[test]
fn a_truncated_file_decodes_what_is_there() {
    // Cut inside the last page: the reader stops at the broken page; the error is one clear line.
    let ogg = fixture("ru.ogg");
    match decode_ogg_opus(&ogg[..ogg.len() / 2]) {
        Ok(pcm) => assert!(
            pcm.len() > 16_000 && pcm.len() < 132_121,
            "{} samples",
            pcm.len()
        ),
        Err(VoiceError::BadAudio(msg)) => assert!(!msg.contains('\n'), "{msg}"),
        Err(other) => panic!("unexpected {other}"),
    }
}

#[test]
fn garbage_is_bad_audio_not_a_panic() {
    for input in [&b""[..], b"not an ogg file at all", &[0u8; 4096][..]] {
        let err = decode_ogg_opus(input).unwrap_err();
        assert!(matches!(err, VoiceError::BadAudio(_)), "{err:?}");
    }
}

#[test]
fn corrupted_packets_never_panic() {
    // Flip bytes inside the audio pages (past the headers) at many positions; the Ogg CRC or the
    // Opus decoder must reject them with BadAudio, or the decode succeeds: never a panic.
    let ogg = fixture("en.ogg");
    for step in 0..64 {
        let mut bad = ogg.clone();
        let at = 400 + step * (ogg.len() - 400) / 64;
        bad[at] ^= 0x5a;
        match decode_ogg_opus(&bad) {
            Ok(_) | Err(VoiceError::BadAudio(_)) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
}
