//! Whisper's mel filterbank: librosa's `filters.mel(sr=16000, n_fft=400, n_mels=N)` (Slaney mel
//! scale and area normalisation), which whisper.cpp reads from the model file.

pub(crate) const N_FFT_BINS: usize = 201; // n_fft 400 → 201 frequency bins
const SAMPLE_RATE: f64 = 16_000.0;

fn hz_to_mel(hz: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    let log_step = 6.4f64.ln() / 27.0;
    if hz >= 1000.0 {
        1000.0 / F_SP + (hz / 1000.0).ln() / log_step
    } else {
        hz / F_SP
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    let log_step = 6.4f64.ln() / 27.0;
    let min_log_mel = 1000.0 / F_SP;
    if mel >= min_log_mel {
        1000.0 * (log_step * (mel - min_log_mel)).exp()
    } else {
        mel * F_SP
    }
}

/// `n_mels × 201` weights, row-major.
pub(crate) fn filters(n_mels: usize) -> Vec<f32> {
    let fft_freqs: Vec<f64> = (0..N_FFT_BINS)
        .map(|k| k as f64 * SAMPLE_RATE / 400.0)
        .collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE / 2.0));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut out = Vec::with_capacity(n_mels * N_FFT_BINS);
    for i in 0..n_mels {
        let (left, center, right) = (mel_f[i], mel_f[i + 1], mel_f[i + 2]);
        let enorm = 2.0 / (right - left);
        for &f in &fft_freqs {
            let lower = (f - left) / (center - left);
            let upper = (right - f) / (right - center);
            out.push((lower.min(upper).max(0.0) * enorm) as f32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_librosa_reference_values() {
        // [0][1] as librosa's formulas give it (computed separately in Python; whisper's mel_80).
        let f = filters(80);
        assert_eq!(f.len(), 80 * 201);
        let at = |m: usize, k: usize| f[m * 201 + k];
        assert!((at(0, 1) - 0.024_862_6).abs() < 1e-5, "{}", at(0, 1));
        assert_eq!(at(0, 0), 0.0);
        assert_eq!(at(79, 200), 0.0, "the top filter ends at Nyquist");
        // Every filter has some weight, and they cover the band without holes.
        for m in 0..80 {
            assert!((0..201).any(|k| at(m, k) > 0.0), "filter {m} is empty");
        }
    }
}
