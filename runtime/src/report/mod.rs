//! Reports for people: the analyses' results as text, in the reader's language. A reporter
//! formats what an analysis computed and computes nothing itself; the same text is what the
//! command line prints, what a function answers and what a topic sends.

pub mod change_summary;
pub mod incident;
pub mod insights;
pub mod leftovers;

use serde::{Deserialize, Serialize};

/// The language of reports and of the model's answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Ja,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::En, Language::Ja];

    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Ja => "ja",
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Language {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Language::ALL.into_iter().find(|l| l.as_str() == s).ok_or_else(|| format!("language `{s}` is not en or ja"))
    }
}
