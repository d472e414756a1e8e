//! The I1–I5 "special junk" tag language of AmneziaWG 2.0+.
//!
//! `<b HEX>` literal bytes (`0x` optional, even length), `<r N>` N random bytes, `<rc N>` N
//! random letters a–zA–Z, `<rd N>` N random digits, `<t>` 4-byte big-endian Unix seconds.
//! Text outside tags is ignored (as amneziawg-go does). `<c>` (the 1.5 counter) is refused.

use rand::Rng;

/// The largest datagram an I packet may become (UDP payload limit minus headers).
pub const MAX_I_PACKET: usize = 65_507;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Bytes(Vec<u8>),
    Random(usize),
    Letters(usize),
    Digits(usize),
    Timestamp,
}

/// A parsed I1–I5 value. Keeps its source text for the UAPI `get` and config files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ITemplate {
    text: String,
    pieces: Vec<Piece>,
    len: usize,
}

impl ITemplate {
    /// Parse a tag string; the error is one line naming what was wrong.
    pub fn parse(text: &str) -> Result<ITemplate, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('<') {
            let after = &rest[open + 1..];
            let close = after
                .find('>')
                .ok_or_else(|| format!("unclosed tag at {:?}", clip(&rest[open..])))?;
            pieces.push(parse_tag(after[..close].trim())?);
            rest = &after[close + 1..];
        }
        let len = pieces.iter().map(piece_len).sum();
        if len == 0 {
            return Err("the tag string produces an empty packet: add a <b …> or <r N> tag".into());
        }
        if len > MAX_I_PACKET {
            return Err(format!(
                "the tag string produces {len} bytes, more than a UDP datagram ({MAX_I_PACKET})"
            ));
        }
        Ok(ITemplate {
            text: text.to_string(),
            pieces,
            len,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Size of every packet this template produces.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A fresh packet: random parts drawn anew, the timestamp taken now.
    pub fn render(&self, rng: &mut impl Rng) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for p in &self.pieces {
            match p {
                Piece::Bytes(b) => out.extend_from_slice(b),
                Piece::Random(n) => out.extend((0..*n).map(|_| rng.gen::<u8>())),
                Piece::Letters(n) => {
                    const L: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
                    out.extend((0..*n).map(|_| L[rng.gen_range(0..L.len())]));
                }
                Piece::Digits(n) => out.extend((0..*n).map(|_| b'0' + rng.gen_range(0..10u8))),
                Piece::Timestamp => {
                    let secs = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs() as u32)
                        .unwrap_or(0);
                    out.extend_from_slice(&secs.to_be_bytes());
                }
            }
        }
        out
    }
}

fn piece_len(p: &Piece) -> usize {
    match p {
        Piece::Bytes(b) => b.len(),
        Piece::Random(n) | Piece::Letters(n) | Piece::Digits(n) => *n,
        Piece::Timestamp => 4,
    }
}

fn clip(s: &str) -> String {
    s.chars().take(24).collect()
}

fn parse_tag(tag: &str) -> Result<Piece, String> {
    let mut parts = tag.split_whitespace();
    let name = parts.next().unwrap_or("");
    let arg = parts.next();
    if parts.next().is_some() {
        return Err(format!("tag <{}> has more than one argument", clip(tag)));
    }
    let count = |what: &str| -> Result<usize, String> {
        let a = arg.ok_or_else(|| format!("tag <{what}> needs a length, e.g. <{what} 16>"))?;
        let n: usize = a
            .parse()
            .map_err(|_| format!("tag <{what} {}>: the length is not a number", clip(a)))?;
        if n == 0 || n > MAX_I_PACKET {
            return Err(format!(
                "tag <{what} {n}>: length must be 1..={MAX_I_PACKET}"
            ));
        }
        Ok(n)
    };
    match name {
        "b" => parse_hex(arg.ok_or("tag <b> needs hex bytes, e.g. <b 0xc0ffee>")?),
        "r" => count("r").map(Piece::Random),
        "rc" => count("rc").map(Piece::Letters),
        "rd" => count("rd").map(Piece::Digits),
        "t" if arg.is_none() => Ok(Piece::Timestamp),
        "t" => Err("tag <t> takes no argument".into()),
        "c" => Err("tag <c> (the 1.5 counter) is not supported by AmneziaWG 2.0+".into()),
        other => Err(format!(
            "unknown tag <{}>: use <b HEX>, <r N>, <rc N>, <rd N> or <t>",
            clip(other)
        )),
    }
}

fn parse_hex(arg: &str) -> Result<Piece, String> {
    let digits = arg
        .strip_prefix("0x")
        .or_else(|| arg.strip_prefix("0X"))
        .unwrap_or(arg);
    if digits.is_empty() || digits.len() % 2 != 0 {
        return Err(format!(
            "tag <b {}>: hex needs an even, non-zero number of digits",
            clip(arg)
        ));
    }
    hex::decode(digits)
        .map(Piece::Bytes)
        .map_err(|_| format!("tag <b {}>: not hexadecimal", clip(arg)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn captured_example_is_23_bytes() {
        let t = ITemplate::parse("<b 0xc0ffee><r 16><t>").unwrap();
        assert_eq!(t.len(), 23);
        let p = t.render(&mut rand::thread_rng());
        assert_eq!(p.len(), 23);
        assert_eq!(&p[..3], &[0xc0, 0xff, 0xee]);
    }

    #[test]
    fn letters_digits_and_ignored_text() {
        let t = ITemplate::parse("junk <rc 5> more <rd 7> <b ab>").unwrap();
        let p = t.render(&mut rand::thread_rng());
        assert_eq!(p.len(), 13);
        assert!(p[..5].iter().all(|c| c.is_ascii_alphabetic()));
        assert!(p[5..12].iter().all(|c| c.is_ascii_digit()));
        assert_eq!(p[12], 0xab);
    }

    #[test]
    fn bad_tags_are_refused_with_a_reason() {
        for (text, want) in [
            ("<b 0xabc>", "even"),
            ("<b zz>", "hexadecimal"),
            ("<r>", "needs a length"),
            ("<r x>", "not a number"),
            ("<c>", "1.5 counter"),
            ("<q 3>", "unknown tag"),
            ("<b 00", "unclosed"),
            ("", "empty packet"),
            ("<t 4>", "no argument"),
            ("<r 70000>", "length must be"),
        ] {
            let e = ITemplate::parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in ".{0,200}") {
            if let Ok(t) = ITemplate::parse(&s) {
                prop_assert_eq!(t.render(&mut rand::thread_rng()).len(), t.len());
            }
        }

        #[test]
        fn tag_soup_never_panics(parts in proptest::collection::vec(
            prop_oneof![
                Just("<".to_string()), Just(">".to_string()), Just("<b 0x".to_string()),
                Just("<r ".to_string()), Just("<rc".to_string()), Just("<t>".to_string()),
                "[0-9a-f]{0,6}", " ",
            ], 0..20)) {
            let s: String = parts.concat();
            if let Ok(t) = ITemplate::parse(&s) {
                prop_assert_eq!(t.render(&mut rand::thread_rng()).len(), t.len());
            }
        }
    }
}
