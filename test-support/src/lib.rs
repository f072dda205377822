//! Starts govmomi's vSphere simulator for tests.
