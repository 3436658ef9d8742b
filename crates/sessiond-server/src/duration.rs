//! Durations in configuration: `"500ms"`, `"30s"`, `"5m"`, `"1h"`, or a number of seconds.

use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::units::number_and_unit;

/// A duration written in configuration with an optional unit (seconds by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigDuration(pub Duration);

/// Why a duration did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a duration; write a number with a unit: 500ms, 30s, 5m, 1h")]
pub struct DurationError(String);

impl FromStr for ConfigDuration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || DurationError(text.to_string());
        let (number, unit) = number_and_unit(text).ok_or_else(error)?;
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "" | "s" => 1000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(error()),
        };
        number
            .checked_mul(millis_per_unit)
            .map(|millis| ConfigDuration(Duration::from_millis(millis)))
            .ok_or_else(error)
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Seconds(secs) => Ok(ConfigDuration(Duration::from_secs(secs))),
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!("30".parse(), Ok(ConfigDuration(Duration::from_secs(30))));
        assert_eq!(
            "500ms".parse(),
            Ok(ConfigDuration(Duration::from_millis(500)))
        );
        assert_eq!("5m".parse(), Ok(ConfigDuration(Duration::from_secs(300))));
        assert_eq!("1h".parse(), Ok(ConfigDuration(Duration::from_secs(3600))));
        assert!("soon".parse::<ConfigDuration>().is_err());
    }
}
