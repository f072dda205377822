//! `tether-sim`: a stand-in for the in-guest agent (being written).
