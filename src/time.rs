//! Conversions between chrono (the scheduling code's clock) and jiff (k8s-openapi's timestamps).

use chrono::{DateTime, TimeZone, Utc};

pub fn to_jiff(t: DateTime<Utc>) -> jiff::Timestamp {
    jiff::Timestamp::new(t.timestamp(), t.timestamp_subsec_nanos() as i32)
        .unwrap_or(jiff::Timestamp::MIN)
}

pub fn from_jiff(t: jiff::Timestamp) -> DateTime<Utc> {
    Utc.timestamp_opt(t.as_second(), t.subsec_nanosecond().max(0) as u32)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip_to_the_nanosecond() {
        let t = Utc
            .timestamp_opt(1_800_000_000, 123_456_789)
            .single()
            .expect("valid");
        assert_eq!(from_jiff(to_jiff(t)), t);
    }
}
