//! Container ids and generated names.

use std::io::Read;

/// 64 random hex digits.
pub fn random_id() -> String {
    let mut bytes = [0u8; 32];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if filled.is_err() {
        // No /dev/urandom (a broken chroot): time and pid still make ids unique per engine.
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        return crate::images::digest(seed.as_bytes())
            .trim_start_matches("sha256:")
            .to_owned();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const ADJECTIVES: &[&str] = &[
    "brave", "calm", "eager", "fond", "gentle", "happy", "jolly", "keen", "lucid", "merry",
    "nifty", "proud", "quirky", "sharp", "tender", "vivid", "witty", "zealous",
];
const NAMES: &[&str] = &[
    "babbage", "curie", "darwin", "euler", "fermat", "galois", "hopper", "kepler", "lovelace",
    "noether", "pascal", "ritchie", "shannon", "thompson", "turing", "wozniak",
];

/// A Docker-style `adjective_name` from the id's first bytes.
pub fn name_for(id: &str, attempt: usize) -> String {
    let n = usize::from_str_radix(id.get(..8).unwrap_or("0"), 16).unwrap_or(0) + attempt;
    let base = format!(
        "{}_{}",
        ADJECTIVES[n % ADJECTIVES.len()],
        NAMES[(n / ADJECTIVES.len()) % NAMES.len()]
    );
    if attempt == 0 {
        base
    } else {
        format!("{base}{attempt}")
    }
}

/// Whether `name` is a valid container name (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_and_differ() {
        let (a, b) = (random_id(), random_id());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn names_follow_dockers_rule() {
        assert!(valid_name("web_1.a-b"));
        assert!(!valid_name("_x"));
        assert!(!valid_name("a"));
        assert!(!valid_name("a/b"));
        assert!(valid_name(&name_for(&random_id(), 0)));
        assert_ne!(name_for("00000000", 0), name_for("00000000", 1));
    }
}
