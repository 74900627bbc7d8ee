//! Engine errors become JS errors whose `code` is the engine's Node-style code.

use napi::Error;
use rhttps_engine::EngineError;

pub type JsResult<T> = napi::Result<T, String>;

pub fn to_js(err: EngineError) -> Error<String> {
    Error::new(err.code().to_string(), err.to_string())
}

pub fn invalid_arg(message: impl Into<String>) -> Error<String> {
    Error::new("ERR_INVALID_ARG_VALUE".to_string(), message.into())
}
