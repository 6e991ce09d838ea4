//! The link format: `{base}/_mxbridge/media/{server}/{media_id}/{sig}/{filename}`.
//!
//! `sig` is a truncated HMAC-SHA256 over server name, media id and file name, so a link
//! only opens the file it was made for, under the name it was made with: nobody can point
//! it at other media on the homeserver or rename a picture to `invoice.exe`. Links never
//! expire because they live on in chat history; rotating the as_token revokes them all.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Path of the route, up to the server name.
pub(crate) const ROUTE_PREFIX: &str = "/_mxbridge/media/";

/// 128 bits cannot be guessed and keep links short enough to paste into one IRC line.
const TAG_LEN: usize = 16;
/// Longest file name kept in a link; longer names are cut.
const MAX_FILENAME_BYTES: usize = 200;
/// Media ids are opaque; none that Synapse or conduwuit make come near this.
const MAX_MEDIA_ID_BYTES: usize = 255;
/// What a file is called when its name is empty or would be read as a path step.
const FALLBACK_FILENAME: &str = "file";

/// Separates the purpose of this key from anything else derived from the same token.
const KEY_LABEL: &[u8] = b"mxbridge media link key v1";
/// Version tag in the signed message, so a future format cannot accept old signatures.
const MESSAGE_LABEL: &[u8] = b"mxbridge-media-v1";

/// Everything but RFC 3986's unreserved characters is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Makes and checks links for one bridge.
#[derive(Clone)]
pub(crate) struct Signer {
    base: String,
    key: [u8; 32],
}

/// The file a valid link names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LinkTarget {
    pub(crate) server: String,
    pub(crate) media_id: String,
    pub(crate) filename: String,
}

impl LinkTarget {
    pub(crate) fn mxc(&self) -> String {
        format!("mxc://{}/{}", self.server, self.media_id)
    }
}

impl Signer {
    /// `base` is the validated `bridge.public_url`; `secret` a bridge secret the key is
    /// derived from, so the secret itself never signs anything.
    pub(crate) fn new(base: &str, secret: &[u8]) -> Self {
        let mut kdf = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
        kdf.update(KEY_LABEL);
        let key: [u8; 32] = kdf.finalize().into_bytes().into();
        Self { base: base.trim_end_matches('/').to_owned(), key }
    }

    /// The link for `mxc://{server}/{media_id}`, or `None` when the URI is not a valid mxc
    /// URI (then it names nothing the route would ever serve).
    pub(crate) fn link(&self, mxc: &str, filename: &str) -> Option<String> {
        let (server, media_id) = split_mxc(mxc)?;
        let filename = clean_filename(filename);
        let tag = URL_SAFE_NO_PAD.encode(self.tag(server, media_id, &filename));
        Some(format!(
            "{}{ROUTE_PREFIX}{}/{media_id}/{tag}/{}",
            self.base,
            utf8_percent_encode(server, SEGMENT),
            utf8_percent_encode(&filename, SEGMENT)
        ))
    }

    /// Checks the part of a request path after [`ROUTE_PREFIX`], still percent-encoded.
    /// `None` for anything but an untampered link this bridge made.
    pub(crate) fn verify(&self, rest: &str) -> Option<LinkTarget> {
        let mut parts = rest.split('/');
        let (server, media_id, tag, filename) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let server = decode(server)?;
        let media_id = decode(media_id)?;
        let filename = decode(filename)?;
        if !is_valid_server_name(&server) || !is_valid_media_id(&media_id) || clean_filename(&filename) != filename {
            return None;
        }
        let presented = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if presented.len() != TAG_LEN {
            return None;
        }
        let expected = self.tag(&server, &media_id, &filename);
        bool::from(expected.ct_eq(presented.as_slice())).then_some(LinkTarget { server, media_id, filename })
    }

    fn tag(&self, server: &str, media_id: &str, filename: &str) -> [u8; TAG_LEN] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        // NUL cannot occur in a valid server name or media id, and the file name comes
        // last, so no two different triples give the same message.
        for part in [MESSAGE_LABEL, server.as_bytes(), media_id.as_bytes()] {
            mac.update(part);
            mac.update(b"\0");
        }
        mac.update(filename.as_bytes());
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }
}

fn decode(segment: &str) -> Option<String> {
    percent_decode_str(segment).decode_utf8().ok().map(|s| s.into_owned())
}

/// Server name and media id of a valid `mxc://` URI.
pub(crate) fn split_mxc(mxc: &str) -> Option<(&str, &str)> {
    let (server, media_id) = mxc.strip_prefix("mxc://")?.split_once('/')?;
    (is_valid_server_name(server) && is_valid_media_id(media_id)).then_some((server, media_id))
}

/// The spec's server name grammar: a DNS name, IPv4 or bracketed IPv6, optional port.
fn is_valid_server_name(server: &str) -> bool {
    <&ruma::ServerName>::try_from(server).is_ok()
}

/// The spec allows `A-Z a-z 0-9 _ -` in media ids.
fn is_valid_media_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_MEDIA_ID_BYTES && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The name a link carries: no control characters (they would break the
/// `Content-Disposition` header) and no path separators, cut to a sane length. `.` and
/// `..` become [`FALLBACK_FILENAME`] because URL parsers treat them as path steps.
pub(crate) fn clean_filename(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_FILENAME_BYTES {
            break;
        }
        out.push(if c == '/' || c == '\\' { '_' } else { c });
    }
    let out = out.trim().to_owned();
    if out.is_empty() || out == "." || out == ".." { FALLBACK_FILENAME.to_owned() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://bridge.example.com";

    fn signer() -> Signer {
        Signer::new(BASE, b"as-token-for-tests-0123456789")
    }

    fn rest(link: &str) -> &str {
        link.strip_prefix(BASE).and_then(|p| p.strip_prefix(ROUTE_PREFIX)).expect("the link starts with base and route")
    }

    fn target(server: &str, media_id: &str, filename: &str) -> LinkTarget {
        LinkTarget { server: server.into(), media_id: media_id.into(), filename: filename.into() }
    }

    #[test]
    fn test_link_round_trips() {
        let s = signer();
        let link = s.link("mxc://example.org/AbC_12-x", "cat.png").unwrap();
        let parts: Vec<_> = rest(&link).split('/').collect();
        assert_eq!(parts.len(), 4, "{link}");
        assert_eq!((parts[0], parts[1], parts[3]), ("example.org", "AbC_12-x", "cat.png"));
        assert_eq!(parts[2].len(), 22, "a 16-byte tag in unpadded base64url");
        assert_eq!(s.verify(rest(&link)), Some(target("example.org", "AbC_12-x", "cat.png")));
        assert_eq!(s.verify(rest(&link)).unwrap().mxc(), "mxc://example.org/AbC_12-x");
        assert_eq!(s.link("mxc://example.org/AbC_12-x", "cat.png").unwrap(), link, "links are stable, so they may be cached");
    }

    #[test]
    fn test_tampered_signature_is_refused() {
        let s = signer();
        let link = s.link("mxc://example.org/media1", "cat.png").unwrap();
        let parts: Vec<String> = rest(&link).split('/').map(str::to_owned).collect();
        let with_tag = |tag: &str| format!("{}/{}/{tag}/{}", parts[0], parts[1], parts[3]);
        let mut flipped = parts[2].clone().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        for tag in [flipped.as_str(), &parts[2][..21], &parts[2][..2], "", "not base64!", &format!("{}AA", parts[2])] {
            assert_eq!(s.verify(&with_tag(tag)), None, "tag {tag:?} must not verify");
        }
        assert!(s.verify(&with_tag(&parts[2])).is_some(), "the untouched tag still verifies");
    }

    #[test]
    fn test_signature_is_bound_to_server_media_id_and_name() {
        let s = signer();
        let link = s.link("mxc://example.org/media1", "cat.png").unwrap();
        let tag = rest(&link).split('/').nth(2).unwrap().to_owned();
        for other in [
            format!("example.org/media2/{tag}/cat.png"),
            format!("evil.org/media1/{tag}/cat.png"),
            format!("example.org:8448/media1/{tag}/cat.png"),
            format!("example.org/media1/{tag}/cat.exe"),
            format!("example.org/media1/{tag}/cat.png/extra"),
            format!("example.org/media1/{tag}"),
        ] {
            assert_eq!(s.verify(&other), None, "{other} must not verify");
        }
        let other_bridge = Signer::new(BASE, b"another-as-token-0123456789");
        assert_eq!(other_bridge.verify(rest(&link)), None, "another secret makes other signatures");
    }

    #[test]
    fn test_odd_file_names_are_encoded_and_verified() {
        let s = signer();
        let cases = [
            ("my file (1).tar.gz", "my%20file%20%281%29.tar.gz", "my file (1).tar.gz"),
            ("100% ünïcode ☃.txt", "100%25%20%C3%BCn%C3%AFcode%20%E2%98%83.txt", "100% ünïcode ☃.txt"),
            ("a/b\\c?d#e.txt", "a_b_c%3Fd%23e.txt", "a_b_c?d#e.txt"),
            ("line\r\nbreak\u{0}.txt", "linebreak.txt", "linebreak.txt"),
            ("  ", "file", "file"),
            ("..", "file", "file"),
            ("%2e%2e", "%252e%252e", "%2e%2e"),
        ];
        for (name, encoded, kept) in cases {
            let link = s.link("mxc://example.org/m", name).unwrap();
            assert_eq!(rest(&link).rsplit('/').next().unwrap(), encoded, "{name:?}");
            assert_eq!(s.verify(rest(&link)).map(|t| t.filename), Some(kept.to_owned()), "{name:?}");
        }
        let long = "é".repeat(300);
        let link = s.link("mxc://example.org/m", &long).unwrap();
        let name = s.verify(rest(&link)).unwrap().filename;
        assert!(name.len() <= MAX_FILENAME_BYTES && name.chars().all(|c| c == 'é'), "cut on a character boundary");
    }

    #[test]
    fn test_names_the_bridge_never_makes_are_refused() {
        let s = signer();
        let tag = |server: &str, id: &str, name: &str| URL_SAFE_NO_PAD.encode(s.tag(server, id, name));
        // Correctly signed, yet not what `link` produces: refused before any homeserver call.
        for (server, id, name, path_name) in [
            ("example.org", "m", "a\nb", "a%0Ab"),
            ("example.org", "m", "a/b", "a%2Fb"),
            ("example.org", "m", "..", ".."),
            ("example.org", "m", "", ""),
        ] {
            assert_eq!(s.verify(&format!("{server}/{id}/{}/{path_name}", tag(server, id, name))), None, "{name:?}");
        }
        for (server, id) in [("exa mple.org", "m"), ("example.org", "m.1"), ("example.org", "m%2F1"), ("", "m"), ("a_b.org", "m")] {
            let t = tag(server, id, "f");
            assert_eq!(s.verify(&format!("{}/{id}/{t}/f", utf8_percent_encode(server, SEGMENT))), None, "{server} {id}");
        }
        assert_eq!(s.verify(&format!("example.org/m/{}/%FF", tag("example.org", "m", "f"))), None, "not UTF-8");
    }

    #[test]
    fn test_mxc_uris_are_checked() {
        let s = signer();
        assert!(s.link("mxc://[::1]:8448/m", "f").is_some(), "IPv6 server names are allowed");
        let link = s.link("mxc://[::1]:8448/m", "f").unwrap();
        assert!(rest(&link).starts_with("%5B%3A%3A1%5D%3A8448/m/"), "{link}");
        assert_eq!(s.verify(rest(&link)).unwrap().server, "[::1]:8448");
        for bad in [
            "https://example.org/m",
            "mxc://example.org",
            "mxc://example.org/",
            "mxc://example.org/a/b",
            "mxc://ex ample.org/m",
            "mxc:///m",
        ] {
            assert_eq!(s.link(bad, "f"), None, "{bad}");
        }
    }

    #[test]
    fn test_base_url_keeps_its_path() {
        let s = Signer::new("https://example.com/bridge/", b"k");
        assert!(s.link("mxc://example.org/m", "f").unwrap().starts_with("https://example.com/bridge/_mxbridge/media/example.org/m/"));
    }
}
