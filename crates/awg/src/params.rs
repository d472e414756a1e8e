//! AmneziaWG obfuscation parameters, as the UAPI `key=value` lines carry them
//! (`jc`, `jmin`, `jmax`, `s1`–`s4`, `h1`–`h4` as `N` or `A-B`, `i1`–`i5`).
//!
//! All unset = plain WireGuard. Validation follows AWG-PROTOCOL.md §4: one-line errors that
//! name the parameter.

use rand::Rng;

use crate::itag::ITemplate;

/// Wire sizes of the four WireGuard messages (transport: the minimum, a keepalive).
pub const INIT_LEN: usize = 148;
pub const RESPONSE_LEN: usize = 92;
pub const COOKIE_LEN: usize = 64;
pub const TRANSPORT_MIN: usize = 32;
const MSG_LEN: [usize; 4] = [INIT_LEN, RESPONSE_LEN, COOKIE_LEN, TRANSPORT_MIN];

/// An inclusive range of 32-bit message-type values (a single value is `lo == hi`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HRange {
    pub lo: u32,
    pub hi: u32,
}

impl HRange {
    pub const fn single(v: u32) -> HRange {
        HRange { lo: v, hi: v }
    }
    pub fn contains(&self, v: u32) -> bool {
        self.lo <= v && v <= self.hi
    }
    /// A value for one message: uniform in the range (AWG 2.0 draws one per message).
    pub fn pick(&self, rng: &mut impl Rng) -> u32 {
        if self.lo == self.hi {
            self.lo
        } else {
            rng.gen_range(self.lo..=self.hi)
        }
    }
    fn overlaps(&self, o: &HRange) -> bool {
        self.lo <= o.hi && o.lo <= self.hi
    }
}

impl std::fmt::Display for HRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// The obfuscation parameters of one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwgParams {
    pub jc: u16,
    pub jmin: u16,
    pub jmax: u16,
    /// S1–S4: random prefix length before initiation, response, cookie, transport.
    pub s: [u16; 4],
    /// H1–H4: type-field values of initiation, response, cookie, transport.
    pub h: [HRange; 4],
    pub i: [Option<ITemplate>; 5],
}

impl Default for AwgParams {
    fn default() -> Self {
        AwgParams {
            jc: 0,
            jmin: 0,
            jmax: 0,
            s: [0; 4],
            h: [1, 2, 3, 4].map(HRange::single),
            i: Default::default(),
        }
    }
}

impl AwgParams {
    /// No obfuscation at all: the wire is byte-for-byte WireGuard.
    pub fn is_plain(&self) -> bool {
        *self == AwgParams::default()
    }

    /// Whether the wire of messages is unchanged (junk/I packets may still be sent).
    pub fn wire_is_plain(&self) -> bool {
        self.s == [0; 4] && self.h == AwgParams::default().h
    }

    /// Parse newline-separated UAPI lines (`jc=4`, `h1=100-200`, `i1=<b 0x01>`). Unknown keys
    /// are an error; the result is validated.
    pub fn from_uapi(text: &str) -> Result<AwgParams, String> {
        let mut p = AwgParams::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("AmneziaWG parameter line {line:?} has no `=`"))?;
            if !p.set(k.trim(), v)? {
                return Err(format!("unknown AmneziaWG parameter {:?}", k.trim()));
            }
        }
        p.validate()?;
        Ok(p)
    }

    /// Set one key; `Ok(false)` if the key is not an AWG key. Does not validate the whole.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let key = key.to_ascii_lowercase();
        let num = |v: &str| -> Result<u16, String> {
            v.trim()
                .parse::<u16>()
                .map_err(|_| format!("{key} = {:?} is not a number 0..=65535", v.trim()))
        };
        match key.as_str() {
            "jc" => self.jc = num(value)?,
            "jmin" => self.jmin = num(value)?,
            "jmax" => self.jmax = num(value)?,
            "s1" | "s2" | "s3" | "s4" => self.s[idx(&key)] = num(value)?,
            "h1" | "h2" | "h3" | "h4" => {
                let i = idx(&key);
                self.h[i] = parse_h(&key, value.trim(), i)?;
            }
            "i1" | "i2" | "i3" | "i4" | "i5" => {
                // Whitespace inside an I value is significant; only the line ends are not.
                let v = value.trim_matches(|c| c == '\r' || c == '\n');
                self.i[idx(&key)] = if v.trim().is_empty() {
                    None
                } else {
                    Some(ITemplate::parse(v).map_err(|e| format!("{key}: {e}"))?)
                };
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Check the rules of AWG-PROTOCOL.md §4.
    pub fn validate(&self) -> Result<(), String> {
        if self.jmin > self.jmax {
            return Err(format!(
                "jmin ({}) is greater than jmax ({}): junk sizes need jmin <= jmax",
                self.jmin, self.jmax
            ));
        }
        if self.jmax as usize > crate::itag::MAX_I_PACKET {
            return Err(format!("jmax ({}) exceeds a UDP datagram", self.jmax));
        }
        for (i, s) in self.s.iter().enumerate() {
            if *s as usize + MSG_LEN[i] >= 65_535 {
                return Err(format!(
                    "s{} ({s}) plus the message size must stay under 65535",
                    i + 1
                ));
            }
        }
        for a in 0..4 {
            for b in a + 1..4 {
                if self.h[a].overlaps(&self.h[b]) {
                    return Err(format!(
                        "h{} ({}) and h{} ({}) overlap: each message type needs its own values",
                        a + 1,
                        self.h[a],
                        b + 1,
                        self.h[b]
                    ));
                }
            }
        }
        Ok(())
    }

    /// The `key=value` lines of a UAPI `get`, leaving out the unset ones.
    pub fn to_uapi(&self) -> String {
        let mut out = String::new();
        if self.is_plain() {
            return out;
        }
        out.push_str(&format!(
            "jc={}\njmin={}\njmax={}\n",
            self.jc, self.jmin, self.jmax
        ));
        for (i, s) in self.s.iter().enumerate() {
            out.push_str(&format!("s{}={s}\n", i + 1));
        }
        for (i, h) in self.h.iter().enumerate() {
            out.push_str(&format!("h{}={h}\n", i + 1));
        }
        for (i, t) in self.i.iter().enumerate() {
            if let Some(t) = t {
                out.push_str(&format!("i{}={}\n", i + 1, t.text()));
            }
        }
        out
    }

    /// The largest S prefix, i.e. the headroom a send buffer needs before the message.
    pub fn max_prefix(&self) -> usize {
        self.s.iter().copied().max().unwrap_or(0) as usize
    }
}

fn idx(key: &str) -> usize {
    (key.as_bytes()[1] - b'1') as usize
}

/// `N` or `A-B`. A single value 0–4 means the default type (AWG 1.0: "≤ 4 is the default").
fn parse_h(key: &str, v: &str, i: usize) -> Result<HRange, String> {
    let n = |s: &str| -> Result<u32, String> {
        s.trim()
            .parse::<u32>()
            .map_err(|_| format!("{key} = {v:?}: expected a number or a range A-B of u32"))
    };
    match v.split_once('-') {
        Some((a, b)) => {
            let r = HRange {
                lo: n(a)?,
                hi: n(b)?,
            };
            if r.lo > r.hi {
                return Err(format!("{key} = {v:?}: the range's start is above its end"));
            }
            Ok(r)
        }
        None => {
            let x = n(v)?;
            Ok(HRange::single(if x <= 4 { i as u32 + 1 } else { x }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_plain_wireguard() {
        let p = AwgParams::from_uapi("").unwrap();
        assert!(p.is_plain());
        assert_eq!(p.to_uapi(), "");
        // 1.0's "H ≤ 4 means default"
        let p = AwgParams::from_uapi("h1=0\nh2=2\nh3=1\nh4=4\n").unwrap();
        assert!(p.is_plain());
    }

    #[test]
    fn awg_20_roundtrip() {
        let text = "jc=4\njmin=10\njmax=50\ns1=37\ns2=51\ns3=10\ns4=16\nh1=100000-100099\nh2=200000-200099\nh3=300000-300099\nh4=400000-400099\ni1=<b 0xc0ffee><r 16><t>\n";
        let p = AwgParams::from_uapi(text).unwrap();
        assert_eq!(p.s, [37, 51, 10, 16]);
        assert_eq!(
            p.h[0],
            HRange {
                lo: 100000,
                hi: 100099
            }
        );
        assert_eq!(AwgParams::from_uapi(&p.to_uapi()).unwrap(), p);
    }

    #[test]
    fn errors_name_the_parameter() {
        for (text, want) in [
            ("jmin=10\njmax=5", "jmin"),
            ("h1=5-3", "h1"),
            ("h1=100-200\nh2=150", "overlap"),
            ("s1=65500", "s1"),
            ("jc=x", "jc"),
            ("zz=1", "unknown"),
            ("i1=<c>", "i1"),
            ("jc", "no `=`"),
        ] {
            let e = AwgParams::from_uapi(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
