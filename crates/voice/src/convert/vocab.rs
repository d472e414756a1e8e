//! The token table whisper.cpp wants: the non-special tokens of `tokenizer.json`, by id, as raw
//! bytes. The JSON spells them in GPT-2's byte-level alphabet (each byte mapped to a printable
//! code point), so they are mapped back.

use std::collections::HashMap;

use super::ConvertError;

/// GPT-2's `bytes_to_unicode`, inverted: code point → byte.
pub(crate) fn unicode_to_byte() -> HashMap<char, u8> {
    let printable =
        |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let mut map = HashMap::with_capacity(256);
    let mut extra = 0;
    for b in 0u32..256 {
        let c = if printable(b) {
            b
        } else {
            extra += 1;
            255 + extra
        };
        map.insert(char::from_u32(c).expect("valid code point"), b as u8);
    }
    map
}

/// Tokens 0..n (n = the first special token's id), as bytes.
pub(crate) fn tokens(tokenizer_json: &[u8]) -> Result<Vec<Vec<u8>>, ConvertError> {
    let bad = |msg: &str| ConvertError::Format(format!("tokenizer.json: {msg}"));
    let json: serde_json::Value =
        serde_json::from_slice(tokenizer_json).map_err(|e| bad(&e.to_string()))?;
    let vocab = json["model"]["vocab"]
        .as_object()
        .ok_or_else(|| bad("no model.vocab object"))?;
    let first_special = json["added_tokens"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["special"].as_bool() == Some(true))
        .filter_map(|t| t["id"].as_u64())
        .min()
        .unwrap_or(vocab.len() as u64) as usize;
    let mut by_id: Vec<Option<&str>> = vec![None; first_special];
    for (token, id) in vocab {
        let id = id
            .as_u64()
            .ok_or_else(|| bad("a token id is not a number"))? as usize;
        if id < first_special {
            by_id[id] = Some(token);
        }
    }
    let alphabet = unicode_to_byte();
    by_id
        .iter()
        .enumerate()
        .map(|(id, token)| {
            let token = token.ok_or_else(|| bad(&format!("token id {id} is missing")))?;
            Ok(token
                .chars()
                .map(|c| alphabet.get(&c).copied().unwrap_or(b'?'))
                .collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_tokens_become_bytes() {
        // "Ġ" is the space, "Ċ" the newline; "Ð¿" is the UTF-8 of "п".
        let json = br#"{"model":{"vocab":{"!":0,"\u0120hi":1,"\u010a":2,"\u00d0\u00bf":3,"<|endoftext|>":4}},
            "added_tokens":[{"id":4,"content":"<|endoftext|>","special":true}]}"#;
        let tokens = tokens(json).unwrap();
        assert_eq!(
            tokens,
            vec![
                b"!".to_vec(),
                b" hi".to_vec(),
                b"\n".to_vec(),
                "п".as_bytes().to_vec()
            ]
        );
    }

    #[test]
    fn a_hole_in_the_ids_is_an_error() {
        let json = br#"{"model":{"vocab":{"a":0,"b":2}},"added_tokens":[{"id":3,"special":true}]}"#;
        assert!(tokens(json).unwrap_err().to_string().contains("token id 1"));
    }
}
