//! Paths of the guest components, built for `wasm32-wasip2` by this
//! crate's build script. One `const` per guest (named after its directory
//! in `guests/`, upper-cased), and `foreach_guest!` to visit them all.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
