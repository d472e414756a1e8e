//! Ogg/Opus (a Telegram voice note) → 16 kHz mono `f32`.
//!
//! Opus decodes natively at 16 kHz, so no resampler is needed; the Ogg framing (RFC 7845) counts
//! in 48 kHz samples, hence the divisions by 3: the first `pre_skip` samples are encoder delay
//! and are dropped, and the last page's granule position says where the audio really ends
//! (the final packet is padded to a whole frame).

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use ogg::reading::PacketReader;
use opus_rs::OpusDecoder;

use crate::{VoiceError, SAMPLE_RATE};

/// Ogg granule positions count 48 kHz samples; we decode at 16 kHz.
const GRANULE_PER_SAMPLE: u64 = 48_000 / SAMPLE_RATE as u64;
/// The longest Opus packet is 120 ms.
const MAX_PACKET_SAMPLES: usize = SAMPLE_RATE as usize * 120 / 1000;
/// A page granule position of all ones means "no packet ends on this page".
const NO_GRANULE: u64 = u64::MAX;

/// The fields of the `OpusHead` identification header we need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpusHead {
    pub channels: u8,
    /// Samples (at 48 kHz) to drop at the start.
    pub pre_skip: u16,
    /// Output gain in Q7.8 dB.
    pub gain_q8: i16,
}

impl OpusHead {
    pub(crate) fn parse(packet: &[u8]) -> Result<Self, VoiceError> {
        if packet.len() < 19 || &packet[..8] != b"OpusHead" {
            return Err(bad(
                "the first packet is not an OpusHead header (is it an Opus voice note?)",
            ));
        }
        if packet[8] >> 4 != 0 {
            return Err(bad(&format!("unsupported OpusHead version {}", packet[8])));
        }
        let channels = packet[9];
        let mapping_family = packet[18];
        // Family 0 is mono/stereo in one stream; family 1 with one stream is the same audio.
        let one_stream = mapping_family == 0 || (mapping_family == 1 && packet.get(19) == Some(&1));
        if channels == 0 || !one_stream {
            return Err(bad(
                "multichannel Opus (more than one stream) is not supported",
            ));
        }
        Ok(Self {
            channels,
            pre_skip: u16::from_le_bytes([packet[10], packet[11]]),
            gain_q8: i16::from_le_bytes([packet[16], packet[17]]),
        })
    }
}

fn bad(msg: &str) -> VoiceError {
    VoiceError::BadAudio(msg.to_string())
}

/// Decodes an Ogg/Opus file to 16 kHz mono `f32` samples in [-1, 1], trimmed by pre-skip and
/// the final granule position.
pub fn decode_ogg_opus(ogg: &[u8]) -> Result<Vec<f32>, VoiceError> {
    decode_capped(ogg, None)
}

/// As [`decode_ogg_opus`], but stops decoding past `max_seconds` and returns
/// [`VoiceError::TooLong`] with the note's real length (read from the granule positions, without
/// decoding the rest), so a long file never costs more memory than the cap.
pub(crate) fn decode_capped(ogg: &[u8], max_seconds: Option<u32>) -> Result<Vec<f32>, VoiceError> {
    let mut reader = PacketReader::new(Cursor::new(ogg));
    let head_packet = next_packet(&mut reader)?.ok_or_else(|| bad("empty file: no Ogg pages"))?;
    let serial = head_packet.stream_serial();
    let head = OpusHead::parse(&head_packet.data)?;
    let mut decoder = OpusDecoder::new(SAMPLE_RATE as i32, 1)
        .map_err(|e| VoiceError::Model(format!("cannot create the Opus decoder: {e}")))?;
    let cap = max_seconds.map(|s| s as usize * SAMPLE_RATE as usize);
    let mut pcm: Vec<f32> = Vec::new();
    let mut last_granule = None;
    let mut packet_index = 0u64;
    let mut frame = vec![0f32; MAX_PACKET_SAMPLES];
    while let Some(packet) = next_packet(&mut reader)? {
        if packet.stream_serial() != serial {
            continue; // another logical stream (never in a voice note): ignore it
        }
        packet_index += 1;
        if packet.absgp_page() != NO_GRANULE && packet.last_in_page() {
            last_granule = Some(packet.absgp_page());
        }
        if packet_index == 1 {
            continue; // OpusTags: nothing we need
        }
        if cap.is_some_and(|c| pcm.len() > c) {
            continue; // over the cap: only the granule positions still matter
        }
        let n = decode_packet(&mut decoder, &packet.data, &mut frame)?;
        pcm.extend_from_slice(&frame[..n]);
    }
    let pcm = trim(pcm, &head, last_granule)?;
    if let (Some(cap), Some(limit)) = (cap, max_seconds) {
        let total = last_granule.map_or(pcm.len() as u64, |g| {
            g.saturating_sub(head.pre_skip as u64) / GRANULE_PER_SAMPLE
        });
        if pcm.len() > cap || total as usize > cap {
            let seconds = (total.max(pcm.len() as u64) / SAMPLE_RATE as u64) as u32;
            return Err(VoiceError::TooLong {
                seconds: seconds.max(limit + 1),
            });
        }
    }
    Ok(apply_gain(pcm, head.gain_q8))
}

fn next_packet(
    reader: &mut PacketReader<Cursor<&[u8]>>,
) -> Result<Option<ogg::Packet>, VoiceError> {
    reader
        .read_packet()
        .map_err(|e| bad(&format!("broken Ogg stream: {e}")))
}

/// One Opus packet → mono samples in `frame`. The decoder is pure Rust but has panicked on
/// malformed packets in the past: a hostile file must give an error, never bring the node down.
fn decode_packet(
    decoder: &mut OpusDecoder,
    data: &[u8],
    frame: &mut [f32],
) -> Result<usize, VoiceError> {
    let max = frame.len();
    let result = catch_unwind(AssertUnwindSafe(|| decoder.decode(data, max, frame)));
    match result {
        Ok(Ok(n)) => Ok(n.min(max)),
        Ok(Err(e)) => Err(bad(&format!("corrupt Opus packet: {e}"))),
        Err(_) => Err(bad("corrupt Opus packet (the decoder rejected it)")),
    }
}

/// Drops the pre-skip and cuts the end padding at the last granule position.
fn trim(
    mut pcm: Vec<f32>,
    head: &OpusHead,
    last_granule: Option<u64>,
) -> Result<Vec<f32>, VoiceError> {
    let skip = (head.pre_skip as u64 / GRANULE_PER_SAMPLE) as usize;
    if let Some(granule) = last_granule {
        if granule < head.pre_skip as u64 {
            return Err(bad("the final granule position is before the pre-skip"));
        }
        let end = (granule / GRANULE_PER_SAMPLE) as usize;
        pcm.truncate(end);
    }
    if pcm.len() <= skip {
        return Err(bad("no audio after the Opus headers"));
    }
    pcm.drain(..skip);
    Ok(pcm)
}

/// Applies the header's output gain (almost always 0 dB) and keeps samples in [-1, 1].
fn apply_gain(mut pcm: Vec<f32>, gain_q8: i16) -> Vec<f32> {
    if gain_q8 != 0 {
        let factor = 10f32.powf(gain_q8 as f32 / 256.0 / 20.0);
        pcm.iter_mut()
            .for_each(|s| *s = (*s * factor).clamp(-1.0, 1.0));
    }
    pcm
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(version: u8, channels: u8, pre_skip: u16, family: u8, streams: u8) -> Vec<u8> {
        let mut h = b"OpusHead".to_vec();
        h.extend_from_slice(&[version, channels]);
        h.extend_from_slice(&pre_skip.to_le_bytes());
        h.extend_from_slice(&48_000u32.to_le_bytes());
        h.extend_from_slice(&(-256i16).to_le_bytes());
        h.extend_from_slice(&[family, streams, 1, 0, 1]);
        h
    }

    #[test]
    fn opus_head_fields() {
        let parsed = OpusHead::parse(&head(1, 2, 312, 0, 0)).unwrap();
        assert_eq!(
            parsed,
            OpusHead {
                channels: 2,
                pre_skip: 312,
                gain_q8: -256
            }
        );
        assert!(OpusHead::parse(&head(1, 2, 312, 1, 1)).is_ok());
    }

    #[test]
    fn opus_head_refusals() {
        assert!(OpusHead::parse(b"OggS but not opus at all").is_err());
        assert!(
            OpusHead::parse(&head(0x10, 1, 312, 0, 0)).is_err(),
            "future major version"
        );
        assert!(
            OpusHead::parse(&head(1, 6, 312, 1, 4)).is_err(),
            "5.1 multistream"
        );
        assert!(
            OpusHead::parse(&head(1, 0, 312, 0, 0)).is_err(),
            "zero channels"
        );
        assert!(
            OpusHead::parse(&head(1, 1, 312, 0, 0)[..12]).is_err(),
            "short"
        );
    }

    #[test]
    fn trim_drops_pre_skip_and_end_padding() {
        let h = OpusHead {
            channels: 1,
            pre_skip: 312,
            gain_q8: 0,
        };
        let pcm: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let out = trim(pcm.clone(), &h, Some(312 + 3 * 500)).unwrap();
        assert_eq!(out.len(), 500);
        assert_eq!(out[0], 104.0);
        assert!(
            trim(pcm.clone(), &h, Some(100)).is_err(),
            "granule before pre-skip"
        );
        assert_eq!(
            trim(pcm, &h, None).unwrap().len(),
            896,
            "no granule: keep all but pre-skip"
        );
    }

    #[test]
    fn gain_is_applied_in_q7_8_db() {
        let out = apply_gain(vec![0.5, -0.5], -(6 * 256));
        assert!((out[0] - 0.2506).abs() < 0.001, "{}", out[0]);
        assert_eq!(apply_gain(vec![0.9], 20 * 256), vec![1.0], "clamped");
    }
}
