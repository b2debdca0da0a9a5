//! What an attachment is, told from its bytes alone (a client's file name or type is never
//! trusted): the four image formats shown inline, with their width and height read from their
//! headers, and everything else an opaque file. Also the JPEG scrubber that removes photo
//! metadata (EXIF with its GPS position, XMP, IPTC) while the upload streams through, and the
//! `Content-Disposition` a stored file is served with. Pure functions, no I/O.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What an upload is, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Jpeg,
    Png,
    Gif,
    Webp,
    /// Anything else: served as a download, never shown.
    File,
}

impl MediaType {
    pub fn sniff(bytes: &[u8]) -> MediaType {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            MediaType::Jpeg
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            MediaType::Png
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            MediaType::Gif
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            MediaType::Webp
        } else {
            MediaType::File
        }
    }

    pub fn from_content_type(content_type: &str) -> MediaType {
        [
            MediaType::Jpeg,
            MediaType::Png,
            MediaType::Gif,
            MediaType::Webp,
        ]
        .into_iter()
        .find(|t| t.content_type() == content_type)
        .unwrap_or(MediaType::File)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
            MediaType::Gif => "image/gif",
            MediaType::Webp => "image/webp",
            MediaType::File => "application/octet-stream",
        }
    }

    pub fn is_image(self) -> bool {
        self != MediaType::File
    }
}

/// Width and height in pixels.
pub type Size = (u32, u32);

/// The size a PNG, GIF or WebP declares in its first 30 bytes. A JPEG's comes from
/// its frame header, wherever that is (`JpegScrubber::size`).
pub fn image_size(media: MediaType, bytes: &[u8]) -> Option<Size> {
    match media {
        MediaType::Png => png_size(bytes),
        MediaType::Gif => gif_size(bytes),
        MediaType::Webp => webp_size(bytes),
        MediaType::Jpeg | MediaType::File => None,
    }
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn le16(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_le_bytes(
        bytes.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn le24(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 3)?;
    Some(u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16)
}

/// The IHDR chunk comes first: its width and height follow its type.
fn png_size(bytes: &[u8]) -> Option<Size> {
    if bytes.get(12..16)? != b"IHDR" {
        return None;
    }
    Some((be32(bytes, 16)?, be32(bytes, 20)?))
}

/// The logical screen size follows the signature.
fn gif_size(bytes: &[u8]) -> Option<Size> {
    Some((le16(bytes, 6)?, le16(bytes, 8)?))
}

/// The first chunk says which of the three WebP kinds it is, and each keeps its size
/// differently: lossy in the VP8 key frame header, lossless in 14-bit fields after the VP8L
/// signature, extended (animation, alpha) as 24-bit canvas size minus one.
fn webp_size(bytes: &[u8]) -> Option<Size> {
    match bytes.get(12..16)? {
        b"VP8 " => {
            if bytes.get(23..26)? != [0x9D, 0x01, 0x2A] {
                return None;
            }
            Some((le16(bytes, 26)? & 0x3FFF, le16(bytes, 28)? & 0x3FFF))
        }
        b"VP8L" => {
            if *bytes.get(20)? != 0x2F {
                return None;
            }
            let bits = u32::from_le_bytes(bytes.get(21..25)?.try_into().ok()?);
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8X" => Some((le24(bytes, 24)? + 1, le24(bytes, 27)? + 1)),
        _ => None,
    }
}

/// A JPEG whose segment structure is broken: it cannot be cleaned, so it is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Removes metadata from a JPEG as it streams through, holding at most one metadata segment
/// (64 KiB) at a time. Dropped: APP1 (EXIF, with the GPS position, camera and times; XMP)
/// and APP13 (IPTC). Kept: everything needed to show the picture as it was taken — the
/// image data, JFIF (APP0), the colour profile (APP2), Adobe's colour transform (APP14) —
/// and the EXIF orientation, re-written as a minimal EXIF segment holding nothing else:
/// phones store most photos sideways with an orientation tag, and without it they would be
/// shown on their side. Everything from the first scan on is passed as it is.
pub struct JpegScrubber {
    state: State,
    size: Option<Size>,
    orientation: u16,
}

enum State {
    /// Inside the two bytes of the start-of-image marker.
    Start(usize),
    /// Expecting the 0xFF that starts a marker.
    Marker,
    /// After 0xFF: the marker's code (more 0xFF are fill).
    Code,
    Length {
        code: u8,
        high: Option<u8>,
    },
    Payload {
        code: u8,
        left: usize,
        kept: Kept,
    },
    /// The entropy-coded image data and all after it.
    Scan,
}

/// What happens to a segment's payload.
enum Kept {
    Passed,
    /// A frame header: passed, and its first bytes kept to read the size.
    Frame(Vec<u8>),
    /// Dropped; an APP1 is held to read its EXIF orientation.
    Dropped(Option<Vec<u8>>),
}

const APP1: u8 = 0xE1;
const APP13: u8 = 0xED;
const SOS: u8 = 0xDA;
const EOI: u8 = 0xD9;

impl Default for JpegScrubber {
    fn default() -> JpegScrubber {
        JpegScrubber::new()
    }
}

impl JpegScrubber {
    pub fn new() -> JpegScrubber {
        JpegScrubber {
            state: State::Start(0),
            size: None,
            orientation: 1,
        }
    }

    /// The size from the frame header as the picture is shown: with the orientation applied,
    /// so turned pictures (orientations 5-8) have width and height swapped.
    pub fn size(&self) -> Option<Size> {
        self.size.map(|(width, height)| {
            if self.orientation >= 5 {
                (height, width)
            } else {
                (width, height)
            }
        })
    }

    /// Cleans the next piece of the file into `out`, which never grows by more than `input`'s
    /// length plus one minimal EXIF segment.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Malformed> {
        let mut at = 0;
        while at < input.len() {
            if let State::Scan = self.state {
                out.extend_from_slice(&input[at..]);
                return Ok(());
            }
            if let State::Payload { left, kept, code } = &mut self.state {
                let n = (*left).min(input.len() - at);
                let piece = &input[at..at + n];
                match kept {
                    Kept::Passed => out.extend_from_slice(piece),
                    Kept::Frame(header) => {
                        header.extend_from_slice(
                            &piece[..n.min(5usize.saturating_sub(header.len()))],
                        );
                        out.extend_from_slice(piece);
                    }
                    Kept::Dropped(held) => {
                        if let Some(held) = held {
                            held.extend_from_slice(piece);
                        }
                    }
                }
                *left -= n;
                at += n;
                if *left == 0 {
                    let code = *code;
                    self.end_segment(code, out);
                }
                continue;
            }
            self.step(input[at], out)?;
            at += 1;
        }
        Ok(())
    }

    /// Whether the file ended where a JPEG may end: in or after its image data.
    pub fn finish(&self) -> Result<(), Malformed> {
        match self.state {
            State::Scan => Ok(()),
            _ => Err(Malformed),
        }
    }

    /// One byte of marker structure.
    fn step(&mut self, byte: u8, out: &mut Vec<u8>) -> Result<(), Malformed> {
        self.state = match (&self.state, byte) {
            (State::Start(0), 0xFF) => State::Start(1),
            (State::Start(1), 0xD8) => {
                out.extend_from_slice(&[0xFF, 0xD8]);
                State::Marker
            }
            (State::Marker, 0xFF) | (State::Code, 0xFF) => State::Code,
            (State::Code, EOI) => {
                out.extend_from_slice(&[0xFF, EOI]);
                State::Scan
            }
            (State::Code, code) if code == 0x01 || (0xD0..=0xD7).contains(&code) => {
                out.extend_from_slice(&[0xFF, code]);
                State::Marker
            }
            (State::Code, code) if code != 0x00 && code != 0xD8 => {
                State::Length { code, high: None }
            }
            (State::Length { code, high: None }, high) => State::Length {
                code: *code,
                high: Some(high),
            },
            (
                State::Length {
                    code,
                    high: Some(high),
                },
                low,
            ) => {
                let length = usize::from(u16::from_be_bytes([*high, low]));
                if length < 2 {
                    return Err(Malformed);
                }
                let code = *code;
                let kept = match code {
                    APP1 => Kept::Dropped(Some(Vec::with_capacity(length - 2))),
                    APP13 => Kept::Dropped(None),
                    _ => {
                        out.extend_from_slice(&[0xFF, code, *high, low]);
                        if is_frame_header(code) {
                            Kept::Frame(Vec::with_capacity(5))
                        } else {
                            Kept::Passed
                        }
                    }
                };
                let left = length - 2;
                if left == 0 {
                    self.state = State::Payload { code, left, kept };
                    self.end_segment(code, out);
                    return Ok(());
                }
                State::Payload { code, left, kept }
            }
            _ => return Err(Malformed),
        };
        Ok(())
    }

    fn end_segment(&mut self, code: u8, out: &mut Vec<u8>) {
        let state = std::mem::replace(&mut self.state, State::Marker);
        if let State::Payload { kept, .. } = state {
            match kept {
                Kept::Frame(header) if header.len() == 5 => {
                    let height = u32::from(u16::from_be_bytes([header[1], header[2]]));
                    let width = u32::from(u16::from_be_bytes([header[3], header[4]]));
                    self.size.get_or_insert((width, height));
                }
                Kept::Dropped(Some(app1)) => {
                    if let Some(orientation) = exif_orientation(&app1).filter(|o| *o != 1) {
                        self.orientation = orientation;
                        out.extend_from_slice(&orientation_segment(orientation));
                    }
                }
                _ => {}
            }
        }
        if code == SOS {
            self.state = State::Scan;
        }
    }
}

/// SOF0-SOF15, which are not DHT (C4), JPG (C8) or DAC (CC).
fn is_frame_header(code: u8) -> bool {
    (0xC0..=0xCF).contains(&code) && ![0xC4, 0xC8, 0xCC].contains(&code)
}

const EXIF_HEADER: &[u8] = b"Exif\0\0";
const ORIENTATION_TAG: u16 = 0x0112;

/// The orientation (1-8) in an APP1 payload holding EXIF: a TIFF header, then the first
/// directory's entries, one of which may be the orientation, a SHORT.
pub fn exif_orientation(app1: &[u8]) -> Option<u16> {
    let tiff = app1.strip_prefix(EXIF_HEADER)?;
    let big_endian = match tiff.get(..2)? {
        b"MM" => true,
        b"II" => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = tiff.get(at..at + 2)?.try_into().ok()?;
        Some(if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |at: usize| -> Option<usize> {
        let b: [u8; 4] = tiff.get(at..at + 4)?.try_into().ok()?;
        let n = if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        };
        usize::try_from(n).ok()
    };
    let directory = u32_at(4)?;
    let entries = usize::from(u16_at(directory)?);
    (0..entries)
        .map(|i| directory + 2 + i * 12)
        .find(|entry| u16_at(*entry) == Some(ORIENTATION_TAG))
        .and_then(|entry| u16_at(entry + 8))
        .filter(|orientation| (1..=8).contains(orientation))
}

/// An APP1 segment with an EXIF block that holds the orientation and nothing else.
pub fn orientation_segment(orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::with_capacity(26);
    tiff.extend_from_slice(b"MM\0\x2a\0\0\0\x08");
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&ORIENTATION_TAG.to_be_bytes());
    // Type SHORT, one value, held left-aligned in the four value bytes.
    tiff.extend_from_slice(&3u16.to_be_bytes());
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    // No next directory.
    tiff.extend_from_slice(&0u32.to_be_bytes());
    let length = u16::try_from(2 + EXIF_HEADER.len() + tiff.len()).unwrap_or(u16::MAX);
    let mut segment = vec![0xFF, APP1];
    segment.extend_from_slice(&length.to_be_bytes());
    segment.extend_from_slice(EXIF_HEADER);
    segment.extend_from_slice(&tiff);
    segment
}

/// RFC 5987's `attr-char`: what `filename*` may carry unencoded.
const ATTR_CHAR_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition` (RFC 6266): `inline` for the images a browser shows, `attachment`
/// for everything else, so that no uploaded file is ever opened as a page. The name goes
/// twice: an ASCII `filename` for old clients (anything else, quotes and backslashes become
/// `_`), and the exact name as UTF-8 in `filename*` (RFC 5987).
pub fn content_disposition(media: MediaType, name: &str) -> String {
    let kind = if media.is_image() {
        "inline"
    } else {
        "attachment"
    };
    let fallback: String = name
        .chars()
        .map(|c| match c {
            ' ' => ' ',
            '"' | '\\' | '%' => '_',
            c if c.is_ascii_graphic() => c,
            _ => '_',
        })
        .collect();
    let exact = utf8_percent_encode(name, ATTR_CHAR_ESCAPED);
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{exact}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG as a phone makes it: JFIF, EXIF with an orientation and a GPS position, XMP,
    /// a colour profile, a comment, the frame header, and image data.
    pub(crate) fn phone_jpeg(orientation: u16, width: u16, height: u16) -> Vec<u8> {
        crate::domain::media::fixtures::jpeg_with_gps(orientation, width, height)
    }

    fn scrub(jpeg: &[u8], piece: usize) -> (Vec<u8>, Option<Size>) {
        let mut scrubber = JpegScrubber::new();
        let mut out = Vec::new();
        for chunk in jpeg.chunks(piece) {
            scrubber.feed(chunk, &mut out).expect("well formed");
        }
        scrubber.finish().expect("complete");
        (out, scrubber.size())
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn each_image_type_is_told_from_its_bytes() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x01\x00\0\0\0\x20";
        assert_eq!(MediaType::sniff(png), MediaType::Png);
        assert_eq!(image_size(MediaType::Png, png), Some((256, 32)));
        let gif = b"GIF89a\x40\x01\xf0\x00";
        assert_eq!(MediaType::sniff(gif), MediaType::Gif);
        assert_eq!(image_size(MediaType::Gif, gif), Some((320, 240)));
        assert_eq!(MediaType::sniff(&phone_jpeg(1, 8, 8)), MediaType::Jpeg);
        assert_eq!(MediaType::sniff(b"<html><script>"), MediaType::File);
        assert_eq!(MediaType::sniff(b""), MediaType::File);
        assert_eq!(MediaType::sniff(b"RIFF\0\0\0\0WAVE"), MediaType::File);
    }

    #[test]
    fn the_three_kinds_of_webp_give_their_size() {
        let mut lossy = b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0\0\0\0\x9d\x01\x2a".to_vec();
        lossy.extend_from_slice(&[0x90, 0x01, 0x2C, 0x01]);
        assert_eq!(MediaType::sniff(&lossy), MediaType::Webp);
        assert_eq!(image_size(MediaType::Webp, &lossy), Some((400, 300)));
        // 14 bits each of width-1 (99) and height-1 (49).
        let bits: u32 = 99 | (49 << 14);
        let mut lossless = b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f".to_vec();
        lossless.extend_from_slice(&bits.to_le_bytes());
        assert_eq!(image_size(MediaType::Webp, &lossless), Some((100, 50)));
        let mut extended = b"RIFF\0\0\0\0WEBPVP8X\0\0\0\0\0\0\0\0".to_vec();
        extended.extend_from_slice(&[0xFF, 0x07, 0x00, 0x37, 0x04, 0x00]);
        assert_eq!(image_size(MediaType::Webp, &extended), Some((2048, 1080)));
        assert_eq!(image_size(MediaType::Webp, b"RIFF\0\0\0\0WEBPVP8"), None);
    }

    #[test]
    fn exif_and_its_gps_position_are_removed_in_any_piece_size() {
        let jpeg = phone_jpeg(1, 640, 480);
        assert!(contains(&jpeg, b"GPS"), "the fixture has a GPS position");
        for piece in [1, 2, 7, 100, jpeg.len()] {
            let (clean, size) = scrub(&jpeg, piece);
            assert!(!contains(&clean, b"Exif"), "piece {piece}");
            assert!(!contains(&clean, b"GPS"), "piece {piece}");
            assert!(
                !contains(&clean, b"http://ns.adobe.com/xap"),
                "XMP, piece {piece}"
            );
            assert!(!contains(&clean, b"Photoshop"), "IPTC, piece {piece}");
            assert!(contains(&clean, b"JFIF\0"), "JFIF stays");
            assert!(contains(&clean, b"ICC_PROFILE\0"), "colour profile stays");
            assert!(clean.ends_with(&[0xFF, 0xD9]));
            assert_eq!(size, Some((640, 480)));
        }
    }

    #[test]
    fn the_orientation_alone_survives_and_turns_the_size() {
        let (clean, size) = scrub(&phone_jpeg(6, 640, 480), 3);
        assert_eq!(size, Some((480, 640)));
        assert!(contains(&clean, &orientation_segment(6)));
        assert!(!contains(&clean, b"GPS"));
        let app1 = &orientation_segment(6)[4..];
        assert_eq!(exif_orientation(app1), Some(6));
        let (upright, _) = scrub(&phone_jpeg(1, 10, 10), 5);
        assert!(
            !contains(&upright, b"Exif"),
            "orientation 1 needs no segment"
        );
    }

    #[test]
    fn a_broken_jpeg_is_malformed() {
        let mut scrubber = JpegScrubber::new();
        let mut out = Vec::new();
        assert_eq!(
            scrubber.feed(&[0xFF, 0xD8, 0x12], &mut out),
            Err(Malformed),
            "no marker where one must be"
        );
        let mut truncated = JpegScrubber::new();
        let jpeg = phone_jpeg(1, 4, 4);
        truncated.feed(&jpeg[..40], &mut out).expect("so far fine");
        assert_eq!(truncated.finish(), Err(Malformed));
        let mut short_length = JpegScrubber::new();
        assert_eq!(
            short_length.feed(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01], &mut out),
            Err(Malformed)
        );
    }

    #[test]
    fn dispositions_are_inline_only_for_images_and_encode_any_name() {
        assert_eq!(
            content_disposition(MediaType::Png, "cat.png"),
            "inline; filename=\"cat.png\"; filename*=UTF-8''cat.png"
        );
        assert_eq!(
            content_disposition(MediaType::File, "Grüße \"final\".pdf"),
            "attachment; filename=\"Gr__e _final_.pdf\"; \
             filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%22final%22.pdf"
        );
        assert_eq!(
            content_disposition(MediaType::File, "a\\b;c%d\r\n.txt"),
            "attachment; filename=\"a_b;c_d__.txt\"; filename*=UTF-8''a%5Cb%3Bc%25d%0D%0A.txt"
        );
    }
}

/// Test pictures built byte by byte, shared with the repository's tests.
#[cfg(test)]
pub(crate) mod fixtures {
    /// A JPEG as a phone writes it: JFIF, EXIF (orientation, a GPS position), XMP, IPTC, a
    /// colour profile, a frame header of `width`×`height`, a scan, and the end marker.
    pub fn jpeg_with_gps(orientation: u16, width: u16, height: u16) -> Vec<u8> {
        let mut jpeg = vec![0xFF, 0xD8];
        segment(&mut jpeg, 0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        segment(&mut jpeg, 0xE1, &exif(orientation));
        segment(
            &mut jpeg,
            0xE1,
            b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>",
        );
        segment(&mut jpeg, 0xED, b"Photoshop 3.0\08BIM");
        segment(&mut jpeg, 0xE2, b"ICC_PROFILE\0\x01\x01profile");
        let mut frame = vec![8];
        frame.extend_from_slice(&height.to_be_bytes());
        frame.extend_from_slice(&width.to_be_bytes());
        frame.extend_from_slice(&[1, 1, 0x11, 0]);
        segment(&mut jpeg, 0xC0, &frame);
        segment(&mut jpeg, 0xDA, &[1, 1, 0, 0, 0x3F, 0]);
        jpeg.extend_from_slice(&[0x12, 0x34, 0xFF, 0x00, 0x56]);
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        jpeg
    }

    fn segment(jpeg: &mut Vec<u8>, code: u8, payload: &[u8]) {
        jpeg.extend_from_slice(&[0xFF, code]);
        let length = u16::try_from(payload.len() + 2).expect("small segment");
        jpeg.extend_from_slice(&length.to_be_bytes());
        jpeg.extend_from_slice(payload);
    }

    /// Little-endian EXIF: IFD0 with the orientation and a pointer to a GPS directory holding
    /// a latitude reference and the ASCII marker "GPS" in a user comment.
    fn exif(orientation: u16) -> Vec<u8> {
        let mut tiff: Vec<u8> = b"II\x2a\0\x08\0\0\0".to_vec();
        tiff.extend_from_slice(&2u16.to_le_bytes());
        tiff.extend_from_slice(&0x0112u16.to_le_bytes());
        tiff.extend_from_slice(&3u16.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&orientation.to_le_bytes());
        tiff.extend_from_slice(&[0, 0]);
        // GPSInfo, type LONG, pointing just past this directory.
        tiff.extend_from_slice(&0x8825u16.to_le_bytes());
        tiff.extend_from_slice(&4u16.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&38u32.to_le_bytes());
        tiff.extend_from_slice(&0u32.to_le_bytes());
        // The GPS directory: GPSLatitudeRef "N", and the text "GPS 52.52N 13.40E".
        tiff.extend_from_slice(&1u16.to_le_bytes());
        tiff.extend_from_slice(&0x0001u16.to_le_bytes());
        tiff.extend_from_slice(&2u16.to_le_bytes());
        tiff.extend_from_slice(&2u32.to_le_bytes());
        tiff.extend_from_slice(b"N\0\0\0");
        tiff.extend_from_slice(&0u32.to_le_bytes());
        tiff.extend_from_slice(b"GPS 52.52N 13.40E");
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        app1
    }
}
