//! The most common passwords, refused at registration and on every password change: they are
//! the first ones any attacker tries. `common_passwords.txt` holds the 10,000 most frequent
//! passwords of Mark Burnett's public-domain corpus of ten million leaked passwords, most
//! frequent first (the same ranking zxcvbn's `passwords` list uses). A password counts as
//! common when it is, as a whole, one of them, letter case ignored as attackers ignore it.

use crate::domain::Password;

/// One password per line, most frequent first, all lower case.
const COMMON: &str = include_str!("common_passwords.txt");
/// No password in the list is longer; longer ones are not looked up at all.
const LONGEST_COMMON: usize = 18;

/// A scan of the embedded list: about as long as a millisecond's fraction, against the
/// quarter second of hashing that follows it, and no memory held between calls.
pub fn is_common(password: &Password) -> bool {
    let Ok(text) = std::str::from_utf8(password.as_bytes()) else {
        return false;
    };
    if text.len() > LONGEST_COMMON {
        return false;
    }
    let lowered = text.to_lowercase();
    COMMON.lines().any(|common| common == lowered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Parse;

    fn common(text: &str) -> bool {
        is_common(&Password::parse(text).expect("valid password"))
    }

    #[test]
    fn the_most_common_passwords_are_caught_in_any_case() {
        for text in [
            "password",
            "12345678",
            "iloveyou",
            "PASSWORD",
            "baseball",
            "football1",
            "qwertyuiop",
        ] {
            assert!(common(text), "{text} should be common");
        }
    }

    #[test]
    fn the_list_holds_ten_thousand_distinct_lower_case_passwords_within_the_length_bound() {
        let all: Vec<&str> = COMMON.lines().collect();
        assert_eq!(all.len(), 10_000);
        let distinct: std::collections::HashSet<&&str> = all.iter().collect();
        assert_eq!(distinct.len(), all.len());
        assert!(all.iter().all(|p| *p == p.to_lowercase()));
        assert_eq!(all.iter().map(|p| p.len()).max(), Some(LONGEST_COMMON));
        let last_long_enough = all.iter().rev().find(|p| p.len() >= 8).expect("one");
        assert!(common(last_long_enough), "the lowest ranked ones count too");
    }

    #[test]
    fn ordinary_passwords_pass() {
        for text in [
            "correct horse battery",
            "purple-elephant-42",
            "Tr0ub4dor&3x",
            &"a".repeat(1024),
        ] {
            assert!(!common(text), "{text} is not a common password");
        }
    }
}
