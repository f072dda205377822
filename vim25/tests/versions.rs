//! Version negotiation's effect on encoding: nothing the negotiated version does not
//! know is sent.

use vim25::soap::RequestWriter;
use vim25::types::{ManagedObjectReference, VirtualMachineGuestOsIdentifier};
use vim25::Version;

#[test]
fn enum_values_newer_than_the_server_are_refused() {
    let this = ManagedObjectReference::new("VirtualMachine", "vm-1");
    let newer = VirtualMachineGuestOsIdentifier::Miraclelinux64Guest;
    assert_eq!(newer.since(), Some(Version::V9_0_0_0));

    let mut e = RequestWriter::new("Probe", &this, Version::V6_5);
    e.param("guest", &newer);
    let err = e.finish().unwrap_err();
    assert!(matches!(err, vim25::Error::NotSupported(_)), "{err:?}");
    let err = err.to_string();
    assert!(
        err.contains("miraclelinux_64Guest") && err.contains("9.0.0.0"),
        "{err}"
    );

    let mut e = RequestWriter::new("Probe", &this, Version::V9_0_0_0);
    e.param("guest", &newer);
    assert!(e.finish().unwrap().body.contains("miraclelinux_64Guest"));

    // Values the old server knows go through.
    let mut e = RequestWriter::new("Probe", &this, Version::V6_5);
    e.param("guest", &VirtualMachineGuestOsIdentifier::OtherGuest);
    e.finish().unwrap();
}

#[test]
fn unknown_enum_values_are_sent_as_they_came() {
    // A value this client does not know came from the server: it knows it.
    let this = ManagedObjectReference::new("VirtualMachine", "vm-1");
    let v = VirtualMachineGuestOsIdentifier::from_wire("futureOs64Guest");
    let mut e = RequestWriter::new("Probe", &this, Version::V6_5);
    e.param("guest", &v);
    assert!(e
        .finish()
        .unwrap()
        .body
        .contains("<guest>futureOs64Guest</guest>"));
}
