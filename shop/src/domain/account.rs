//! The rules for what a customer types when registering: username, email, password. Pure functions
//! with the words shown on the form when a rule is broken; no I/O.

use unicode_normalization::UnicodeNormalization;

/// The rules as the registration form states them.
pub const USERNAME_RULES: &str =
    "3 to 32 characters: lower-case letters a–z, digits 0–9, and _ . - (capitals are lowered)";
pub const PASSWORD_RULES: &str = "At least 12 characters, or at least 8 if it is not a commonly \
    used password; at most 128";

/// Commonly used passwords (lower-case, one a line), refused when shorter than 12 characters.
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

pub const MIN_PASSWORD: usize = 8;
pub const LONG_PASSWORD: usize = 12;
pub const MAX_PASSWORD: usize = 128;

/// A valid username, lower-cased: unique case-insensitively (the database says whether it is free).
pub fn parse_username(text: &str) -> Result<String, &'static str> {
    let name = text.trim().to_lowercase();
    let len = name.chars().count();
    if !(3..=32).contains(&len) {
        return Err("Usernames are 3 to 32 characters long.");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err("Usernames may use only the letters a–z, digits 0–9, and _ . -");
    }
    Ok(name)
}

/// An email address as stored: trimmed, Unicode NFC, the domain lower-cased. Only the shape is
/// checked (one `@`, something on both sides, a dot in the domain); proof of ownership comes
/// with the email work.
pub fn parse_email(text: &str) -> Result<String, &'static str> {
    let bad = "Please enter an email address like name@example.com.";
    let text: String = text.trim().nfc().collect();
    if text.len() > 254 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad);
    }
    let (local, domain) = text.rsplit_once('@').ok_or(bad)?;
    if local.is_empty() || local.contains('@') || domain.is_empty() {
        return Err(bad);
    }
    let domain = domain.to_lowercase();
    if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
        return Err(bad);
    }
    Ok(format!("{local}@{domain}"))
}

/// Checks a new password against the stated rules (lengths in characters).
pub fn check_password(password: &str) -> Result<(), &'static str> {
    let len = password.chars().count();
    if len > MAX_PASSWORD {
        return Err("Passwords are at most 128 characters long.");
    }
    if len >= LONG_PASSWORD {
        return Ok(());
    }
    if len < MIN_PASSWORD {
        return Err("Passwords are at least 8 characters long (12 or more is better).");
    }
    let lowered = password.to_lowercase();
    if COMMON_PASSWORDS.lines().any(|p| p.trim() == lowered) {
        return Err(
            "That password is too common. Please choose another, or use 12 characters or more.",
        );
    }
    Ok(())
}

/// Usernames to try, in order, for an account made by a provider login: from the person's name,
/// else the email's local part, else `customer`, folded to the username alphabet (accents dropped,
/// spaces become dots), then the same with `-2` … `-9`, then with random numbers. Every candidate
/// passes [`parse_username`]; the database says which is free.
pub fn username_candidates(name: &str, email: &str) -> Vec<String> {
    let local = email.rsplit_once('@').map_or("", |(local, _)| local);
    let base = [name, local]
        .into_iter()
        .map(fold_username)
        .find(|b| b.len() >= 3)
        .unwrap_or_else(|| "customer".to_owned());
    let mut out = vec![base.clone()];
    out.extend((2..=9).map(|n| format!("{base}-{n}")));
    out.extend((0..5).map(|_| format!("{base}-{}", rand::random_range(100_000..1_000_000))));
    out
}

/// The username alphabet's version of `text`, at most 24 characters (room for a suffix).
fn fold_username(text: &str) -> String {
    let mut out = String::new();
    for c in text.nfkd() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if matches!(c, ' ' | '.' | '_' | '-')
            && !out.is_empty()
            && !out.ends_with(['.', '_', '-'])
        {
            out.push(if c == ' ' { '.' } else { c });
        }
        if out.len() >= 24 {
            break;
        }
    }
    out.trim_end_matches(['.', '_', '-']).to_owned()
}

/// Where to go after logging in: `next` when it is a path on this site, otherwise `/`. Refuses
/// `//host`, `/\host` (browsers treat both as another host), schemes, and control characters.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(parse_username(" Ann_B.c-1 "), Ok("ann_b.c-1".to_owned()));
        assert!(parse_username("ab").is_err());
        assert!(parse_username(&"a".repeat(33)).is_err());
        assert!(parse_username("<script>").is_err());
        assert!(parse_username("émile").is_err());
        assert!(parse_username("a b c").is_err());
    }

    #[test]
    fn emails_are_trimmed_nfc_and_domain_lowered() {
        assert_eq!(
            parse_email("  Ann@Example.COM "),
            Ok("Ann@example.com".to_owned())
        );
        // "e" + combining acute → "é"
        assert_eq!(
            parse_email("Rene\u{0301}@Caf\u{00C9}.test"),
            Ok("Ren\u{00E9}@caf\u{00E9}.test".to_owned())
        );
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@localhost",
            "a n@x.com",
            "a@b@c.com",
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(check_password("short").is_err());
        assert!(check_password("password1").is_err(), "common");
        assert!(check_password("Password1").is_err(), "common, any case");
        assert!(check_password("hat-rack-9").is_ok(), "8+ and not common");
        assert!(check_password("password1234").is_ok(), "12+ is enough");
        assert!(check_password(&"x".repeat(128)).is_ok());
        assert!(check_password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn usernames_from_providers() {
        let c = username_candidates("Émile Zola-Dupont", "ez@example.test");
        assert_eq!(c[0], "emile.zola-dupont");
        assert_eq!(c[1], "emile.zola-dupont-2");
        assert_eq!(
            username_candidates("李", "Ann.B+hats@example.test")[0],
            "ann.bhats"
        );
        assert_eq!(username_candidates("", "x@example.test")[0], "customer");
        assert_eq!(username_candidates("  --Al  ", "")[0], "customer");
        assert_eq!(
            username_candidates(&"Bartholomew ".repeat(9), "")[0],
            "bartholomew.bartholomew"
        );
    }

    proptest::proptest! {
        #[test]
        fn every_username_candidate_is_valid(name in "\\PC{0,60}", email in "\\PC{0,60}") {
            let candidates = username_candidates(&name, &email);
            proptest::prop_assert!(candidates.len() >= 10);
            for c in candidates {
                proptest::prop_assert_eq!(parse_username(&c), Ok(c.clone()));
            }
        }
    }

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next(Some("/basket?x=1")), "/basket?x=1");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "evil",
            "/\nx",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
