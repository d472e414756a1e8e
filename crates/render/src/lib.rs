//! Pixels for people: QR codes of client configs and links, as PNG bytes. No IO.
//!
//! A QR code here is read by a phone camera off another screen (a Telegram chat, the web
//! page of the API), so the choices favour easy scanning over compactness:
//!
//! * Error correction level L. Codes on a screen are never torn or stained; the only thing
//!   that makes scanning hard is module density, and L gives the fewest modules for a given
//!   text (`qrencode`, which the WireGuard docs use for the same job, also defaults to L).
//! * The standard 4-module quiet zone: without it many scanners do not find the code at all
//!   against a dark chat background.
//! * Modules of at least [`MIN_MODULE_PX`] pixels, and small codes scaled up to at least
//!   [`MIN_SIDE_PX`], so the picture survives Telegram's resize and JPEG recompression.
//! * Grayscale PNG: two colours only, so it compresses to a few kilobytes.

use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, Luma};
use qrcode::types::QrError;
use qrcode::{EcLevel, QrCode};

/// Smallest size of one QR module in pixels.
pub const MIN_MODULE_PX: u32 = 8;
/// Smallest side of the whole image in pixels (small codes get larger modules).
pub const MIN_SIDE_PX: u32 = 480;
/// Most bytes a QR code holds at error correction level L (version 40, byte mode).
pub const MAX_QR_BYTES: usize = 2953;

/// Why a QR code could not be made. One line each, saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("text is too long for a QR code ({len} bytes, at most {MAX_QR_BYTES} fit); send it as a file instead")]
    TooLong { len: usize },
    #[error("cannot make a QR code of this text: {0}")]
    Qr(QrError),
    #[error("cannot encode the QR code as PNG: {0}")]
    Png(#[from] image::ImageError),
}

/// A QR code of `text` as a PNG image, sized for a phone camera to scan off a screen.
pub fn qr_png(text: &str) -> Result<Vec<u8>, RenderError> {
    let code =
        QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L).map_err(|e| match e {
            QrError::DataTooLong => RenderError::TooLong { len: text.len() },
            other => RenderError::Qr(other),
        })?;
    let modules = code.width() as u32 + 2 * 4; // the symbol plus a 4-module quiet zone each side
    let module_px = MIN_MODULE_PX.max(MIN_SIDE_PX.div_ceil(modules));
    let image = code
        .render::<Luma<u8>>()
        .quiet_zone(true)
        .module_dimensions(module_px, module_px)
        .build();
    let mut png = Vec::new();
    PngEncoder::new(&mut png).write_image(
        image.as_raw(),
        image.width(),
        image.height(),
        ExtendedColorType::L8,
    )?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes every QR code in a PNG the way a scanner would, from the pixels alone.
    fn decode(png: &[u8]) -> (u32, Vec<String>) {
        let image = image::load_from_memory_with_format(png, image::ImageFormat::Png)
            .expect("a valid PNG")
            .to_luma8();
        let side = image.width();
        assert_eq!(side, image.height(), "square");
        let mut prepared = rqrr::PreparedImage::prepare(image);
        let texts = prepared
            .detect_grids()
            .into_iter()
            .map(|grid| grid.decode().expect("decodable grid").1)
            .collect();
        (side, texts)
    }

    #[test]
    fn short_text_round_trips_and_is_scaled_up() {
        let png = qr_png("vless://example").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let (side, texts) = decode(&png);
        assert_eq!(texts, ["vless://example"]);
        assert!(side >= MIN_SIDE_PX, "{side}");
    }

    #[test]
    fn too_long_is_a_clear_error() {
        let text = "x".repeat(MAX_QR_BYTES + 1);
        let e = qr_png(&text).unwrap_err().to_string();
        assert_eq!(
            e,
            "text is too long for a QR code (2954 bytes, at most 2953 fit); send it as a file instead"
        );
        // The limit is the real one: the largest text that fits still renders and decodes.
        let text = "y".repeat(MAX_QR_BYTES);
        let (side, texts) = decode(&qr_png(&text).unwrap());
        assert_eq!(texts, [text]);
        assert_eq!(
            side,
            (177 + 8) * MIN_MODULE_PX,
            "version 40 at the minimum module size"
        );
    }

    #[test]
    fn non_ascii_round_trips() {
        let text = "Привет, 世界";
        assert_eq!(decode(&qr_png(text).unwrap()).1, [text]);
    }
}
