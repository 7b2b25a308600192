//! JSON field tables for `events/v1` messages.

use k8s_pb::api::events::v1 as pb;

use super::super::json::messages;

messages! {
    pb::Event {
        req metadata: "metadata",
        req event_time: "eventTime",
        ptr series: "series",
        opt reporting_controller: "reportingController",
        opt reporting_instance: "reportingInstance",
        opt action: "action",
        opt reason: "reason",
        req regarding: "regarding",
        ptr related: "related",
        opt note: "note",
        opt r#type: "type",
        req deprecated_source: "deprecatedSource",
        req deprecated_first_timestamp: "deprecatedFirstTimestamp",
        req deprecated_last_timestamp: "deprecatedLastTimestamp",
        opt deprecated_count: "deprecatedCount",
    }

    pb::EventSeries {
        req count: "count",
        req last_observed_time: "lastObservedTime",
    }
}
