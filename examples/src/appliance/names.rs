//! Generated container names: an adjective and a scientist's surname joined by `_`
//! (`jolly_panini`), as docker users expect them.

use vic_portlayer::random_hex;

const ADJECTIVES: &[&str] = &[
    "agile", "amused", "bold", "brave", "bright", "calm", "careful", "cheerful", "clever",
    "cosmic", "curious", "daring", "eager", "earnest", "elated", "fearless", "festive", "focused",
    "friendly", "gallant", "gentle", "gifted", "glad", "graceful", "happy", "hardy", "honest",
    "hopeful", "humble", "jolly", "jovial", "keen", "kind", "lively", "loyal", "lucid", "merry",
    "mighty", "modest", "nimble", "noble", "patient", "peaceful", "plucky", "polite", "proud",
    "quick", "quiet", "radiant", "ready", "serene", "sharp", "sincere", "smart", "snappy",
    "steady", "sturdy", "sunny", "swift", "tender", "thrifty", "tidy", "upbeat", "valiant",
    "vivid", "warm", "wise", "witty", "zealous", "zen",
];

const SURNAMES: &[&str] = &[
    "agnesi",
    "archimedes",
    "babbage",
    "bohr",
    "boole",
    "cantor",
    "carson",
    "cavendish",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euclid",
    "euler",
    "faraday",
    "fermat",
    "fermi",
    "feynman",
    "franklin",
    "galileo",
    "gauss",
    "goodall",
    "hamilton",
    "hawking",
    "heisenberg",
    "hertz",
    "hilbert",
    "hopper",
    "hubble",
    "hypatia",
    "joule",
    "kepler",
    "knuth",
    "lamarr",
    "laplace",
    "leakey",
    "liskov",
    "lovelace",
    "maxwell",
    "meitner",
    "mendel",
    "mirzakhani",
    "newton",
    "nobel",
    "noether",
    "panini",
    "pascal",
    "pasteur",
    "planck",
    "poincare",
    "raman",
    "ramanujan",
    "ritchie",
    "sagan",
    "shannon",
    "somerville",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "volta",
    "wiles",
    "wing",
    "wozniak",
    "yalow",
];

/// A random name; `taken` says whether a name is in use (a digit is appended after
/// a few collisions, as docker does).
pub fn generate(taken: impl Fn(&str) -> bool) -> String {
    for attempt in 0..16u32 {
        let r = random_hex(8);
        let n = u64::from_str_radix(&r, 16).unwrap_or(u64::from(attempt));
        let adjective = ADJECTIVES[(n % ADJECTIVES.len() as u64) as usize];
        let surname = SURNAMES[((n >> 20) % SURNAMES.len() as u64) as usize];
        let mut name = format!("{adjective}_{surname}");
        if attempt >= 8 {
            name.push_str(&((n >> 40) % 10).to_string());
        }
        if !taken(&name) {
            return name;
        }
    }
    format!("container_{}", random_hex(12))
}

/// Whether `name` is a valid container name (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`, an
/// optional leading `/`).
pub fn is_valid(name: &str) -> bool {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    name.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_words_and_not_taken() {
        let n = generate(|_| false);
        let (a, s) = n.split_once('_').unwrap();
        assert!(ADJECTIVES.contains(&a) && SURNAMES.contains(&s), "{n}");
        let n = generate(|n| !n.ends_with(char::is_numeric));
        assert!(
            n.ends_with(char::is_numeric) || n.starts_with("container_"),
            "{n}"
        );
        assert!(is_valid(&n));
    }

    #[test]
    fn validity() {
        for ok in ["web", "/web", "a1", "x.y-z_1"] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in ["", "/", "a", "-x", "_x", "a b", "a/b", "a:b"] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
