//! What a server tells about its API versions before any SOAP call:
//! `/sdk/vimServiceVersions.xml` (the versions of `urn:vim25` it speaks) and
//! `/sdk/vimService.wsdl` (an old server without that list still serves a WSDL that
//! imports `urn:vim25`). Pure parsing of bodies fetched elsewhere; malformed XML
//! reads as far as it is well-formed.
//!
//! ```
//! use vim25_core::service_versions::{listed_versions, negotiate};
//! use vim25_core::Version;
//!
//! let xml = br#"<namespaces version="1.0"><namespace><name>urn:vim25</name>
//!     <version>8.0.3.0</version><priorVersions><version>8.0.2.0</version>
//!     </priorVersions></namespace></namespaces>"#;
//! assert_eq!(listed_versions(xml), ["8.0.3.0", "8.0.2.0"]);
//! assert_eq!(negotiate(xml, Version::LATEST), Some(Version::V8_0_3_0));
//! assert_eq!(negotiate(xml, Version::V8_0_2_0), Some(Version::V8_0_2_0));
//! assert_eq!(negotiate(b"<html/>", Version::LATEST), None);
//! ```

use crate::Version;
use quick_xml::events::Event;

/// The `urn:vim25` versions a `vimServiceVersions.xml` lists (current and prior),
/// as written (trimmed), known to this client or not; those of other namespaces are
/// skipped.
pub fn listed_versions(xml: &[u8]) -> Vec<String> {
    let mut r = quick_xml::Reader::from_reader(xml);
    let mut out = Vec::new();
    let mut ns_is_vim25 = false;
    let mut text = String::new();
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) => {
                if e.local_name().as_ref() == b"namespace" {
                    ns_is_vim25 = false;
                }
                text.clear();
            }
            Ok(Event::Text(t)) => text.push_str(&String::from_utf8_lossy(&t)),
            Ok(Event::End(e)) => {
                match e.local_name().as_ref() {
                    b"name" => ns_is_vim25 = text.trim() == "urn:vim25",
                    b"version" if ns_is_vim25 => out.push(text.trim().to_string()),
                    _ => {}
                }
                text.clear();
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

/// The version to speak with a server whose `vimServiceVersions.xml` is `xml`: the
/// highest listed version this client knows, at most `cap`; `cap` when the server
/// lists only versions above it. `None` when no known version is listed.
pub fn negotiate(xml: &[u8], cap: Version) -> Option<Version> {
    let listed: Vec<Version> = listed_versions(xml)
        .iter()
        .filter_map(|v| Version::parse(v))
        .collect();
    if listed.is_empty() {
        return None;
    }
    Some(
        listed
            .iter()
            .copied()
            .filter(|v| *v <= cap)
            .max()
            .unwrap_or(cap),
    )
}

/// Whether a body is a WSDL document that imports the `urn:vim25` namespace (what
/// `vimService.wsdl` is).
pub fn is_vim25_wsdl(xml: &[u8]) -> bool {
    let mut r = quick_xml::Reader::from_reader(xml);
    let mut definitions = false;
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                if e.local_name().as_ref() == b"definitions" {
                    definitions = true;
                }
                let names_vim25 = e.attributes().flatten().any(|a| {
                    (a.key.local_name().as_ref() == b"namespace"
                        || a.key.local_name().as_ref() == b"targetNamespace")
                        && a.value.as_ref().starts_with(b"urn:vim25")
                });
                if definitions && names_vim25 {
                    return true;
                }
            }
            Ok(Event::Eof) | Err(_) => return false,
            _ => {}
        }
    }
}
