//! The rhttps engine: listener, TLS, HTTP/1.1 connection serving, limits and timeouts.
//! It knows nothing of Node: it produces events into a flat buffer (`events`) and takes
//! commands per connection (`Server::write`, `end`, ...). The napi glue lives in the root crate.

pub mod chunked;
pub mod client_auth;
pub mod conn;
pub mod error;
pub mod event_queue;
pub mod events;
pub mod handshake;
pub mod hello;
pub mod http2;
pub mod keylog;
mod legacy_pem;
pub mod limits;
pub mod listener;
mod normalize;
mod offence;
pub mod pfx;
mod pipe;
pub mod request;
pub mod runtime;
mod scratch;
pub mod selfsigned;
pub mod server;
mod strict;
pub mod tickets;
pub mod tls;
pub mod tls_policy;
mod tls_stream;
mod wire;

pub use error::EngineError;
pub use listener::ListenOptions;
pub use server::Server;
