//! Any bytes as a SOAP response: the typed response decoder, the fault path and the
//! `anyType` decoder must return (Ok or a DecodeError), never panic; whatever decodes
//! must encode to XML that decodes again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vim25_core::soap::{decode_returnval, RawResponse, Response};
use vim25_core::types::RetrieveResult;
use vim25_core::xml::{decode_element, encode_element};
use vim25_core::types::{AnyValue};
use vim25_core::Version;

fuzz_target!(|data: &[u8]| {
    let _ = decode_returnval::<RetrieveResult>("RetrievePropertiesEx", data);
    let resp = Response::from_raw(
        "PowerOnVM_Task",
        RawResponse {
            status: 500,
            body: data.to_vec(),
        },
    );
    let _ = resp.returnval_unit();
    if let Ok(v) = decode_element::<AnyValue>(data) {
        let xml = encode_element("v", &v, Version::LATEST);
        if let Err(e) = decode_element::<AnyValue>(xml.as_bytes()) {
            panic!("encoder output does not decode: {e}\n{xml}");
        }
    }
});
