//! What `Debug` and `Display` never show: a response body (it may hold session keys
//! and tickets) and the session key vcsim puts in session-scoped object ids.

use vim25_core::soap::{RawResponse, Response};
use vim25_core::types::ManagedObjectReference;

#[test]
fn response_debug_never_shows_the_body() {
    let body = b"<LoginResponse><returnval><key>52b1-session-key</key></returnval></LoginResponse>";
    let raw = RawResponse {
        status: 200,
        body: body.to_vec(),
    };
    let dbg = format!("{raw:?}");
    assert_eq!(
        dbg,
        format!("RawResponse {{ status: 200, body_len: {} }}", body.len())
    );
    let response = Response::from_raw("Login", raw);
    let dbg = format!("{response:#?}");
    assert!(dbg.contains("Login") && dbg.contains("200"), "{dbg}");
    assert!(!dbg.contains("52b1-session-key"), "{dbg}");
}

#[test]
fn session_keys_in_object_ids_are_not_printed() {
    let view = ManagedObjectReference::new("ContainerView", "session[310cf5b4-c155]d97b1559");
    assert_eq!(view.to_string(), "ContainerView:session[***]d97b1559");
    let dbg = format!("{view:?}");
    assert!(!dbg.contains("310cf5b4"), "{dbg}");
    assert!(dbg.contains("d97b1559"), "{dbg}");
    let vm = ManagedObjectReference::new("VirtualMachine", "vm-42");
    assert_eq!(vm.to_string(), "VirtualMachine:vm-42");
    assert_eq!(
        format!("{vm:?}"),
        r#"ManagedObjectReference { type_: "VirtualMachine", value: "vm-42" }"#
    );
}
