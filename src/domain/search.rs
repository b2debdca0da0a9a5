//! Message search, without SQL: a query as people type it, turned into an FTS5 expression
//! that cannot carry FTS5 syntax, and the snippet that shows where a message matched.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::input::{Invalid, Parse, nfc};

/// A search query: the words of what was typed, each matched as it is written, the last one
/// also as the start of a longer word ("conf" finds "conference"). At most `MAX_CHARS`
/// characters, and at least one letter or digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    terms: Vec<String>,
}

impl SearchQuery {
    pub const MAX_CHARS: usize = 200;

    /// The FTS5 expression: every term a quoted string (a `"` inside doubled), so `*`, `-`,
    /// `:`, `NEAR`, `AND` and parentheses are text, never operators; terms are ANDed, and the
    /// last one is a prefix. A term with punctuation inside ("e-mail") is a phrase of its
    /// words, as the tokenizer splits the messages it indexes.
    pub fn fts_expression(&self) -> String {
        let quoted: Vec<String> = self.terms.iter().map(|term| quote(term)).collect();
        format!("{}*", quoted.join(" "))
    }

    /// The word the last term ends with, as the index folds it, when that is certain without
    /// FTS5's tokenizer: for a last term of ASCII only, whose words are its runs of letters
    /// and digits, lower-cased. `None` for any other last term.
    pub fn last_prefix(&self) -> Option<String> {
        let (_, prefix) = self.last_term_split()?;
        Some(prefix.to_ascii_lowercase())
    }

    /// The FTS5 expression with the last term's prefix replaced by `completions`, the whole
    /// words of the index that start with it: `"a" AND ("b-cd" OR "b-ce")` for `a b-c` (FTS5
    /// needs the AND spelled out before a parenthesis). FTS5 reads
    /// whole words newest first and lazily, where a prefix is merged in full first. `None`
    /// when the query has no `last_prefix`, a completion is not a lower-case ASCII word
    /// starting with it, or another term might hold no word the tokenizer keeps (then only the
    /// prefix expression is certain to match the same: FTS5 drops an empty phrase from a list
    /// of terms, but an empty phrase in an explicit AND matches nothing, as for `🅿️ sta`).
    pub fn fts_expression_completed(&self, completions: &[String]) -> Option<String> {
        let (head, _) = self.last_term_split()?;
        let prefix = self.last_prefix()?;
        let (_, others) = self.terms.split_last()?;
        if !others
            .iter()
            .all(|term| term.chars().any(|c| c.is_ascii_alphanumeric()))
        {
            return None;
        }
        let fits = |word: &String| {
            word.starts_with(&prefix)
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        if completions.is_empty() || !completions.iter().all(fits) {
            return None;
        }
        let (_, whole) = self.terms.split_last()?;
        let alternatives: Vec<String> = completions
            .iter()
            .map(|word| quote(&format!("{head}{word}")))
            .collect();
        let mut parts: Vec<String> = whole.iter().map(|term| quote(term)).collect();
        parts.push(format!("({})", alternatives.join(" OR ")));
        Some(parts.join(" AND "))
    }

    /// The last term cut before its final word, and that word, when the term is ASCII.
    fn last_term_split(&self) -> Option<(&str, &str)> {
        let last = self.terms.last()?;
        if !last.is_ascii() {
            return None;
        }
        let end = last.rfind(|c: char| c.is_ascii_alphanumeric())? + 1;
        let start = last[..end]
            .rfind(|c: char| !c.is_ascii_alphanumeric())
            .map_or(0, |i| i + 1);
        Some((&last[..start], &last[start..end]))
    }

    /// The parts of a short excerpt of `body` around its first match, the words the query
    /// matches marked. Highlighting is for the eye: which messages match is FTS5's decision.
    pub fn snippet(&self, body: &str) -> Vec<SnippetPart> {
        let query_words: Vec<String> = self
            .terms
            .iter()
            .flat_map(|t| words(t))
            .map(|w| w.folded)
            .collect();
        let Some((prefix, whole)) = query_words.split_last() else {
            return Vec::new();
        };
        let chars: Vec<char> = body.chars().collect();
        let matches: Vec<(usize, usize)> = words(body)
            .into_iter()
            .filter(|w| whole.contains(&w.folded) || w.folded.starts_with(prefix.as_str()))
            .map(|w| (w.start, w.end))
            .collect();
        let (from, to) = window(chars.len(), matches.first().map_or(0, |m| m.0));
        let mut parts = Vec::new();
        if from > 0 {
            parts.push(SnippetPart::text(ELLIPSIS.to_owned()));
        }
        let mut at = from;
        for (start, end) in matches {
            let (start, end) = (start.max(from), end.min(to));
            if start >= end {
                continue;
            }
            if start > at {
                parts.push(SnippetPart::text(chars[at..start].iter().collect()));
            }
            parts.push(SnippetPart {
                text: chars[start..end].iter().collect(),
                matched: true,
            });
            at = end;
        }
        if to > at {
            parts.push(SnippetPart::text(chars[at..to].iter().collect()));
        }
        if to < chars.len() {
            parts.push(SnippetPart::text(ELLIPSIS.to_owned()));
        }
        merge_text(parts)
    }
}

impl Parse for SearchQuery {
    fn parse(raw: &str) -> Result<SearchQuery, Invalid> {
        if raw.chars().count() > SearchQuery::MAX_CHARS {
            return Err(Invalid("must be at most 200 characters"));
        }
        // Control characters part terms like spaces: a NUL inside a quoted FTS5 string would
        // end the query text early (SQLite reads it as a C string): "unterminated string".
        let terms: Vec<String> = nfc(raw)
            .split(|c: char| c.is_whitespace() || c.is_control())
            .filter(|term| !words(term).is_empty())
            .map(str::to_owned)
            .collect();
        if terms.is_empty() {
            return Err(Invalid("must contain a letter or a digit"));
        }
        Ok(SearchQuery { terms })
    }
}

/// A piece of a snippet: text, and whether it is a match to highlight. Clients render both as
/// text; the split is the highlighting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnippetPart {
    pub text: String,
    pub matched: bool,
}

impl SnippetPart {
    fn text(text: String) -> SnippetPart {
        SnippetPart {
            text,
            matched: false,
        }
    }
}

/// A term as an FTS5 string: in double quotes, a `"` inside doubled.
fn quote(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

const ELLIPSIS: &str = "…";
/// The characters of a snippet, and how many of them come before the first match.
const SNIPPET_CHARS: usize = 120;
const BEFORE_MATCH: usize = 40;

/// The character range `[from, to)` of a text of `len` characters that a snippet shows.
fn window(len: usize, first_match: usize) -> (usize, usize) {
    if len <= SNIPPET_CHARS {
        return (0, len);
    }
    let from = first_match
        .saturating_sub(BEFORE_MATCH)
        .min(len - SNIPPET_CHARS);
    (from, from + SNIPPET_CHARS)
}

/// Neighbouring plain parts (an ellipsis beside text) become one.
fn merge_text(parts: Vec<SnippetPart>) -> Vec<SnippetPart> {
    let mut merged: Vec<SnippetPart> = Vec::with_capacity(parts.len());
    for part in parts {
        match merged.last_mut() {
            Some(last) if !last.matched && !part.matched => last.text.push_str(&part.text),
            _ => merged.push(part),
        }
    }
    merged
}

/// A word of a text, as the index sees it: a run of letters, digits and combining marks
/// (unicode61's token characters), case and diacritics folded; `start..end` in characters.
struct Word {
    folded: String,
    start: usize,
    end: usize,
}

fn words(text: &str) -> Vec<Word> {
    let mut found = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, c) in text.chars().chain(std::iter::once(' ')).enumerate() {
        if c.is_alphanumeric() || is_combining_mark(c) {
            current.get_or_insert_with(|| (i, String::new())).1.push(c);
        } else if let Some((start, word)) = current.take() {
            let folded = fold(&word);
            if !folded.is_empty() {
                found.push(Word {
                    folded,
                    start,
                    end: i,
                });
            }
        }
    }
    found
}

/// Lower case without diacritics: "Crème" → "creme".
fn fold(word: &str) -> String {
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(raw: &str) -> SearchQuery {
        SearchQuery::parse(raw).expect("a valid query")
    }

    fn marked(parts: &[SnippetPart]) -> String {
        parts
            .iter()
            .map(|p| {
                if p.matched {
                    format!("[{}]", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }

    #[test]
    fn every_term_is_quoted_and_the_last_is_a_prefix() {
        assert_eq!(
            query("hello world").fts_expression(),
            "\"hello\" \"world\"*"
        );
        assert_eq!(
            query("a\"b NEAR -x c:d *").fts_expression(),
            "\"a\"\"b\" \"NEAR\" \"-x\" \"c:d\"*"
        );
    }

    #[test]
    fn the_last_prefix_is_known_for_an_ascii_last_term_only() {
        assert_eq!(query("hello Wor").last_prefix().as_deref(), Some("wor"));
        assert_eq!(query("e-Mai").last_prefix().as_deref(), Some("mai"));
        assert_eq!(query("x-").last_prefix().as_deref(), Some("x"));
        assert_eq!(query("café").last_prefix(), None);
        assert_eq!(query("naïve-x").last_prefix(), None);
    }

    #[test]
    fn a_completed_prefix_is_an_or_of_whole_words_in_its_phrase() {
        let words = |list: &[&str]| list.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            query("a\"b e-Mai").fts_expression_completed(&words(&["mail", "mailbox"])),
            Some("\"a\"\"b\" AND (\"e-mail\" OR \"e-mailbox\")".to_owned())
        );
        assert_eq!(
            query("conf").fts_expression_completed(&words(&["conf"])),
            Some("(\"conf\")".to_owned())
        );
        let q = query("conf");
        assert_eq!(q.fts_expression_completed(&[]), None);
        assert_eq!(q.fts_expression_completed(&words(&["cone"])), None);
        assert_eq!(q.fts_expression_completed(&words(&["confé"])), None);
        assert_eq!(q.fts_expression_completed(&words(&["Conf"])), None);
        assert_eq!(
            query("café").fts_expression_completed(&words(&["cafe"])),
            None
        );
        // Symbols that count as letters in Rust but part words for the tokenizer.
        assert_eq!(
            query("🅿️ sta").fts_expression_completed(&words(&["station"])),
            None
        );
        assert_eq!(
            query("hello Ⓐ wor").fts_expression_completed(&words(&["world"])),
            None
        );
    }

    #[test]
    fn control_characters_part_terms_and_never_reach_the_expression() {
        let q = query("caf\u{0}e\u{1}x\u{85}y");
        assert_eq!(q.fts_expression(), "\"caf\" \"e\" \"x\" \"y\"*");
    }

    #[test]
    fn queries_without_a_letter_or_digit_are_refused() {
        for raw in ["", "   ", "\"", "-- * :", "\u{301}"] {
            assert!(SearchQuery::parse(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn queries_are_at_most_200_characters() {
        assert!(SearchQuery::parse(&"é".repeat(200)).is_ok());
        assert!(SearchQuery::parse(&"é".repeat(201)).is_err());
    }

    #[test]
    fn snippets_mark_words_with_case_and_diacritics_folded_and_the_last_as_prefix() {
        let parts = query("cafe conf").snippet("The CAFÉ conference, café-au-lait conf.");
        assert_eq!(
            marked(&parts),
            "The [CAFÉ] [conference], [café]-au-lait [conf]."
        );
    }

    #[test]
    fn long_bodies_are_cut_around_the_first_match() {
        let body = format!("{} needle {}", "a ".repeat(100), "b ".repeat(100));
        let text = marked(&query("needle").snippet(&body));
        assert!(text.starts_with('…') && text.ends_with('…'), "{text}");
        assert!(text.contains("[needle]"));
        assert_eq!(text.chars().count(), SNIPPET_CHARS + 2 + 2);
    }
}
