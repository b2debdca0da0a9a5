//! The values a route captured from its `{name}` path segments, as handlers read them. A
//! module of its own, so that handlers depend on it and never on the router that fills it in.

use crate::domain::Id;
use crate::error::ApiError;

/// Values captured from `{name}` segments of a route's pattern.
#[derive(Debug, Default)]
pub struct Params {
    values: Vec<(&'static str, String)>,
    /// The first parameter whose segment is not percent-encoded UTF-8.
    malformed: Option<&'static str>,
}

impl Params {
    /// A positive integer id; anything else cannot name a resource, so it is a 404.
    pub fn id<T: Id>(&self, name: &str) -> Result<T, ApiError> {
        self.values
            .iter()
            .find(|(key, _)| *key == name)
            .and_then(|(_, value)| value.parse::<i64>().ok())
            .filter(|id| *id > 0 && !self.text(name).starts_with('+'))
            .map(T::from_int)
            .ok_or_else(ApiError::not_found)
    }

    pub fn text(&self, name: &str) -> &str {
        self.values
            .iter()
            .find(|(key, _)| *key == name)
            .map_or("", |(_, value)| value.as_str())
    }

    /// Adds a parameter's decoded value.
    pub(super) fn push(&mut self, name: &'static str, value: String) {
        self.values.push((name, value));
    }

    /// Notes a parameter whose segment did not decode; the first one noted is reported.
    pub(super) fn mark_malformed(&mut self, name: &'static str) {
        self.malformed.get_or_insert(name);
    }

    /// `400 validation_failed` naming the first parameter that did not decode.
    pub(super) fn check_decoded(&self) -> Result<(), ApiError> {
        match self.malformed {
            Some(name) => Err(ApiError::invalid_field(
                name,
                format!("{name} in the path must be percent-encoded UTF-8"),
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    #[test]
    fn ids_must_be_positive_integers() {
        for bad in ["0", "-1", "+1", "1.0", "abc", "", "99999999999999999999"] {
            let params = Params {
                values: vec![("id", bad.to_owned())],
                malformed: None,
            };
            assert!(params.id::<UserId>("id").is_err(), "{bad}");
        }
    }
}
