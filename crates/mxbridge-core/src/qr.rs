//! QR codes as PNG images, for login flows that show one (WhatsApp pairing).
//! Drawn by hand on the `qrcode` module grid: the `image` crate would cost ~12 s of build.

use qrcode::{Color, QrCode};

/// Pixels per module.
const SCALE: usize = 8;
/// Modules of white border the spec asks for.
const QUIET_ZONE: usize = 4;

/// Rendering failed (the data is too long for a QR code).
#[derive(Debug, thiserror::Error)]
#[error("cannot draw a QR code for this data: {0}")]
pub struct QrError(String);

/// Renders `data` as an 8-bit grayscale PNG; returns the bytes and the side length.
pub fn render_png(data: &str) -> Result<(Vec<u8>, u32), QrError> {
    let code = QrCode::new(data.as_bytes()).map_err(|e| QrError(e.to_string()))?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET_ZONE) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules + QUIET_ZONE, i / modules + QUIET_ZONE);
        for y in my * SCALE..(my + 1) * SCALE {
            pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| QrError(e.to_string()))?;
        writer.write_image_data(&pixels).map_err(|e| QrError(e.to_string()))?;
    }
    Ok((out, side as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_png_decodes_to_the_drawn_grid() {
        let (bytes, side) = render_png("2@abc,def,ghi").unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (side, side));
        // The top-left finder pattern starts dark right after the quiet zone, which is white.
        let at = |x: usize, y: usize| buf[y * side as usize + x];
        assert_eq!(at(0, 0), 255);
        assert_eq!(at(QUIET_ZONE * SCALE, QUIET_ZONE * SCALE), 0);
        assert_eq!(at(QUIET_ZONE * SCALE + SCALE, QUIET_ZONE * SCALE + SCALE), 255, "finder ring is hollow");
    }
}
