//! AmneziaWG obfuscation parameters: generation, validation and their two text forms
//! (the UAPI `set` lines and the `[Interface]` keys of an awg .conf file).
//!
//! AmneziaWG is WireGuard with four kinds of disguise, all of which both ends must agree on:
//!
//! * **Junk packets** (`Jc`, `Jmin`, `Jmax`): before every handshake initiation the client
//!   sends `Jc` datagrams of random bytes, each `Jmin..=Jmax` bytes long.
//! * **Padding** (`S1`–`S4`): random bytes put in front of the handshake initiation (S1),
//!   the handshake response (S2), the cookie reply (S3) and every transport-data packet (S4),
//!   so the well-known fixed sizes 148/92/64/32+n disappear.
//! * **Magic headers** (`H1`–`H4`): the 32-bit message-type field of the four message kinds
//!   (WireGuard's 1, 2, 3, 4) replaced by other values, or in AmneziaWG 1.5/2.0 by a value
//!   drawn from a range per packet.
//! * **Special junk** (`I1`–`I5`, AmneziaWG 1.5/2.0): up to five packets built from a
//!   template (see [`validate_cps`]) sent before the handshake, typically to look like
//!   the start of another protocol (QUIC, DNS, …).
//!
//! What was checked in amneziawg-go (amnezia-vpn/amneziawg-go) to write this module:
//!
//! * `device/uapi.go`, `handleDeviceLine`: the UAPI keys are lowercase `jc`, `jmin`, `jmax`,
//!   `s1`..`s4`, `h1`..`h4`, `i1`..`i5`; H values are parsed by `UintRange.FromString`
//!   (`"N"` or `"N-M"`, see `device/magic-header.go`: `end < start` is an error); the
//!   `ipcSetDevice.mergeWithDevice` step rejects overlapping H ranges ("headers must not
//!   overlap").
//! * `device/device.go` of the 2.0 line, `handlePostConfig`: padded sizes are
//!   `MessageInitiationSize(148)+S1`, `MessageResponseSize(92)+S2`,
//!   `MessageCookieReplySize(64)+S3` and `MessageTransportSize(32)+S4`, and "new sizes
//!   should differ": the receiver tells message kinds apart by datagram size first, so two
//!   equal padded sizes make packets ambiguous. S4 is transport-data padding: it is added to
//!   *every* data packet, so it costs MTU (see [`AwgParams::transport_overhead`]).
//!   Header values `<= 4` mean "use WireGuard's default type" there, hence our lower bound 5.
//! * `device/obf.go` (+ `obf_*.go`): the special-junk tags are `<b HEX>` (hex, optional
//!   `0x`, even length, non-empty), `<r N>` random bytes, `<rc N>` random letters, `<rd N>`
//!   random digits, `<t>` 4-byte big-endian unix time, `<c>` 4-byte packet counter; a
//!   negative N is refused. (`<d>`, `<ds>`, `<dz>` exist in newer versions for header
//!   obfuscation chains and are meaningless in an I-packet, so they are refused here.)
//! * amneziawg-tools `config.c`: the .conf keys are `Jc`, `Jmin`, `Jmax`, `S1`..`S4`,
//!   `H1`..`H4`, `I1`..`I5`, matched case-insensitively like every wg key.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Largest junk packet, and the size every padded handshake message must fit in.
///
/// 1280 is the IPv6 minimum MTU: a datagram of this size crosses any sane path without
/// fragmentation, and fragments are exactly what DPI boxes and cheap NATs drop. Amnezia's
/// own tooling caps `Jmax` at 1280 for the same reason.
pub const MAX_PACKET: u16 = 1280;
/// Largest `Jc`. amneziawg-go accepts more, but each junk packet is sent before *every*
/// handshake (every two minutes per peer), and more than 128 only costs bandwidth.
pub const MAX_JC: u8 = 128;
/// Smallest magic header value: 1–4 are WireGuard's own message types, which amneziawg-go
/// treats as "not obfuscated" (`Values[i].Min > 4` in `handlePostConfig`).
pub const MIN_HEADER: u32 = 5;
/// Largest magic header value. The protocol field is a u32, but several clients (the Amnezia
/// app's generator, Java/Kotlin and JS ports) handle H as a signed 32-bit integer, so a value
/// above `i32::MAX` breaks imports on some devices.
pub const MAX_HEADER: u32 = i32::MAX as u32;
/// WireGuard's unpadded message sizes, from the protocol (and amneziawg-go `noise-protocol.go`).
pub const INIT_SIZE: u16 = 148;
pub const RESPONSE_SIZE: u16 = 92;
pub const COOKIE_SIZE: u16 = 64;
/// Smallest transport-data message: 16-byte header + 16-byte Poly1305 tag (a keepalive).
pub const TRANSPORT_SIZE: u16 = 32;

/// Which generation of AmneziaWG a parameter set targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AwgVersion {
    /// AmneziaWG 1.0: Jc/Jmin/Jmax, S1/S2, single-value H1–H4. Understood by every
    /// Amnezia client, including old router builds.
    V1,
    /// AmneziaWG 1.5/2.0: adds S3/S4, H ranges and I1–I5 special junk.
    V2,
}

/// A magic header: one value (`start == end`) or an inclusive range of values, one of which
/// is picked at random for every packet (AmneziaWG 2.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HeaderRange {
    pub start: u32,
    pub end: u32,
}

impl HeaderRange {
    pub const fn single(value: u32) -> Self {
        HeaderRange {
            start: value,
            end: value,
        }
    }

    pub fn is_single(&self) -> bool {
        self.start == self.end
    }

    /// Whether two ranges share at least one value (the rule amneziawg-go's
    /// `UintRange.Overlap` enforces between H1–H4).
    pub fn overlaps(&self, other: &HeaderRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }
}

impl fmt::Display for HeaderRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_single() {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// Why a header range string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid header value `{input}`: {reason}; write a number like 123456 or a range like 100000-200000")]
pub struct HeaderRangeParseError {
    pub input: String,
    pub reason: &'static str,
}

impl FromStr for HeaderRange {
    type Err = HeaderRangeParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| HeaderRangeParseError {
            input: s.to_owned(),
            reason,
        };
        // u32::from_str accepts a leading '+'; amneziawg-go's ParseUint does not, so neither
        // do we: what we accept must be accepted by the data plane too.
        let num = |t: &str| -> Result<u32, HeaderRangeParseError> {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("not a decimal number"));
            }
            t.parse::<u32>()
                .map_err(|_| err("number does not fit in 32 bits"))
        };
        let range = match s.split_once('-') {
            None => HeaderRange::single(num(s)?),
            Some((a, b)) => HeaderRange {
                start: num(a)?,
                end: num(b)?,
            },
        };
        if range.start > range.end {
            return Err(err("range start is greater than its end"));
        }
        Ok(range)
    }
}

// Serialized as the same text the .conf and UAPI use ("123" or "123-456"), so stored state,
// API payloads and config files all show one form. A bare JSON number is accepted too.
impl Serialize for HeaderRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HeaderRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = HeaderRange;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a header value like \"123\" or a range like \"100-200\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HeaderRange, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<HeaderRange, E> {
                u32::try_from(v)
                    .map(HeaderRange::single)
                    .map_err(|_| E::custom(format!("header value {v} does not fit in 32 bits")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<HeaderRange, E> {
                u32::try_from(v).map(HeaderRange::single).map_err(|_| {
                    E::custom(format!("header value {v} is not a 32-bit unsigned number"))
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A parameter set that breaks a rule. `field` is the dotted path (`awg.jmin`), `reason`
/// says what is wrong, with the offending values, and how to fix it. Displays on one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("awg.{field}: {reason}")]
pub struct AwgParamError {
    pub field: &'static str,
    pub reason: String,
}

impl AwgParamError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        AwgParamError {
            field,
            reason: reason.into(),
        }
    }
}

/// The obfuscation parameters of one AmneziaWG interface. Client and server must carry the
/// same values, so they belong to the node's interface and are copied into every client
/// config of that interface.
// Unknown fields are refused: a misspelt key in an operator's `[wireguard.awg]` must not
// silently fall back to "absent".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwgParams {
    pub jc: u8,
    pub jmin: u16,
    pub jmax: u16,
    pub s1: u16,
    pub s2: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s4: Option<u16>,
    pub h1: HeaderRange,
    pub h2: HeaderRange,
    pub h3: HeaderRange,
    pub h4: HeaderRange,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub i1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub i2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub i3: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub i4: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub i5: Option<String>,
}

const H_FIELDS: [&str; 4] = ["h1", "h2", "h3", "h4"];
const I_FIELDS: [&str; 5] = ["i1", "i2", "i3", "i4", "i5"];

impl AwgParams {
    /// Fresh random parameters for a new interface; always pass [`AwgParams::validate`].
    ///
    /// Ranges follow what the Amnezia app generates, so our configs look like everyone
    /// else's (a generator with its own fingerprint would defeat the purpose):
    /// Jc 3–10, Jmin 10–64, Jmax 65–1000, S1/S2 15–150, H in 5..=2^31-1. For V2, S3 is
    /// 15–150 like S1/S2, and S4 is kept small (1–32) because it is paid on every data
    /// packet. I1–I5 are left empty: a random blob adds nothing over the Jc junk packets,
    /// their value is in mimicking a real protocol, which is the operator's choice.
    ///
    /// Collisions (equal padded sizes, equal or overlapping headers) are repaired by
    /// deterministic nudges rather than by re-drawing, so this terminates after a fixed
    /// number of steps even with a degenerate RNG.
    pub fn generate<R: Rng + ?Sized>(rng: &mut R, version: AwgVersion) -> AwgParams {
        let jc = rng.gen_range(3..=10);
        let jmin = rng.gen_range(10..=64);
        let jmax = rng.gen_range(65..=1000);
        let mut s = [rng.gen_range(15..=150u16), rng.gen_range(15..=150u16), 0, 0];
        if version == AwgVersion::V2 {
            s[2] = rng.gen_range(15..=150);
            s[3] = rng.gen_range(1..=32);
        }
        // Make the padded sizes pairwise distinct. Each S is moved upwards only, one step at
        // a time; with four sizes at most three collisions can be hit per field, so the loop
        // ends after a handful of steps and values stay far below the maxima.
        let base = [INIT_SIZE, RESPONSE_SIZE, COOKIE_SIZE, TRANSPORT_SIZE];
        let used = if version == AwgVersion::V2 { 4 } else { 2 };
        for i in 1..used {
            while (0..i).any(|j| base[j] + s[j] == base[i] + s[i]) {
                s[i] += 1;
            }
        }

        let headers = match version {
            AwgVersion::V1 => {
                let mut v = [0u32; 4];
                for x in v.iter_mut() {
                    *x = rng.gen_range(MIN_HEADER..=MAX_HEADER - 4);
                }
                // Distinct values: bump duplicates (the -4 above leaves room to do so).
                for i in 1..4 {
                    while v[..i].contains(&v[i]) {
                        v[i] += 1;
                    }
                }
                v.map(HeaderRange::single)
            }
            AwgVersion::V2 => {
                // Eight sorted, strictly increasing points cut four disjoint ranges; the order
                // of the ranges among H1–H4 is then shuffled so H1 is not always the lowest.
                let mut p = [0u32; 8];
                for x in p.iter_mut() {
                    *x = rng.gen_range(MIN_HEADER..=MAX_HEADER - 8);
                }
                p.sort_unstable();
                for i in 1..8 {
                    if p[i] <= p[i - 1] {
                        p[i] = p[i - 1] + 1;
                    }
                }
                let mut ranges = [0, 2, 4, 6].map(|i| HeaderRange {
                    start: p[i],
                    end: p[i + 1],
                });
                for i in (1..4).rev() {
                    ranges.swap(i, rng.gen_range(0..=i));
                }
                ranges
            }
        };

        AwgParams {
            jc,
            jmin,
            jmax,
            s1: s[0],
            s2: s[1],
            s3: (version == AwgVersion::V2).then_some(s[2]),
            s4: (version == AwgVersion::V2).then_some(s[3]),
            h1: headers[0],
            h2: headers[1],
            h3: headers[2],
            h4: headers[3],
            i1: None,
            i2: None,
            i3: None,
            i4: None,
            i5: None,
        }
    }

    /// The oldest AmneziaWG generation that understands these parameters: V2 as soon as
    /// any 1.5/2.0-only feature is used (S3, S4, an H range, an I packet).
    pub fn version(&self) -> AwgVersion {
        let v2 = self.s3.is_some()
            || self.s4.is_some()
            || self.headers().iter().any(|h| !h.is_single())
            || self.specials().iter().any(|i| i.is_some());
        if v2 {
            AwgVersion::V2
        } else {
            AwgVersion::V1
        }
    }

    fn headers(&self) -> [HeaderRange; 4] {
        [self.h1, self.h2, self.h3, self.h4]
    }

    fn specials(&self) -> [&Option<String>; 5] {
        [&self.i1, &self.i2, &self.i3, &self.i4, &self.i5]
    }

    /// Bytes AmneziaWG adds to every transport-data packet (S4). A client's tunnel MTU must
    /// be lowered by this much, or full-size packets no longer fit the path MTU.
    pub fn transport_overhead(&self) -> u16 {
        self.s4.unwrap_or(0)
    }

    /// Checks every rule; the first broken one is returned, naming the field. When two
    /// fields must differ (S1+148 = S2+92, H1 = H3), the later field of the pair is named.
    ///
    /// S1–S4 are held to "the padded message fits in 1280 bytes" (S1 ≤ 1132, S2 ≤ 1188,
    /// S3 ≤ 1216, S4 ≤ 1248), which is stricter than a bare "< 1280": a larger padding
    /// would push the handshake past the size every path carries unfragmented.
    pub fn validate(&self) -> Result<(), AwgParamError> {
        if !(1..=MAX_JC).contains(&self.jc) {
            return Err(AwgParamError::new(
                "jc",
                format!("must be between 1 and {MAX_JC} (got jc={})", self.jc),
            ));
        }
        if self.jmax > MAX_PACKET {
            return Err(AwgParamError::new(
                "jmax",
                format!(
                    "must be at most {MAX_PACKET} so junk packets are not fragmented (got jmax={})",
                    self.jmax
                ),
            ));
        }
        if self.jmin >= self.jmax {
            return Err(AwgParamError::new(
                "jmin",
                format!(
                    "must be less than jmax (got jmin={}, jmax={})",
                    self.jmin, self.jmax
                ),
            ));
        }

        // Padding: each padded handshake message must fit in MAX_PACKET, and (2.0's
        // handlePostConfig) all padded sizes must differ, or the receiver cannot tell the
        // message kinds apart by size.
        let pads: [(&'static str, Option<u16>, u16, &str); 4] = [
            ("s1", Some(self.s1), INIT_SIZE, "handshake initiation"),
            ("s2", Some(self.s2), RESPONSE_SIZE, "handshake response"),
            ("s3", self.s3, COOKIE_SIZE, "cookie reply"),
            ("s4", self.s4, TRANSPORT_SIZE, "smallest data packet"),
        ];
        for (field, value, base, what) in pads {
            let Some(value) = value else { continue };
            let max = MAX_PACKET - base;
            if value > max {
                return Err(AwgParamError::new(
                    field,
                    format!(
                        "must be at most {max} so the padded {what} ({base}+{}) fits in {MAX_PACKET} bytes (got {field}={value})",
                        field.to_uppercase()
                    ),
                ));
            }
        }
        // Absent S3/S4 mean 0 to the data plane: the plain 64/32-byte sizes still take part
        // in the comparison only when the 2.0 fields are in use (AWG 1.0 compares S1/S2 only).
        let v2_sizes = self.s3.is_some() || self.s4.is_some();
        for i in 1..4 {
            let (fi, vi, bi, wi) = pads[i];
            if i >= 2 && !v2_sizes {
                break;
            }
            let size_i = bi + vi.unwrap_or(0);
            for (fj, vj, bj, wj) in pads.iter().take(i).copied() {
                let size_j = bj + vj.unwrap_or(0);
                if size_i == size_j {
                    return Err(AwgParamError::new(
                        fi,
                        format!(
                            "padded {wi} size ({bi}+{}={size_i}) equals padded {wj} size ({bj}+{}={size_j}); change {} or {}",
                            fi.to_uppercase(),
                            fj.to_uppercase(),
                            fi.to_uppercase(),
                            fj.to_uppercase()
                        ),
                    ));
                }
            }
        }

        let headers = self.headers();
        for (field, h) in H_FIELDS.iter().zip(headers.iter()) {
            if h.start > h.end {
                return Err(AwgParamError::new(
                    field,
                    format!(
                        "range start must not exceed its end (got {}-{})",
                        h.start, h.end
                    ),
                ));
            }
            if h.start < MIN_HEADER || h.end > MAX_HEADER {
                return Err(AwgParamError::new(
                    field,
                    format!(
                        "must lie within {MIN_HEADER}..={MAX_HEADER}: 1-4 are WireGuard's own types and some clients read H as a signed 32-bit number (got {field}={h})"
                    ),
                ));
            }
        }
        for i in 1..4 {
            for j in 0..i {
                if headers[i].overlaps(&headers[j]) {
                    let rule = if headers[i].is_single() && headers[j].is_single() {
                        "must differ from"
                    } else {
                        "must not overlap"
                    };
                    return Err(AwgParamError::new(
                        H_FIELDS[i],
                        format!(
                            "{rule} {} (got {}={}, {}={})",
                            H_FIELDS[j], H_FIELDS[j], headers[j], H_FIELDS[i], headers[i]
                        ),
                    ));
                }
            }
        }

        for (field, template) in I_FIELDS.iter().zip(self.specials()) {
            if let Some(t) = template {
                validate_cps(t).map_err(|reason| AwgParamError::new(field, reason))?;
            }
        }
        Ok(())
    }

    /// The device lines of an amneziawg-go UAPI `set` operation (each ending in `\n`,
    /// without the `set=1` header or the terminating blank line), in the order
    /// amneziawg-go's own `get` prints them. Call [`AwgParams::validate`] first: this does
    /// not check values. Control characters in I templates (which `validate` refuses) are
    /// turned into spaces here too, so a bad template can never inject extra UAPI lines.
    pub fn to_uapi(&self) -> String {
        let mut out = String::new();
        for (key, value) in self.pairs() {
            out.push_str(&key.to_ascii_lowercase());
            out.push('=');
            out.extend(value.chars().map(|c| if c.is_control() { ' ' } else { c }));
            out.push('\n');
        }
        out
    }

    /// The `[Interface]` keys of an awg .conf file, in the order the Amnezia app writes
    /// them, leaving out the absent optional ones.
    pub fn to_conf_lines(&self) -> Vec<(&'static str, String)> {
        self.pairs()
    }

    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("Jc", self.jc.to_string()),
            ("Jmin", self.jmin.to_string()),
            ("Jmax", self.jmax.to_string()),
            ("S1", self.s1.to_string()),
            ("S2", self.s2.to_string()),
        ];
        if let Some(s3) = self.s3 {
            v.push(("S3", s3.to_string()));
        }
        if let Some(s4) = self.s4 {
            v.push(("S4", s4.to_string()));
        }
        v.extend([
            ("H1", self.h1.to_string()),
            ("H2", self.h2.to_string()),
            ("H3", self.h3.to_string()),
            ("H4", self.h4.to_string()),
        ]);
        const I_KEYS: [&str; 5] = ["I1", "I2", "I3", "I4", "I5"];
        for (key, value) in I_KEYS.iter().zip(self.specials()) {
            if let Some(value) = value {
                v.push((key, value.clone()));
            }
        }
        v
    }
}

/// Checks a special-junk template (I1–I5) in amneziawg's CPS syntax and returns the size
/// in bytes of the packet it produces.
///
/// A template is a sequence of tags, optionally separated by whitespace:
/// `<b 0xHEX>` literal bytes, `<r N>` random bytes, `<rc N>` random ASCII letters,
/// `<rd N>` random digits, `<t>` 4-byte timestamp, `<c>` 4-byte packet counter.
///
/// This is stricter than amneziawg-go on purpose: text outside tags, which amneziawg-go
/// silently skips, is refused here, because it is always a mistake and would otherwise
/// produce a different packet than the operator thinks. The whole packet must fit in
/// [`MAX_PACKET`] bytes. Errors are one line: what is wrong, where, and how to write it.
pub fn validate_cps(template: &str) -> Result<usize, String> {
    if let Some(c) = template.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(format!(
            "contains the control character {c:?}; a template must be on one line"
        ));
    }
    let mut total: usize = 0;
    let mut tags = 0usize;
    let mut rest = template;
    let mut offset = 0usize; // character offset of `rest` in `template`, for messages
    loop {
        let trimmed = rest.trim_start();
        offset += rest.len() - trimmed.len();
        rest = trimmed;
        if rest.is_empty() {
            break;
        }
        if !rest.starts_with('<') {
            return Err(format!(
                "unexpected text at position {offset}: everything must be inside tags like <b 0x01ff>, <r 16>, <rc 8>, <rd 4>, <t> or <c>"
            ));
        }
        let Some(end) = rest.find('>') else {
            return Err(format!(
                "tag at position {offset} is not closed; add the missing '>'"
            ));
        };
        let inner = &rest[1..end];
        if inner.contains('<') {
            return Err(format!(
                "tag at position {offset} is not closed before the next '<'; add the missing '>'"
            ));
        }
        let mut parts = inner.split_whitespace();
        let name = parts.next().unwrap_or("");
        let arg = parts.next();
        if parts.next().is_some() {
            return Err(format!(
                "tag <{inner}> at position {offset} has more than one argument"
            ));
        }
        let size = match (name, arg) {
            ("", _) => return Err(format!("empty tag <> at position {offset}")),
            ("b", Some(hex_arg)) => {
                let digits = hex_arg.strip_prefix("0x").unwrap_or(hex_arg);
                if digits.is_empty() {
                    return Err(format!(
                        "<b> at position {offset} has no bytes; write them in hex like <b 0x01ff>"
                    ));
                }
                if digits.len() % 2 != 0 {
                    return Err(format!(
                        "<b> at position {offset} has an odd number of hex digits ({}); write whole bytes like <b 0x0a1b>",
                        digits.len()
                    ));
                }
                if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        "<b> at position {offset} is not hexadecimal; write bytes like <b 0x0a1b>"
                    ));
                }
                digits.len() / 2
            }
            ("b", None) => {
                return Err(format!(
                    "<b> at position {offset} needs bytes in hex, like <b 0x01ff>"
                ))
            }
            ("r" | "rc" | "rd", Some(n)) => {
                if !n.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!(
                        "<{name}> at position {offset} needs a non-negative byte count like <{name} 16> (got {n})"
                    ));
                }
                match n.parse::<usize>() {
                    Ok(n) if n <= MAX_PACKET as usize => n,
                    _ => {
                        return Err(format!(
                            "<{name} {n}> at position {offset} is longer than {MAX_PACKET} bytes"
                        ))
                    }
                }
            }
            ("r" | "rc" | "rd", None) => {
                return Err(format!(
                    "<{name}> at position {offset} needs a byte count like <{name} 16>"
                ))
            }
            ("t" | "c", None) => 4,
            ("t" | "c", Some(_)) => {
                return Err(format!(
                    "<{name}> at position {offset} takes no argument; write <{name}>"
                ))
            }
            ("d" | "ds" | "dz", _) => {
                return Err(format!(
                    "<{name}> at position {offset} is a data tag for header obfuscation and cannot be used in an I packet"
                ))
            }
            (other, _) => {
                return Err(format!(
                    "unknown tag <{other}> at position {offset}; use b, r, rc, rd, t or c"
                ))
            }
        };
        total += size;
        tags += 1;
        if total > MAX_PACKET as usize {
            return Err(format!(
                "produces a packet longer than {MAX_PACKET} bytes (at least {total}); shorten it"
            ));
        }
        offset += end + 1;
        rest = &rest[end + 1..];
    }
    if tags == 0 {
        return Err("is empty; leave the key out instead, or write tags like <r 32>".into());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn v1() -> AwgParams {
        AwgParams {
            jc: 4,
            jmin: 40,
            jmax: 70,
            s1: 50,
            s2: 60,
            s3: None,
            s4: None,
            h1: HeaderRange::single(1_000_001),
            h2: HeaderRange::single(1_000_002),
            h3: HeaderRange::single(1_000_003),
            h4: HeaderRange::single(1_000_004),
            i1: None,
            i2: None,
            i3: None,
            i4: None,
            i5: None,
        }
    }

    fn v2() -> AwgParams {
        AwgParams {
            s3: Some(30),
            s4: Some(12),
            h1: "100-200".parse().unwrap(),
            h2: "300-400".parse().unwrap(),
            h3: "500".parse().unwrap(),
            h4: "600-70000".parse().unwrap(),
            i1: Some("<b 0xc700000001><r 16><rc 4><rd 2><t><c>".into()),
            ..v1()
        }
    }

    fn field_of(p: &AwgParams) -> &'static str {
        p.validate().expect_err("should be invalid").field
    }

    #[test]
    fn examples_validate() {
        v1().validate().unwrap();
        v2().validate().unwrap();
        assert_eq!(v1().version(), AwgVersion::V1);
        assert_eq!(v2().version(), AwgVersion::V2);
    }

    #[test]
    fn header_range_text() {
        assert_eq!(HeaderRange::single(123).to_string(), "123");
        assert_eq!(
            "123".parse::<HeaderRange>().unwrap(),
            HeaderRange::single(123)
        );
        let r: HeaderRange = "123-456".parse().unwrap();
        assert_eq!(
            r,
            HeaderRange {
                start: 123,
                end: 456
            }
        );
        assert_eq!(r.to_string(), "123-456");
        assert_eq!("7-7".parse::<HeaderRange>().unwrap().to_string(), "7");
        for bad in [
            "",
            "-",
            "1-",
            "-1",
            "+5",
            "5-4",
            "1-2-3",
            "4294967296",
            "a",
            "1 - 2x",
        ] {
            let e = bad.parse::<HeaderRange>().unwrap_err();
            assert!(e.to_string().contains("invalid header value"), "{bad}: {e}");
        }
        assert_eq!(
            "4294967295".parse::<HeaderRange>().unwrap(),
            HeaderRange::single(u32::MAX)
        );
    }

    #[test]
    fn rules_name_their_field() {
        let mut p = v1();
        p.jc = 0;
        assert_eq!(field_of(&p), "jc");
        p.jc = 129;
        assert_eq!(field_of(&p), "jc");

        let mut p = v1();
        p.jmin = 900;
        p.jmax = 800;
        assert_eq!(
            p.validate().unwrap_err().to_string(),
            "awg.jmin: must be less than jmax (got jmin=900, jmax=800)"
        );
        p.jmin = 800;
        assert_eq!(field_of(&p), "jmin");
        p.jmax = 1281;
        assert_eq!(field_of(&p), "jmax");

        let mut p = v1();
        p.s1 = 1133;
        assert_eq!(field_of(&p), "s1");
        let mut p = v1();
        p.s2 = p.s1 + 56;
        let e = p.validate().unwrap_err();
        assert_eq!(e.field, "s2");
        assert!(e.to_string().contains("change S2 or S1"), "{e}");

        let mut p = v2();
        p.s3 = Some(p.s1 + 84); // 64+S3 == 148+S1
        assert_eq!(field_of(&p), "s3");
        let mut p = v2();
        p.s4 = Some(p.s2 + 60); // 32+S4 == 92+S2
        assert_eq!(field_of(&p), "s4");
        let mut p = v2();
        p.s4 = Some(1249);
        assert_eq!(field_of(&p), "s4");

        let mut p = v1();
        p.h3 = HeaderRange::single(4);
        assert_eq!(field_of(&p), "h3");
        let mut p = v1();
        p.h2 = HeaderRange::single(1u32 << 31);
        assert_eq!(field_of(&p), "h2");
        let mut p = v1();
        p.h4 = p.h1;
        let e = p.validate().unwrap_err();
        assert_eq!(e.field, "h4");
        assert!(e.reason.starts_with("must differ from h1"), "{e}");
        let mut p = v2();
        p.h4 = "150-250".parse().unwrap();
        let e = p.validate().unwrap_err();
        assert_eq!(e.field, "h4");
        assert!(e.reason.starts_with("must not overlap h1"), "{e}");
        let mut p = v2();
        p.h2 = HeaderRange { start: 9, end: 8 };
        assert_eq!(field_of(&p), "h2");

        let mut p = v2();
        p.i3 = Some("<b 0x123>".into());
        let e = p.validate().unwrap_err();
        assert_eq!(e.field, "i3");
        assert!(e.reason.contains("odd number of hex digits"), "{e}");
    }

    #[test]
    fn errors_are_one_line() {
        let mut p = v2();
        p.i1 = Some("<b 0x00>\n<r 3>".into());
        let e = p.validate().unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.starts_with("awg.i1: "), "{e}");
    }

    #[test]
    fn cps_templates() {
        assert_eq!(validate_cps("<b 0x0102><r 10>").unwrap(), 12);
        assert_eq!(
            validate_cps(" <b 0102>  <t> <c>\t<rc 3><rd 0> ").unwrap(),
            13
        );
        assert_eq!(validate_cps("<r 1280>").unwrap(), 1280);
        for (bad, needle) in [
            ("", "is empty"),
            ("   ", "is empty"),
            ("<b 0x012>", "odd number"),
            ("<b 0xzz>", "not hexadecimal"),
            ("<b 0x>", "no bytes"),
            ("<b>", "needs bytes"),
            ("<r>", "needs a byte count"),
            ("<r -1>", "non-negative"),
            ("<r 1281>", "longer than 1280"),
            ("<r 99999999999999999999999>", "longer than 1280"),
            ("<r 1000><r 281>", "longer than 1280"),
            ("<t 5>", "takes no argument"),
            ("<x 5>", "unknown tag <x>"),
            ("<>", "empty tag"),
            ("<r 5", "not closed"),
            ("<r 5<t>", "not closed"),
            ("hello<r 5>", "unexpected text at position 0"),
            ("<r 5> junk", "unexpected text at position 6"),
            ("<r 5 6>", "more than one argument"),
            ("<d>", "data tag"),
            ("<r 5>\r", "control character"),
        ] {
            let e = validate_cps(bad).expect_err(bad);
            assert!(e.contains(needle), "{bad:?}: {e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn uapi_and_conf_lines() {
        let p = v2();
        assert_eq!(
            p.to_uapi(),
            "jc=4\njmin=40\njmax=70\ns1=50\ns2=60\ns3=30\ns4=12\nh1=100-200\nh2=300-400\nh3=500\nh4=600-70000\ni1=<b 0xc700000001><r 16><rc 4><rd 2><t><c>\n"
        );
        let keys: Vec<_> = v1().to_conf_lines().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["Jc", "Jmin", "Jmax", "S1", "S2", "H1", "H2", "H3", "H4"]
        );
        let mut p = v1();
        p.i2 = Some("<r 4>\nprivate_key=00".into());
        assert!(!p.to_uapi().contains("\nprivate_key"));
    }

    #[test]
    fn serde_round_trip_and_shape() {
        for p in [v1(), v2()] {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<AwgParams>(&json).unwrap(), p);
        }
        let json = serde_json::to_value(v1()).unwrap();
        assert_eq!(json["h1"], "1000001");
        assert!(json.get("s3").is_none() && json.get("i1").is_none());
        // A bare number is accepted for a header.
        let mut json = json;
        json["h1"] = serde_json::json!(77);
        let p: AwgParams = serde_json::from_value(json).unwrap();
        assert_eq!(p.h1, HeaderRange::single(77));
    }

    #[test]
    fn degenerate_rng_still_valid() {
        // A constant RNG makes every draw collide; the nudging must still terminate valid.
        struct Zero;
        impl rand::RngCore for Zero {
            fn next_u32(&mut self) -> u32 {
                0
            }
            fn next_u64(&mut self) -> u64 {
                0
            }
            fn fill_bytes(&mut self, d: &mut [u8]) {
                d.fill(0)
            }
            fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand::Error> {
                d.fill(0);
                Ok(())
            }
        }
        for v in [AwgVersion::V1, AwgVersion::V2] {
            let p = AwgParams::generate(&mut Zero, v);
            p.validate().unwrap();
            assert_eq!(p.version(), v);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn generated_params_validate(seed: u64, v2: bool) {
            let version = if v2 { AwgVersion::V2 } else { AwgVersion::V1 };
            let p = AwgParams::generate(&mut StdRng::seed_from_u64(seed), version);
            prop_assert_eq!(p.validate(), Ok(()));
            prop_assert_eq!(p.version(), version);
            // ranges as documented, so the config looks like the Amnezia app's
            prop_assert!((15..=160).contains(&p.s1) && (15..=160).contains(&p.s2));
            let json = serde_json::to_string(&p).unwrap();
            prop_assert_eq!(serde_json::from_str::<AwgParams>(&json).unwrap(), p);
        }

        #[test]
        fn header_range_parse_display(start: u32, len: u32) {
            let r = HeaderRange { start, end: start.saturating_add(len) };
            prop_assert_eq!(r.to_string().parse::<HeaderRange>().unwrap(), r);
        }

        #[test]
        fn cps_never_panics(s in ".{0,64}") {
            let _ = validate_cps(&s);
        }

        /// Breaking exactly one rule of a valid (generated) parameter set is refused, and the
        /// error names the field that was broken, on one line.
        #[test]
        fn each_broken_rule_names_its_field(seed: u64, v2: bool, brk in broken_rule()) {
            let version = if v2 { AwgVersion::V2 } else { AwgVersion::V1 };
            let mut p = AwgParams::generate(&mut StdRng::seed_from_u64(seed), version);
            // S3/S4 rules need the 1.5/2.0 fields present; on a 1.0 set they add them.
            let expected = brk.apply(&mut p);
            let e = p.validate().expect_err("a broken rule must be refused");
            prop_assert_eq!(e.field, expected, "{:?} gave {}", brk, e);
            let text = e.to_string();
            prop_assert!(text.starts_with(&format!("awg.{expected}: ")), "{}", text);
            prop_assert!(!text.contains('\n'), "{}", text);
        }

        /// `validate` agrees with the rules as the issue states them, written out a second
        /// time independently (see `broken_fields`), over values chosen to sit near every
        /// boundary and to collide often.
        #[test]
        fn validate_agrees_with_the_rules(p in any_params()) {
            let broken = broken_fields(&p);
            match p.validate() {
                Ok(()) => prop_assert!(broken.is_empty(), "accepted but breaks {:?}: {:?}", broken, p),
                Err(e) => prop_assert!(
                    broken.contains(&e.field),
                    "refused with {} but the rules say {:?}: {:?}", e, broken, p
                ),
            }
        }
    }

    /// One rule broken on purpose, for `each_broken_rule_names_its_field`.
    #[derive(Debug, Clone)]
    enum Broken {
        /// Jc outside 1..=128.
        Jc(u8),
        /// Jmax above 1280.
        JmaxTooBig(u16),
        /// Jmin not below Jmax (Jmin = Jmax + d).
        JminNotBelowJmax(u16),
        /// S(i+1) one or more bytes past the size that still fits 1280 once padded.
        SizeTooBig(usize, u16),
        /// Padded size of S(i+1) made equal to that of S(j+1), j < i.
        SizeCollision(usize, usize),
        /// H(i+1) below 5 (low) or above 2^31-1 (high).
        HeaderOutOfBounds(usize, bool, u32),
        /// H(i+1) start > end.
        HeaderReversed(usize),
        /// H(i+1) set to a value inside H(j+1), j < i.
        HeaderClash(usize, usize, u32),
        /// I(k+1) set to a malformed template.
        BadSpecial(usize, &'static str),
    }

    const PAD_BASE: [u16; 4] = [INIT_SIZE, RESPONSE_SIZE, COOKIE_SIZE, TRANSPORT_SIZE];
    const S_FIELDS: [&str; 4] = ["s1", "s2", "s3", "s4"];

    fn set_s(p: &mut AwgParams, i: usize, v: u16) {
        match i {
            0 => p.s1 = v,
            1 => p.s2 = v,
            2 => p.s3 = Some(v),
            _ => p.s4 = Some(v),
        }
    }

    fn get_s(p: &AwgParams, i: usize) -> u16 {
        [Some(p.s1), Some(p.s2), p.s3, p.s4][i].unwrap_or(0)
    }

    fn header_mut(p: &mut AwgParams, i: usize) -> &mut HeaderRange {
        match i {
            0 => &mut p.h1,
            1 => &mut p.h2,
            2 => &mut p.h3,
            _ => &mut p.h4,
        }
    }

    impl Broken {
        /// Breaks the rule in `p` and returns the field the error must name.
        fn apply(&self, p: &mut AwgParams) -> &'static str {
            match *self {
                Broken::Jc(jc) => {
                    p.jc = jc;
                    "jc"
                }
                Broken::JmaxTooBig(v) => {
                    p.jmax = v;
                    "jmax"
                }
                Broken::JminNotBelowJmax(d) => {
                    p.jmin = p.jmax + d;
                    "jmin"
                }
                Broken::SizeTooBig(i, excess) => {
                    set_s(p, i, MAX_PACKET - PAD_BASE[i] + 1 + excess);
                    S_FIELDS[i]
                }
                Broken::SizeCollision(i, j) => {
                    // Only the 2.0 line compares S3/S4; give a 1.0 set S3/S4 that collide
                    // with nothing first (their sizes then sit above every generated size).
                    if p.s3.is_none() {
                        p.s3 = Some(400);
                        p.s4 = Some(500);
                    }
                    let target = PAD_BASE[j] + get_s(p, j);
                    set_s(p, i, target - PAD_BASE[i]);
                    S_FIELDS[i]
                }
                Broken::HeaderOutOfBounds(i, low, v) => {
                    let h = header_mut(p, i);
                    if low {
                        *h = HeaderRange::single(v % MIN_HEADER);
                    } else {
                        h.end = MAX_HEADER.saturating_add(1).max(v);
                        h.start = h.start.min(h.end);
                    }
                    H_FIELDS[i]
                }
                Broken::HeaderReversed(i) => {
                    let h = header_mut(p, i);
                    *h = HeaderRange {
                        start: h.start + 1,
                        end: h.start,
                    };
                    H_FIELDS[i]
                }
                Broken::HeaderClash(i, j, pick) => {
                    let other = *header_mut(p, j);
                    let span = other.end - other.start;
                    let value = other.start + pick % (span.saturating_add(1)).max(1);
                    *header_mut(p, i) = HeaderRange::single(value);
                    H_FIELDS[i]
                }
                Broken::BadSpecial(k, t) => {
                    let slot = match k {
                        0 => &mut p.i1,
                        1 => &mut p.i2,
                        2 => &mut p.i3,
                        3 => &mut p.i4,
                        _ => &mut p.i5,
                    };
                    *slot = Some(t.to_owned());
                    I_FIELDS[k]
                }
            }
        }
    }

    fn broken_rule() -> impl Strategy<Value = Broken> {
        let pair = (1usize..4).prop_flat_map(|i| (Just(i), 0..i));
        prop_oneof![
            prop_oneof![Just(0u8), 129u8..=255].prop_map(Broken::Jc),
            (MAX_PACKET + 1..=u16::MAX).prop_map(Broken::JmaxTooBig),
            prop_oneof![Just(0u16), 0u16..200].prop_map(Broken::JminNotBelowJmax),
            (0usize..4, 0u16..3000).prop_map(|(i, e)| Broken::SizeTooBig(i, e)),
            pair.clone().prop_map(|(i, j)| Broken::SizeCollision(i, j)),
            (0usize..4, any::<bool>(), any::<u32>())
                .prop_map(|(i, low, v)| Broken::HeaderOutOfBounds(i, low, v)),
            (0usize..4).prop_map(Broken::HeaderReversed),
            (pair, any::<u32>()).prop_map(|((i, j), v)| Broken::HeaderClash(i, j, v)),
            (
                0usize..5,
                prop::sample::select(vec!["", "<b 0x1>", "<r 1281>", "<q>", "text", "<r 1>\n"])
            )
                .prop_map(|(k, t)| Broken::BadSpecial(k, t)),
        ]
    }

    /// Values near every boundary, small enough to collide often.
    fn any_params() -> impl Strategy<Value = AwgParams> {
        let small_or_edge = |lo: u16, hi: u16, edge: u16| {
            prop_oneof![lo..hi, edge.saturating_sub(3)..=edge.saturating_add(3)]
        };
        let header = prop_oneof![
            8 => (0u32..400, 0u32..4).prop_map(|(s, l)| HeaderRange { start: s, end: s + l }),
            1 => (MAX_HEADER - 5..=u32::MAX, 0u32..3)
                .prop_map(|(s, l)| HeaderRange { start: s, end: s.saturating_add(l) }),
            1 => (10u32..20, 0u32..3).prop_map(|(s, l)| HeaderRange { start: s + l, end: s }),
        ];
        let template = prop::option::weighted(
            0.2,
            prop::sample::select(vec![
                "<r 16>",
                "<b 0xc0ff><t><c>",
                "<r 1281>",
                "<b 0x1>",
                "x",
            ]),
        )
        .prop_map(|t| t.map(str::to_owned));
        (
            (
                prop_oneof![8 => 1u8..=128, 1 => Just(0u8), 1 => 129u8..=255],
                small_or_edge(0, 40, MAX_PACKET),
                small_or_edge(0, 40, MAX_PACKET),
            ),
            (
                small_or_edge(0, 30, MAX_PACKET - INIT_SIZE),
                small_or_edge(40, 100, MAX_PACKET - RESPONSE_SIZE),
                prop::option::of(small_or_edge(60, 130, MAX_PACKET - COOKIE_SIZE)),
                prop::option::of(small_or_edge(0, 200, MAX_PACKET - TRANSPORT_SIZE)),
            ),
            [header.clone(), header.clone(), header.clone(), header],
            [template.clone(), template.clone(), template],
        )
            .prop_map(
                |((jc, jmin, jmax), (s1, s2, s3, s4), h, [i1, i2, i5])| AwgParams {
                    jc,
                    jmin,
                    jmax,
                    s1,
                    s2,
                    s3,
                    s4,
                    h1: h[0],
                    h2: h[1],
                    h3: h[2],
                    h4: h[3],
                    i1,
                    i2,
                    i3: None,
                    i4: None,
                    i5,
                },
            )
    }

    /// The rules of the issue, restated without looking at `validate`: every field that
    /// breaks one. For a pair that must differ, the later field of the pair is the one
    /// named (S2 for S1+56 = S2, H3 for H1 = H3), as the documentation of `validate` says.
    // Index loops on purpose: the rules are pairwise over parallel arrays (value, base size,
    // field name), and `i`/`j` read closer to the issue's wording than zipped iterators.
    #[allow(clippy::needless_range_loop)]
    fn broken_fields(p: &AwgParams) -> Vec<&'static str> {
        let mut out = Vec::new();
        if p.jc < 1 || p.jc > 128 {
            out.push("jc");
        }
        if p.jmax > 1280 {
            out.push("jmax");
        }
        if p.jmin >= p.jmax {
            out.push("jmin");
        }
        // Each padded handshake message fits in 1280 bytes.
        let s = [Some(p.s1), Some(p.s2), p.s3, p.s4];
        for i in 0..4 {
            if s[i].is_some_and(|v| u32::from(v) + u32::from(PAD_BASE[i]) > 1280) {
                out.push(S_FIELDS[i]);
            }
        }
        // 1.0: S1+148 != S2+92. 1.5/2.0 (S3 or S4 given, absent = 0): all four differ.
        let compared = if p.s3.is_some() || p.s4.is_some() {
            4
        } else {
            2
        };
        for i in 0..compared {
            for j in 0..i {
                let size = |k: usize| u32::from(s[k].unwrap_or(0)) + u32::from(PAD_BASE[k]);
                if size(i) == size(j) {
                    out.push(S_FIELDS[i]);
                }
            }
        }
        let h = [p.h1, p.h2, p.h3, p.h4];
        for i in 0..4 {
            if h[i].start > h[i].end || h[i].start < 5 || h[i].end > (1u32 << 31) - 1 {
                out.push(H_FIELDS[i]);
            }
            for j in 0..i {
                if h[i].start <= h[j].end && h[j].start <= h[i].end {
                    out.push(H_FIELDS[i]);
                }
            }
        }
        for (k, t) in [&p.i1, &p.i2, &p.i3, &p.i4, &p.i5].into_iter().enumerate() {
            if t.as_deref().is_some_and(|t| validate_cps(t).is_err()) {
                out.push(I_FIELDS[k]);
            }
        }
        out
    }
}
