//! Binary encoding with bincode 2 (through serde), shared by every type that
//! Karma persists.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

pub(crate) fn to_bincode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| Error::Codec(e.to_string()))
}

/// Appends a value's bincode bytes to `out`.
pub(crate) fn append_bincode<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    bincode::serde::encode_into_std_write(value, out, config()).map(drop).map_err(|e| Error::Codec(e.to_string()))
}

pub(crate) fn from_bincode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let (value, read) = bincode::serde::decode_from_slice(bytes, config()).map_err(|e| Error::Codec(e.to_string()))?;
    if read != bytes.len() {
        return Err(Error::Codec(format!("{} trailing bytes after the encoded value", bytes.len() - read)));
    }
    Ok(value)
}
