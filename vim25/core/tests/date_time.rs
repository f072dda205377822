//! `vim25_core::date_time`: xsd:dateTime text to `SystemTime` and back.

use vim25_core::date_time::{format, parse};

#[test]
fn text_and_times_round_trip() {
    for (text, canonical) in [
        ("2026-11-23T12:00:00Z", "2026-11-23T12:00:00Z"),
        ("2026-11-23T12:00:00.123Z", "2026-11-23T12:00:00.123Z"),
        ("2026-11-23T13:00:00+01:00", "2026-11-23T12:00:00Z"),
        ("1969-12-31T23:59:59.75Z", "1969-12-31T23:59:59.75Z"),
        ("2024-02-29T23:59:60Z", "2024-03-01T00:00:00Z"),
        ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"),
        (
            "9999-12-31T23:59:59.999999999Z",
            "9999-12-31T23:59:59.999999999Z",
        ),
        (
            "2026-01-01 00:00:00.1234567891z",
            "2026-01-01T00:00:00.123456789Z",
        ),
    ] {
        let t = parse(text).unwrap_or_else(|| panic!("{text}"));
        assert_eq!(format(t).as_deref(), Some(canonical), "{text}");
        assert_eq!(parse(canonical), Some(t));
    }
    // Outside four-digit years: parsed, but not writable.
    assert_eq!(format(parse("0000-01-01T00:00:00+00:01").unwrap()), None);
    assert_eq!(format(parse("9999-12-31T23:59:60Z").unwrap()), None);
    for bad in [
        "2026-02-30T00:00:00Z",
        "2026-11-23T12:00:00.Z",
        "2026-11-23",
        "x",
    ] {
        assert_eq!(parse(bad), None, "{bad}");
    }
}
