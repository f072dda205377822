//! `vim25_core::service_versions`: reading `vimServiceVersions.xml` and
//! recognising the vim25 WSDL.

use vim25_core::service_versions::{is_vim25_wsdl, listed_versions, negotiate};
use vim25_core::Version;

#[test]
fn versions_file_is_read() {
    let xml = br#"<namespaces version="1.0"><namespace><name>urn:vim25</name>
        <version>8.0.3.0</version><priorVersions><version>8.0.2.0</version>
        <version>6.5</version></priorVersions></namespace>
        <namespace><name>urn:vim2</name><version>2.0</version></namespace></namespaces>"#;
    assert_eq!(listed_versions(xml), vec!["8.0.3.0", "8.0.2.0", "6.5"]);
    assert_eq!(negotiate(xml, Version::V7_0_0_0), Some(Version::V6_5));
    assert_eq!(negotiate(xml, Version::V5_0), Some(Version::V5_0));
}

#[test]
fn vim25_wsdl_is_recognised() {
    let wsdl = br#"<?xml version="1.0"?><definitions targetNamespace="urn:vim25Service"
        xmlns="http://schemas.xmlsoap.org/wsdl/"><import location="vim.wsdl"
        namespace="urn:vim25"/><service name="VimService"/></definitions>"#;
    assert!(is_vim25_wsdl(wsdl));
    assert!(!is_vim25_wsdl(b"<html><body>It works</body></html>"));
    assert!(!is_vim25_wsdl(
        b"<definitions targetNamespace=\"urn:other\"/>"
    ));
    assert!(!is_vim25_wsdl(b"\xff\xfe<<<"));
}
