//! The one place records become bytes and back.
//!
//! Every stored value starts with a format byte so a record layout can evolve: a new layout gets a
//! new byte and `decode` keeps reading the old ones. postcard is compact and not self-describing,
//! which is exactly why the version byte is needed.

use serde::{Serialize, de::DeserializeOwned};

use super::error::{Error, Failure};

/// Layout of every record written by this build.
pub(super) const FORMAT_V1: u8 = 1;

pub(super) fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, Error> {
    let out = vec![FORMAT_V1];
    postcard::to_extend(record, out)
        .map_err(|e| Error::Failed(Failure::Corrupt(format!("encode: {e}"))))
}

pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    match bytes.split_first() {
        Some((&FORMAT_V1, body)) => postcard::from_bytes(body)
            .map_err(|e| Error::Failed(Failure::Corrupt(format!("decode: {e}")))),
        Some((v, _)) => Err(Error::Failed(Failure::Corrupt(format!("unknown record format {v}")))),
        None => Err(Error::Failed(Failure::Corrupt("empty record".into()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct R {
        a: u32,
        b: Option<String>,
    }

    #[test]
    fn round_trip_and_rejects_unknown_format() {
        let r = R { a: 7, b: Some("x".into()) };
        let bytes = encode(&r).unwrap();
        assert_eq!(bytes[0], FORMAT_V1);
        assert_eq!(decode::<R>(&bytes).unwrap(), r);
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert!(matches!(decode::<R>(&bad), Err(Error::Failed(Failure::Corrupt(_)))));
        assert!(decode::<R>(&[]).is_err());
        assert!(decode::<R>(&[FORMAT_V1, 0xff, 0xff]).is_err());
    }
}
