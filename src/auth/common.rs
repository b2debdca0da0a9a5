//! The most common passwords, refused at registration and on every password change: they are
//! the first ones any attacker tries. The ranking is zxcvbn's list of passwords seen in
//! breaches; a password counts as common when it is, as a whole, one of the top 10,000 of
//! that list (letter case ignored, as attackers ignore it too).

use zxcvbn::matching::patterns::MatchPattern;

use crate::domain::Password;

/// How far down the ranking a password still counts as common.
const TOP: usize = 10_000;
/// No password in the top list is longer; longer ones are not looked up at all, which also
/// keeps the check cheap for a 1,024-character password.
const LONGEST_COMMON: usize = 32;

pub fn is_common(password: &Password) -> bool {
    let Ok(text) = std::str::from_utf8(password.as_bytes()) else {
        return false;
    };
    if text.chars().count() > LONGEST_COMMON {
        return false;
    }
    let entropy = zxcvbn::zxcvbn(text, &[]);
    let [only] = entropy.sequence() else {
        return false;
    };
    match &only.pattern {
        MatchPattern::Dictionary(word) => {
            // zxcvbn does not export the dictionary type, only its Debug name.
            format!("{:?}", word.dictionary_name) == "Passwords"
                && !word.l33t
                && !word.reversed
                && word.rank <= TOP
                && only.i == 0
                && only.j + 1 == text.chars().count()
        }
        _ => false,
    }
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
