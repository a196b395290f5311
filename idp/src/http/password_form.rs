//! What the new-password forms (activation, reset) show: the organisation's rules as a list the
//! page's script ticks, and the server's verdict as sentences that say what to fix.

use serde::Serialize;

use crate::activation::account::Problems;
use crate::app::AppState;
use crate::auth::password_rules::PasswordRules;
use crate::ui::Locale;

#[derive(Serialize)]
pub struct RuleLine {
    pub name: &'static str,
    pub text: String,
}

fn fill(text: String, rules: &PasswordRules) -> String {
    text.replace("{min}", &rules.min_length.to_string())
        .replace("{max}", &rules.max_length.to_string())
        .replace("{specials}", rules.required_specials.as_deref().unwrap_or(""))
}

pub fn rule_lines(state: &AppState, locale: Locale, rules: &PasswordRules) -> Vec<RuleLine> {
    rules
        .rules()
        .into_iter()
        .map(|rule| RuleLine {
            name: rule.name(),
            text: fill(state.templates.text(locale, &format!("rule_{}", rule.name())), rules),
        })
        .collect()
}

/// One sentence per broken rule (and for differing passwords).
pub fn password_errors(state: &AppState, locale: Locale, rules: &PasswordRules, problems: &Problems) -> Vec<String> {
    let mut texts: Vec<String> = problems
        .password
        .iter()
        .map(|rule| fill(state.templates.text(locale, &format!("rule_failed_{}", rule.name())), rules))
        .collect();
    if problems.mismatch {
        texts.push(state.templates.text(locale, "password_mismatch"));
    }
    texts
}

/// The rules for the page's script (the server checks them again).
pub fn rules_json(rules: &PasswordRules) -> String {
    serde_json::to_string(rules).unwrap_or_default()
}
