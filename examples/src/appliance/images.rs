//! Image handling of `vic-appliance` (being written).
