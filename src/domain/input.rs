//! Inputs validated at the edge (names, emails, passwords, titles, message bodies, emote names,
//! reactions, image types, pages), so that past the edge every value is known to follow the
//! contract's rules. Each is made only by `Parse` (or its own constructor) and says why not.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// Why an input was refused; the edge adds which field it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

/// A value that is parsed from a string field of a request body.
pub trait Parse: Sized {
    fn parse(raw: &str) -> Result<Self, Invalid>;
}

/// A display name: 1–100 characters after trimming, in Unicode NFC, with no control
/// characters and no invisible formatting characters (see `is_invisible_format`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form the case-insensitive user search compares against.
    pub fn folded(&self) -> String {
        fold_case(&self.0)
    }
}

impl Parse for Name {
    fn parse(raw: &str) -> Result<Name, Invalid> {
        let name = nfc(raw.trim());
        let length = name.chars().count();
        if length == 0 {
            return Err(Invalid("must not be empty"));
        }
        if length > 100 {
            return Err(Invalid("must be at most 100 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(Invalid("must not contain control characters"));
        }
        if name.chars().any(is_invisible_format) {
            return Err(Invalid(
                "must not contain invisible formatting characters such as direction overrides",
            ));
        }
        Ok(Name(name))
    }
}

/// Unicode NFC: the one form for text that can be typed in several (`é` as one character, or
/// as `e` and a combining accent), so that both are the same name or the same account.
pub fn nfc(text: &str) -> String {
    text.nfc().collect()
}

/// Invisible characters that change how the text around them is shown: the bidirectional
/// controls (which can make `Ada\u{202E}txt.exe` show as `Adaexe.txt`), zero-width spaces and
/// joiners of words, the byte order mark, line and paragraph separators, the soft hyphen,
/// the deprecated format characters and the interlinear annotation marks. A name with one
/// could pass for another. The zero-width joiner and non-joiner stay allowed: emoji
/// sequences and several scripts need them.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{061C}'
        | '\u{200B}'
        | '\u{200E}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// Lower-cases in every script (`Émile` → `émile`), in NFC whatever form the text came in,
/// for case-insensitive search.
pub fn fold_case(text: &str) -> String {
    nfc(&nfc(text).to_lowercase())
}

/// An e-mail address as the user typed it, in NFC; unique on its lower-cased form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form accounts are looked up by: addresses compare case-insensitively, after
    /// normalisation (lower-casing can leave NFC, so it is normalised again).
    pub fn lowered(&self) -> String {
        fold_case(&self.0)
    }

    /// Whether the address can be written into a mail header as it is. RFC 5322 gives the
    /// characters in `ADDRESS_SPECIALS` a meaning there: `a@b.org>,<c@d.org` would be two
    /// recipients to `sendmail -t`. Addresses that need quoting are rare enough to refuse.
    pub fn is_mailable(&self) -> bool {
        !self.0.contains(ADDRESS_SPECIALS)
    }
}

/// RFC 5322's specials, less `.` and `@`, which a plain address has.
const ADDRESS_SPECIALS: [char; 11] = ['(', ')', '<', '>', '[', ']', ':', ';', '\\', ',', '"'];

/// The email of a new account: an `Email` that can be written into a mail header as it is.
/// Only registration asks for it; accounts made before the rule still log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmail(pub Email);

impl Parse for NewEmail {
    fn parse(raw: &str) -> Result<NewEmail, Invalid> {
        let email = Email::parse(raw)?;
        if email.is_mailable() {
            Ok(NewEmail(email))
        } else {
            Err(Invalid("must not contain any of ( ) < > [ ] : ; \\ , \""))
        }
    }
}

impl Parse for Email {
    fn parse(raw: &str) -> Result<Email, Invalid> {
        let raw = &nfc(raw);
        if raw.len() > 254 {
            return Err(Invalid("must be at most 254 bytes"));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Invalid("must not contain whitespace"));
        }
        let mut parts = raw.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Invalid("must contain exactly one @"));
        };
        let domain_ok = domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.');
        if local.is_empty() || !domain_ok {
            return Err(Invalid("must look like name@example.org"));
        }
        Ok(Email(raw.to_owned()))
    }
}

/// A password: 8–1024 characters, every one of them significant. Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Parse for Password {
    fn parse(raw: &str) -> Result<Password, Invalid> {
        let length = raw.chars().count();
        if length < 8 {
            return Err(Invalid("must be at least 8 characters"));
        }
        if length > 1024 {
            return Err(Invalid("must be at most 1024 characters"));
        }
        Ok(Password(raw.to_owned()))
    }
}

/// A group title: 1–100 characters after trimming, no control characters (the name rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Parse for Title {
    fn parse(raw: &str) -> Result<Title, Invalid> {
        Name::parse(raw).map(|name| Title(name.0))
    }
}

/// A message body: 1–4000 characters, not all whitespace. Kept exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    pub const MAX_CHARS: usize = 4000;

    /// No text: only for a message that carries attachments.
    pub fn empty() -> MessageBody {
        MessageBody(String::new())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Parse for MessageBody {
    fn parse(raw: &str) -> Result<MessageBody, Invalid> {
        if raw.trim().is_empty() {
            return Err(Invalid("must not be empty or only whitespace"));
        }
        if raw.chars().count() > MessageBody::MAX_CHARS {
            return Err(Invalid("must be at most 4000 characters"));
        }
        Ok(MessageBody(raw.to_owned()))
    }
}

/// A client's idempotency key for a message: 1–64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Parse for ClientId {
    fn parse(raw: &str) -> Result<ClientId, Invalid> {
        let length = raw.chars().count();
        if length == 0 || length > 64 {
            return Err(Invalid("must be 1 to 64 characters"));
        }
        if raw.chars().any(char::is_control) {
            return Err(Invalid("must not contain control characters"));
        }
        Ok(ClientId(raw.to_owned()))
    }
}

/// An invite code as typed or carried by a link: 1–128 characters after trimming (a code
/// pasted with a space around it still works). Whether it is a real code is the database's
/// to say.
#[derive(Clone, PartialEq, Eq)]
pub struct InviteCode(String);

impl InviteCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A code is a secret: `Debug` hides it.
impl fmt::Debug for InviteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InviteCode(<redacted>)")
    }
}

impl Parse for InviteCode {
    fn parse(raw: &str) -> Result<InviteCode, Invalid> {
        let code = raw.trim();
        if code.is_empty() || code.chars().count() > 128 {
            return Err(Invalid("must be 1 to 128 characters"));
        }
        Ok(InviteCode(code.to_owned()))
    }
}

/// A custom emote's name: `[a-z0-9_]{2,32}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmoteName(String);

impl EmoteName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Parse for EmoteName {
    fn parse(raw: &str) -> Result<EmoteName, Invalid> {
        let allowed = raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if allowed && (2..=32).contains(&raw.len()) {
            Ok(EmoteName(raw.to_owned()))
        } else {
            Err(Invalid("must be 2 to 32 of a-z, 0-9 and _"))
        }
    }
}

/// What a reaction shows: one emoji, or a custom emote written `:name:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaction {
    Emoji(String),
    Custom(EmoteName),
}

impl Reaction {
    /// The form stored and shown to clients: the emoji itself, or `:name:`.
    pub fn key(&self) -> String {
        match self {
            Reaction::Emoji(emoji) => emoji.clone(),
            Reaction::Custom(name) => format!(":{}:", name.0),
        }
    }
}

impl Parse for Reaction {
    fn parse(raw: &str) -> Result<Reaction, Invalid> {
        if let Some(name) = raw.strip_prefix(':').and_then(|r| r.strip_suffix(':')) {
            return EmoteName::parse(name).map(Reaction::Custom);
        }
        let one_grapheme =
            unicode_segmentation::UnicodeSegmentation::graphemes(raw, true).count() == 1;
        if one_grapheme && emojis::get(raw).is_some() {
            Ok(Reaction::Emoji(raw.to_owned()))
        } else {
            Err(Invalid("must be one emoji or a custom emote as :name:"))
        }
    }
}

/// The image formats emotes may have, told apart by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    Png,
    Gif,
    Webp,
}

impl ImageType {
    pub fn sniff(bytes: &[u8]) -> Option<ImageType> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageType::Png)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(ImageType::Gif)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(ImageType::Webp)
        } else {
            None
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ImageType::Png => "image/png",
            ImageType::Gif => "image/gif",
            ImageType::Webp => "image/webp",
        }
    }
}

/// A page request: `page` ≥ 1, `page_size` 1–100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub page_size: u32,
}

impl PageRequest {
    pub const DEFAULT_SIZE: u32 = 30;
    pub const MAX_SIZE: u32 = 100;
    /// Keeps `offset()` far from overflow; a page past the end is simply empty.
    pub const MAX_PAGE: u32 = 1_000_000_000;

    pub fn offset(self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.page_size)
    }

    pub fn total_pages(self, total_items: i64) -> i64 {
        (total_items + i64::from(self.page_size) - 1) / i64::from(self.page_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn names_are_trimmed_and_bounded_in_characters() {
        assert_eq!(Name::parse("  Ada  ").map(|n| n.0), Ok("Ada".into()));
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse(&"é".repeat(100)).is_ok());
        assert!(Name::parse(&"é".repeat(101)).is_err());
        assert!(Name::parse("a\u{7}b").is_err());
    }

    #[test]
    fn names_are_stored_in_nfc_and_counted_after_it() {
        let composed = Name::parse("  \u{c9}mile ").expect("composed");
        let decomposed = Name::parse("E\u{301}mile").expect("decomposed");
        assert_eq!(composed, decomposed);
        assert_eq!(decomposed.as_str(), "\u{c9}mile");
        // 100 characters once composed, 200 as typed.
        assert!(Name::parse(&"e\u{301}".repeat(100)).is_ok());
        assert!(Name::parse(&"e\u{301}".repeat(101)).is_err());
    }

    #[test]
    fn names_refuse_direction_overrides_and_other_invisible_formatting() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}', '\u{200B}', '\u{2060}',
            '\u{FEFF}', '\u{2028}', '\u{2029}', '\u{00AD}', '\u{206A}', '\u{FFF9}', '\u{85}',
            '\u{1B}',
        ] {
            let name = format!("Ada{c}txt.exe");
            assert!(Name::parse(&name).is_err(), "U+{:04X}", c as u32);
            assert!(Title::parse(&name).is_err(), "U+{:04X}", c as u32);
        }
        for fine in [
            "👨\u{200D}👩\u{200D}👧",
            "می\u{200C}خواهم",
            "❤\u{FE0F}",
            "עברית",
            "مرحبا",
        ] {
            assert!(Name::parse(fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn names_fold_case_in_every_script() {
        let name = Name::parse("Émile ΣΟΦΊΑ").map(|n| n.folded());
        assert_eq!(name, Ok("émile σοφία".into()));
    }

    #[test]
    fn emails_follow_the_contract_rules() {
        assert!(Email::parse("ada@example.org").is_ok());
        for bad in [
            "",
            "ada",
            "@example.org",
            "ada@example",
            "ada@@example.org",
            "a@b@example.org",
            "ada @example.org",
            "ada@.org",
            "ada@org.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let at_limit = format!("{}@example.org", "a".repeat(254 - 12));
        assert_eq!(at_limit.len(), 254);
        assert!(Email::parse(&at_limit).is_ok());
        assert!(Email::parse(&format!("a{at_limit}")).is_err());
    }

    #[test]
    fn new_emails_refuse_what_would_break_a_mail_header() {
        for bad in [
            "x>,<evil@c.org",
            "a,b@c.org",
            "<a@b.org",
            "a@b.org>",
            "\"a\"@b.org",
            "a(comment)@b.org",
            "a@[192.0.2.1].org",
            "a;b@c.org",
            "a:b@c.org",
            "a\\b@c.org",
        ] {
            assert!(Email::parse(bad).is_ok(), "{bad:?} is an Email");
            assert!(NewEmail::parse(bad).is_err(), "{bad:?} should be refused");
        }
        for good in [
            "ada@example.org",
            "a.b+tag@sub.example.org",
            "émile@example.fr",
        ] {
            assert!(NewEmail::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn emails_compare_lower_cased() {
        assert_eq!(
            Email::parse("Ada@Example.ORG").map(|e| e.lowered()),
            Ok("ada@example.org".into())
        );
    }

    #[test]
    fn emails_compare_after_normalisation() {
        let composed = Email::parse("\u{c9}mile@example.fr").expect("composed");
        let decomposed = Email::parse("E\u{301}mile@Example.fr").expect("decomposed");
        assert_eq!(composed.as_str(), "\u{c9}mile@example.fr");
        assert_eq!(decomposed.as_str(), "\u{c9}mile@Example.fr");
        assert_eq!(composed.lowered(), decomposed.lowered());
        assert_eq!(composed.lowered(), "\u{e9}mile@example.fr");
        // The angstrom sign becomes Å in NFC, then å.
        assert_eq!(
            Email::parse("\u{212B}@example.org").map(|e| e.lowered()),
            Ok("\u{e5}@example.org".into())
        );
    }

    #[test]
    fn passwords_count_characters_not_bytes() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse("ééééééé").is_err());
        assert!(Password::parse(&"é".repeat(1024)).is_ok());
        assert!(Password::parse(&"é".repeat(1025)).is_err());
        assert_eq!(
            format!("{:?}", Password("secret-pw".into())),
            "Password(<redacted>)"
        );
    }

    #[test]
    fn pagination_maths() {
        let page = PageRequest {
            page: 2,
            page_size: 30,
        };
        assert_eq!(page.offset(), 30);
        assert_eq!(page.total_pages(0), 0);
        assert_eq!(page.total_pages(1), 1);
        assert_eq!(page.total_pages(30), 1);
        assert_eq!(page.total_pages(31), 2);
        assert_eq!(page.total_pages(45), 2);
        let last = PageRequest {
            page: PageRequest::MAX_PAGE,
            page_size: 100,
        };
        assert_eq!(last.offset(), 99_999_999_900);
    }
    #[test]
    fn message_bodies_count_characters_and_refuse_blank_text() {
        assert!(MessageBody::parse("hi").is_ok());
        assert!(MessageBody::parse(" \n\t ").is_err());
        assert!(MessageBody::parse("").is_err());
        assert!(MessageBody::parse(&"é".repeat(4000)).is_ok());
        assert!(MessageBody::parse(&"é".repeat(4001)).is_err());
    }

    #[test]
    fn client_ids_are_1_to_64_characters() {
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse(&"é".repeat(64)).is_ok());
        assert!(ClientId::parse(&"é".repeat(65)).is_err());
    }

    #[test]
    fn emote_names_follow_the_pattern() {
        for good in ["ok", "party_parrot", "a1", &"z".repeat(32)] {
            assert!(EmoteName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "a",
            "Party",
            "with space",
            "dash-ed",
            "émote",
            &"z".repeat(33),
        ] {
            assert!(EmoteName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reactions_are_one_emoji_or_a_custom_emote() {
        for emoji in ["👍", "👍🏽", "❤️", "👨‍👩‍👧", "🇫🇷", "😀"] {
            assert_eq!(
                Reaction::parse(emoji),
                Ok(Reaction::Emoji(emoji.into())),
                "{emoji}"
            );
        }
        for bad in ["👍👍", "a", "ab", "", "👍a", ":", "::", ":x:", "1"] {
            assert!(Reaction::parse(bad).is_err(), "{bad:?}");
        }
        let custom = Reaction::parse(":party_parrot:").expect("custom");
        assert_eq!(custom.key(), ":party_parrot:");
    }

    #[test]
    fn images_are_told_apart_by_their_magic_bytes() {
        assert_eq!(
            ImageType::sniff(b"\x89PNG\r\n\x1a\nrest"),
            Some(ImageType::Png)
        );
        assert_eq!(ImageType::sniff(b"GIF89a..."), Some(ImageType::Gif));
        assert_eq!(
            ImageType::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(ImageType::Webp)
        );
        assert_eq!(ImageType::sniff(b"<svg></svg>"), None);
        assert_eq!(ImageType::sniff(b"RIFF\0\0\0\0WAVE"), None);
    }
}
