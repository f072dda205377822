//! Image references as Docker spells them (`hello-world`, `hello-world:latest`,
//! `docker.io/library/hello-world:1`, `registry:5000/team/app:v2`), kept in
//! Docker's familiar form, and the RFC 3339 times of image configs.

use vic_config::types::Timestamp;

/// `reference` as a `name:tag` in Docker's familiar form: `latest` when no tag
/// is given, `docker.io/` and `library/` left out as the docker CLI prints them.
/// Why it is not a tag reference otherwise.
pub(super) fn parse_tag(reference: &str) -> Result<String, String> {
    if reference.is_empty() {
        return Err("an empty reference".into());
    }
    if reference.contains('@') {
        return Err("digest references (name@sha256:…) are not supported".into());
    }
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match reference[last_slash..].rfind(':') {
        Some(i) => (
            &reference[..last_slash + i],
            &reference[last_slash + i + 1..],
        ),
        None => (reference, "latest"),
    };
    check_tag(tag)?;
    let mut components: Vec<&str> = name.split('/').collect();
    let domain = match components.first() {
        Some(first)
            if components.len() > 1
                && (first.contains('.') || first.contains(':') || *first == "localhost") =>
        {
            check_domain(first)?;
            Some(components.remove(0))
        }
        _ => None,
    };
    for c in &components {
        check_component(c)?;
    }
    if name.len() > 255 {
        return Err("the repository name is longer than 255 characters".into());
    }
    if domain.is_none() && components.len() == 1 && super::archive::is_full_hex(components[0]) {
        return Err("a 64-digit hex string cannot be a repository name".into());
    }
    let path = components.join("/");
    let familiar = match domain {
        None | Some("docker.io" | "index.docker.io") => match path.strip_prefix("library/") {
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => path,
        },
        Some(domain) => format!("{domain}/{path}"),
    };
    Ok(format!("{familiar}:{tag}"))
}

/// A tag: a word character, then up to 127 word characters, `.` or `-`.
fn check_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = tag.len() <= 128
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("{tag:?} is not a valid tag"))
    }
}

/// A registry host, with an optional port.
fn check_domain(domain: &str) -> Result<(), String> {
    let (host, port) = match domain.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (domain, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(format!("{domain:?} is not a valid registry host"))
    }
}

/// A path component: lower-case letters and digits, separated by one `.`, one or
/// two `_`, or any number of `-`.
fn check_component(c: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "repository name component {c:?} must be lower-case letters and digits \
             separated by '.', '_', '__' or dashes"
        ))
    };
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return bad();
    }
    let mut run = String::new();
    for &b in bytes {
        if alnum(b) {
            let separator_ok = run.is_empty()
                || run == "."
                || run == "_"
                || run == "__"
                || run.bytes().all(|r| r == b'-');
            if !separator_ok {
                return bad();
            }
            run.clear();
        } else if matches!(b, b'.' | b'_' | b'-') {
            run.push(b as char);
        } else {
            return bad();
        }
    }
    Ok(())
}

/// Seconds since the Unix epoch of an RFC 3339 time (`2024-01-01T00:00:00Z`,
/// `2023-05-02T16:49:27.187552071+02:00`); fractions are dropped.
pub(super) fn parse_rfc3339(s: &str) -> Option<i64> {
    // Rearranged into the Go form `vic_config` reads (date, time, ±HHMM, zone),
    // whose parser checks the calendar.
    let (date, rest) = s.split_once(['T', 't'])?;
    let (time, offset) = match rest.strip_suffix(['Z', 'z']) {
        Some(time) => (time, "+0000".to_string()),
        None => {
            let (time, offset) = rest.split_at(rest.rfind(['+', '-'])?);
            let (hours, minutes) = offset[1..].split_once(':')?;
            if hours.len() != 2 || minutes.len() != 2 {
                return None;
            }
            (time, format!("{}{hours}{minutes}", &offset[..1]))
        }
    };
    if date.len() != 10 || time.len() < 8 {
        return None;
    }
    let go_time = format!("{date} {time} {offset} UTC");
    go_time.parse::<Timestamp>().ok().map(|t| t.unix_seconds)
}

/// `secs` since the Unix epoch as RFC 3339 in UTC (`2024-01-01T00:00:00Z`).
pub(crate) fn format_rfc3339(secs: i64) -> String {
    // `2024-01-01 00:00:00 +0000 UTC`: the date and the time are what RFC 3339 needs.
    let go_time = Timestamp::from_unix(secs, 0).to_string();
    let mut parts = go_time.split(' ');
    match (parts.next(), parts.next()) {
        (Some(date), Some(time)) => format!("{date}T{time}Z"),
        _ => go_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(parse_tag("hello-world").unwrap(), "hello-world:latest");
        assert_eq!(parse_tag("hello-world:1.0").unwrap(), "hello-world:1.0");
        assert_eq!(
            parse_tag("docker.io/library/hello-world:x").unwrap(),
            "hello-world:x"
        );
        assert_eq!(parse_tag("docker.io/me/app").unwrap(), "me/app:latest");
        assert_eq!(
            parse_tag("localhost:5000/team/app").unwrap(),
            "localhost:5000/team/app:latest"
        );
        assert_eq!(parse_tag("a__b-c.d--e").unwrap(), "a__b-c.d--e:latest");
        for bad in [
            "",
            "Hello",
            "a:",
            "a:-x",
            "a@sha256:00",
            "a..b",
            "a___b",
            "-a",
            "a/",
            "a b",
        ] {
            assert!(parse_tag(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_tag(&"f".repeat(64)).is_err());
    }

    #[test]
    fn times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-01-01T00:00:00Z"), Some(1_704_067_200));
        assert_eq!(
            parse_rfc3339("2023-05-02T16:49:27.18755207Z"),
            Some(1_683_046_167)
        );
        assert_eq!(
            parse_rfc3339("2024-01-01T02:00:00+02:00"),
            Some(1_704_067_200)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00-00:30"),
            Some(1_709_166_600)
        );
        for bad in [
            "",
            "2024-01-01",
            "2024-13-01T00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "2023-02-29T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
        for secs in [0, 1_704_067_200, 951_782_400, 4_107_542_400, -86_400] {
            assert_eq!(parse_rfc3339(&format_rfc3339(secs)), Some(secs));
        }
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
