//! The bot's texts in Russian and English, as Fluent resources compiled into the binary.
//!
//! Fluent rather than format strings because Russian plurals have three forms (1 устройство,
//! 2 устройства, 5 устройств; 21 устройство again) and Fluent picks them from CLDR rules.

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use serde::{Deserialize, Serialize};
use unic_langid::LanguageIdentifier;

const EN: &str = include_str!("../locales/en.ftl");
const RU: &str = include_str!("../locales/ru.ftl");

/// The languages the bot speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Ru,
    En,
}

impl Lang {
    /// From Telegram's `language_code` (IETF tag of the user's client): Russian for `ru`,
    /// and for the languages whose speakers mostly read Russian comfortably; English otherwise.
    pub fn from_code(code: Option<&str>) -> Lang {
        let primary = code
            .unwrap_or("")
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match primary.as_str() {
            "ru" | "be" | "uk" | "kk" | "ky" | "uz" | "tg" | "hy" | "az" => Lang::Ru,
            _ => Lang::En,
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "ru" => Some(Lang::Ru),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Ru => Lang::En,
            Lang::En => Lang::Ru,
        }
    }
}

struct Bundles {
    ru: FluentBundle<FluentResource>,
    en: FluentBundle<FluentResource>,
}

fn bundle(tag: &str, source: &'static str) -> FluentBundle<FluentResource> {
    let lang: LanguageIdentifier = tag.parse().unwrap_or_default();
    let mut b = FluentBundle::new_concurrent(vec![lang]);
    // Unicode isolation marks around arguments would show up as garbage in Telegram.
    b.set_use_isolating(false);
    let resource = match FluentResource::try_new(source.to_string()) {
        Ok(r) => r,
        Err((r, errors)) => {
            // The unit tests keep this from happening; at run time, use what parsed.
            tracing::error!(lang = tag, ?errors, "bot texts have syntax errors");
            r
        }
    };
    if let Err(errors) = b.add_resource(resource) {
        tracing::error!(lang = tag, ?errors, "bot texts define a message twice");
    }
    b
}

fn bundles() -> &'static Bundles {
    // Static resources compiled into the binary: built once, shared by every handler.
    static B: OnceLock<Bundles> = OnceLock::new();
    B.get_or_init(|| Bundles {
        ru: bundle("ru", RU),
        en: bundle("en", EN),
    })
}

/// An argument list for [`tr`].
pub type Args<'a> = [(&'a str, FluentValue<'a>)];

/// The text `key` in `lang` with `args`. A missing key yields the key itself (and a log
/// line): a wrong label is better than a failed reply.
pub fn tr(lang: Lang, key: &str, args: &Args<'_>) -> String {
    let b = match lang {
        Lang::Ru => &bundles().ru,
        Lang::En => &bundles().en,
    };
    let Some(pattern) = b.get_message(key).and_then(|m| m.value()) else {
        tracing::warn!(key, lang = lang.as_str(), "missing bot text");
        return key.to_string();
    };
    let mut fargs = FluentArgs::new();
    for (k, v) in args {
        fargs.set(*k, v.clone());
    }
    let mut errors = Vec::new();
    let text = b.format_pattern(pattern, Some(&fargs), &mut errors);
    if !errors.is_empty() {
        tracing::warn!(
            key,
            lang = lang.as_str(),
            ?errors,
            "bot text formatting errors"
        );
    }
    text.into_owned()
}

/// A text without arguments.
pub fn t(lang: Lang, key: &str) -> String {
    tr(lang, key, &[])
}

/// A number argument (plural rules apply to these).
pub fn num<'a>(n: i64) -> FluentValue<'a> {
    FluentValue::from(n)
}

/// A string argument.
pub fn s<'a>(v: impl Into<String>) -> FluentValue<'a> {
    FluentValue::from(v.into())
}

/// Escapes text for Telegram's HTML parse mode (names and user input inside our messages).
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            other => out.push(other),
        }
    }
    out
}

/// Bytes as a short human figure (B, KiB, MiB, GiB, TiB).
pub fn bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{} {}", n as i64, UNITS[0])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn keys(source: &str) -> BTreeSet<String> {
        source
            .lines()
            .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
            .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim().to_string()))
            .collect()
    }

    #[test]
    fn both_languages_parse_and_have_the_same_keys() {
        for (tag, src) in [("en", EN), ("ru", RU)] {
            if let Err((_, errors)) = FluentResource::try_new(src.to_string()) {
                panic!("{tag}.ftl has syntax errors: {errors:?}");
            }
        }
        let (en, ru) = (keys(EN), keys(RU));
        assert!(en.len() > 50, "en keys: {en:?}");
        let only_en: Vec<_> = en.difference(&ru).collect();
        let only_ru: Vec<_> = ru.difference(&en).collect();
        assert!(only_en.is_empty(), "missing in ru.ftl: {only_en:?}");
        assert!(only_ru.is_empty(), "missing in en.ftl: {only_ru:?}");
        for key in &en {
            for lang in [Lang::En, Lang::Ru] {
                let text = tr(
                    lang,
                    key,
                    &[
                        ("count", num(3)),
                        ("devices", num(3)),
                        ("name", s("x")),
                        ("device", s("x")),
                    ],
                );
                assert_ne!(&text, key, "{key} in {lang:?}");
            }
        }
    }

    #[test]
    fn russian_plurals() {
        let cases = [
            (1, "У вас 1 устройство."),
            (2, "У вас 2 устройства."),
            (4, "У вас 4 устройства."),
            (5, "У вас 5 устройств."),
            (11, "У вас 11 устройств."),
            (21, "У вас 21 устройство."),
            (22, "У вас 22 устройства."),
            (0, "У вас пока нет устройств."),
        ];
        for (n, want) in cases {
            assert_eq!(tr(Lang::Ru, "main-devices", &[("count", num(n))]), want);
        }
        assert_eq!(
            tr(Lang::En, "main-devices", &[("count", num(1))]),
            "You have one device."
        );
        assert_eq!(
            tr(Lang::En, "main-devices", &[("count", num(2))]),
            "You have 2 devices."
        );
        assert_eq!(
            tr(Lang::Ru, "broadcast-preview", &[("count", num(21))]),
            "📣 Получит 21 пользователь:"
        );
    }

    #[test]
    fn no_isolation_marks_in_arguments() {
        let text = tr(Lang::En, "main", &[("name", s("Ann"))]);
        assert!(text.starts_with("👋 Hello, Ann!"), "{text:?}");
        assert!(!text.contains('\u{2068}'));
    }

    #[test]
    fn language_from_code() {
        assert_eq!(Lang::from_code(Some("ru")), Lang::Ru);
        assert_eq!(Lang::from_code(Some("ru-RU")), Lang::Ru);
        assert_eq!(Lang::from_code(Some("en-US")), Lang::En);
        assert_eq!(Lang::from_code(Some("de")), Lang::En);
        assert_eq!(Lang::from_code(None), Lang::En);
    }

    #[test]
    fn html_escaping_and_bytes() {
        assert_eq!(html("<b>&\"x\""), "&lt;b&gt;&amp;&quot;x&quot;");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
