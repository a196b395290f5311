//! Pages: tera templates from the theme folder, translations from `locales/<lang>.toml`,
//! and the choice of language (OIDC `ui_locales` first, then `Accept-Language`, then Dutch).
//! Tera escapes every value in `.html` templates; no HTML is built in Rust.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;
use tera::{Context, Tera};

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("theme templates: {0}")]
    Tera(#[from] tera::Error),
    #[error("theme locale {0}: {1}")]
    Locale(String, String),
}

/// The languages the default theme speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    #[default]
    Nl,
    En,
}

impl Locale {
    pub fn code(self) -> &'static str {
        match self {
            Locale::Nl => "nl",
            Locale::En => "en",
        }
    }

    fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "nl" => Some(Locale::Nl),
            "en" => Some(Locale::En),
            _ => None,
        }
    }

    /// OIDC Core §3.1.2.1 `ui_locales` (space-separated, by preference) wins; then the
    /// browser's `Accept-Language` (RFC 9110 §12.5.4, by q-value); then Dutch.
    pub fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>) -> Self {
        if let Some(found) = ui_locales.and_then(|v| v.split(' ').find_map(Self::from_tag)) {
            return found;
        }
        let mut ranked: Vec<(f32, Locale)> = accept_language
            .unwrap_or("")
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';');
                let locale = Self::from_tag(parts.next()?)?;
                let q =
                    parts.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
                (q > 0.0).then_some((q, locale))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked.first().map(|(_, l)| *l).unwrap_or_default()
    }
}

pub struct Templates {
    tera: Tera,
    texts: HashMap<Locale, HashMap<String, String>>,
}

impl Templates {
    /// Loads `<dir>/templates/**/*.html` and `<dir>/locales/{nl,en}.toml`; fails at start, not per request.
    pub fn load(dir: &Path) -> Result<Self, UiError> {
        let pattern = dir.join("templates").join("**").join("*.html");
        let tera = Tera::new(&pattern.to_string_lossy())?;
        let mut texts = HashMap::new();
        for locale in [Locale::Nl, Locale::En] {
            let path = dir.join("locales").join(format!("{}.toml", locale.code()));
            let raw = std::fs::read_to_string(&path)
                .map_err(|e| UiError::Locale(path.display().to_string(), e.to_string()))?;
            let map: HashMap<String, String> =
                toml::from_str(&raw).map_err(|e| UiError::Locale(path.display().to_string(), e.to_string()))?;
            texts.insert(locale, map);
        }
        let dutch_keys: Vec<&String> = texts[&Locale::Nl].keys().collect();
        if let Some(missing) = dutch_keys.iter().find(|k| !texts[&Locale::En].contains_key(k.as_str())) {
            return Err(UiError::Locale("en".into(), format!("missing text {missing}")));
        }
        Ok(Self { tera, texts })
    }

    /// A translated text, for the few places outside templates (e.g. error pages' titles).
    pub fn text(&self, locale: Locale, key: &str) -> String {
        self.texts.get(&locale).and_then(|m| m.get(key)).cloned().unwrap_or_else(|| key.to_string())
    }

    /// Renders `<page>.html` with the page's typed context plus `t` (texts) and `lang`.
    pub fn render(&self, page: &str, locale: Locale, context: &impl Serialize) -> Result<String, tera::Error> {
        let mut ctx = Context::from_serialize(context)?;
        ctx.insert("t", &self.texts[&locale]);
        ctx.insert("lang", locale.code());
        self.tera.render(&format!("{page}.html"), &ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_choice() {
        assert_eq!(Locale::negotiate(None, None), Locale::Nl);
        assert_eq!(Locale::negotiate(Some("fr en-GB"), Some("nl")), Locale::En);
        assert_eq!(Locale::negotiate(None, Some("de, en;q=0.8, nl;q=0.9")), Locale::Nl);
        assert_eq!(Locale::negotiate(None, Some("en-US,en;q=0.9")), Locale::En);
        assert_eq!(Locale::negotiate(None, Some("fr")), Locale::Nl);
    }
}
