//! `vic-appliance`: the Docker Engine API of a VCH on the port layer (being written).

pub mod images;
