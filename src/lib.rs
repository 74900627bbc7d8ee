//! napi glue: the exports the JS layer (`lib/`) builds on. Everything here converts between
//! JS values and the engine's types; the engine itself lives in `engine/`.

#![deny(clippy::all)]

mod errors;
mod lent;
mod native_server;
mod node_names;
mod tools;
mod wake;
