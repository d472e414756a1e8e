//! Cheap checks before Whisper runs: silence by RMS, and results that are only tags.
//!
//! Whisper turns silence and noise into "[музыка]" or "(music)" with a no-speech probability of
//! 0, so neither its own no-speech score nor an empty result can be trusted to say "nothing".

use crate::SAMPLE_RATE;

/// Window of the loudness check: 100 ms.
const WINDOW: usize = SAMPLE_RATE as usize / 10;
/// A note whose loudest 100 ms is below -40 dBFS (RMS 0.01) is silent. Speech on a phone
/// microphone peaks far above it (-20..-6 dBFS); line hiss and digital silence sit below.
pub(crate) const SILENCE_RMS: f32 = 0.01;

/// RMS of the loudest 100 ms window.
pub(crate) fn peak_window_rms(pcm: &[f32]) -> f32 {
    pcm.chunks(WINDOW)
        .map(|w| (w.iter().map(|s| s * s).sum::<f32>() / w.len() as f32).sqrt())
        .fold(0.0, f32::max)
}

pub(crate) fn is_silent(pcm: &[f32]) -> bool {
    peak_window_rms(pcm) < SILENCE_RMS
}

/// The text with Whisper's non-speech annotations removed: `[музыка]`, `(music)`, `*laughs*`,
/// `♪`, with whitespace collapsed. Empty when the result was only tags (or punctuation).
pub(crate) fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut closing: Option<char> = None;
    for c in text.chars() {
        match closing {
            Some(end) if c == end => closing = None,
            Some(_) => {}
            None => match c {
                '[' => closing = Some(']'),
                '(' => closing = Some(')'),
                '*' => closing = Some('*'),
                '♪' | '♫' | '♬' => {}
                _ => out.push(c),
            },
        }
    }
    let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().any(char::is_alphanumeric) {
        collapsed
    } else {
        String::new()
    }
}

/// Phrases Whisper writes over noise or silence as the whole result (learnt from film
/// subtitles), compared lower-case without punctuation.
const SUBTITLE_PHRASES: &[&str] = &[
    "продолжение следует",
    "субтитры сделал dimatorzok",
    "субтитры создавал dimatorzok",
    "редактор субтитров а семкин корректор а егорова",
    "thank you for watching",
    "thanks for watching",
];

/// Whether a (tag-free) result is a subtitle caption rather than speech: written all in capitals
/// like "ТРЕВОЖНАЯ МУЗЫКА" (Whisper's unbracketed sound captions; measured on white noise), or
/// one of the known subtitle credits.
pub(crate) fn is_caption(text: &str) -> bool {
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() >= 6 && letters.iter().all(|c| c.is_uppercase()) {
        return true;
    }
    let normal: String = text
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    let normal = normal.split_whitespace().collect::<Vec<_>>().join(" ");
    SUBTITLE_PHRASES.contains(&normal.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_only_is_empty() {
        for text in [
            "[музыка]",
            " [Music] ",
            "(music)",
            "*laughs*",
            "♪ ♪",
            "[BLANK_AUDIO]",
            "",
            " . ",
            "[МУЗЫКА] (аплодисменты)",
        ] {
            assert_eq!(strip_tags(text), "", "{text:?}");
        }
    }

    #[test]
    fn words_survive_and_tags_go() {
        assert_eq!(
            strip_tags(" [музыка] Привет, не работает VPN."),
            "Привет, не работает VPN."
        );
        assert_eq!(strip_tags("Hello (coughs) there  ♪"), "Hello there");
        assert_eq!(strip_tags("Unclosed [bracket eats the rest"), "Unclosed");
    }

    #[test]
    fn captions_are_not_speech() {
        for text in [
            "ТРЕВОЖНАЯ МУЗЫКА",
            "АПЛОДИСМЕНТЫ.",
            "Продолжение следует...",
            "Субтитры сделал DimaTorzok",
            "Thanks for watching!",
        ] {
            assert!(is_caption(text), "{text:?}");
        }
        for text in [
            "VPN не работает",
            "Привет, помогите пожалуйста",
            "SOS",
            "Hello, my VPN is down.",
        ] {
            assert!(!is_caption(text), "{text:?}");
        }
    }

    #[test]
    fn silence_gate() {
        assert!(is_silent(&vec![0.0; 16_000]));
        assert!(is_silent(&vec![0.005; 16_000]), "-46 dBFS hum");
        let mut speech = vec![0.0; 32_000];
        speech[16_000..17_600]
            .iter_mut()
            .enumerate()
            .for_each(|(i, s)| *s = 0.3 * (i as f32 * 0.2).sin());
        assert!(!is_silent(&speech), "one loud 100 ms is enough");
        assert!(is_silent(&[]), "nothing is silent");
        assert!((peak_window_rms(&vec![0.5; 1_600]) - 0.5).abs() < 1e-6);
    }
}
