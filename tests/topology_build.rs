//! Topology building: descriptions, sub-topologies, internal topics, and invalid topologies.

use sluice::dsl::topology::{InternalTopicKind, TopicRef};
use sluice::prelude::*;

fn strings(b: &StreamsBuilder, topic: &str) -> KStream<String, String> {
    b.stream(topic, Consumed::with(Serde::string(), Serde::string()))
}

#[test]
fn describe_prints_kafka_streams_format() {
    let b = StreamsBuilder::new();
    strings(&b, "payments")
        .filter(|_, v| !v.is_empty())
        .to("large-payments", Produced::default());
    let text = b.build().unwrap().describe().to_string();
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [payments])
      --> KSTREAM-FILTER-0000000001
    Processor: KSTREAM-FILTER-0000000001 (stores: [])
      --> KSTREAM-SINK-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Sink: KSTREAM-SINK-0000000002 (topic: large-payments)
      <-- KSTREAM-FILTER-0000000001

";
    assert_eq!(text, expected);
}

#[test]
fn describe_shows_stores_repartition_topics_and_sub_topologies() {
    let b = StreamsBuilder::new();
    strings(&b, "clicks")
        .select_key(|_, page| page.clone())
        .named("by-page")
        .group_by_key()
        .count(Materialized::as_("clicks-per-page"))
        .to_stream()
        .to("page-counts", Produced::with(Serde::string(), Serde::i64()));
    let topology = b.build().unwrap();
    let text = topology.describe().to_string();
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [clicks])
      --> by-page
    Processor: by-page (stores: [])
      --> clicks-per-page-repartition-filter
      <-- KSTREAM-SOURCE-0000000000
    Processor: clicks-per-page-repartition-filter (stores: [])
      --> clicks-per-page-repartition-sink
      <-- by-page
    Sink: clicks-per-page-repartition-sink (topic: clicks-per-page-repartition)
      <-- clicks-per-page-repartition-filter

   Sub-topology: 1
    Source: clicks-per-page-repartition-source (topics: [clicks-per-page-repartition])
      --> KSTREAM-AGGREGATE-0000000002
    Processor: KSTREAM-AGGREGATE-0000000002 (stores: [clicks-per-page])
      --> KTABLE-TOSTREAM-0000000006
      <-- clicks-per-page-repartition-source
    Processor: KTABLE-TOSTREAM-0000000006 (stores: [])
      --> KSTREAM-SINK-0000000007
      <-- KSTREAM-AGGREGATE-0000000002
    Sink: KSTREAM-SINK-0000000007 (topic: page-counts)
      <-- KTABLE-TOSTREAM-0000000006

";
    assert_eq!(text, expected);
    let internal: Vec<(String, InternalTopicKind)> = topology
        .internal_topics()
        .iter()
        .map(|t| (t.topic.resolve("app"), t.kind.clone()))
        .collect();
    assert_eq!(
        internal,
        vec![
            (
                "app-clicks-per-page-repartition".to_string(),
                InternalTopicKind::Repartition {
                    writer: 0,
                    reader: 1,
                    partitions: None
                }
            ),
            (
                "app-clicks-per-page-changelog".to_string(),
                InternalTopicKind::Changelog {
                    store: "clicks-per-page".into(),
                    sub_topology: 1
                }
            ),
        ]
    );
    assert_eq!(
        topology.source_topics(),
        vec![
            TopicRef::User("clicks".into()),
            TopicRef::Internal("clicks-per-page-repartition".into())
        ]
    );
}

#[test]
fn group_by_key_without_key_change_stays_in_one_sub_topology() {
    let b = StreamsBuilder::new();
    strings(&b, "tx")
        .filter(|_, _| true)
        .map_values(|v| v.len() as i64)
        .group_by_key()
        .count(Materialized::as_("n"));
    let topology = b.build().unwrap();
    assert_eq!(topology.sub_topologies().len(), 1);
    assert!(topology
        .internal_topics()
        .iter()
        .all(|t| !matches!(t.kind, InternalTopicKind::Repartition { .. })));
}

#[test]
fn logging_disabled_stores_have_no_changelog() {
    let b = StreamsBuilder::new();
    strings(&b, "tx")
        .group_by_key()
        .count(Materialized::as_("n").with_logging_disabled());
    let topology = b.build().unwrap();
    assert!(topology.internal_topics().is_empty());
    assert_eq!(topology.store("n").unwrap().changelog_topic(), None);
}

#[test]
fn reading_a_topic_twice_is_an_error() {
    let b = StreamsBuilder::new();
    strings(&b, "tx");
    strings(&b, "tx");
    let err = b.build().unwrap_err();
    assert_eq!(
        err,
        TopologyError::TopicAlreadyRegistered {
            topic: "tx".into(),
            first: "KSTREAM-SOURCE-0000000000".into(),
            second: "KSTREAM-SOURCE-0000000001".into()
        }
    );
    assert!(err.to_string().contains("read it once and reuse the stream"));
}

#[test]
fn duplicate_store_and_node_names_are_errors() {
    let b = StreamsBuilder::new();
    let s = strings(&b, "tx");
    s.group_by_key().count(Materialized::as_("same"));
    s.group_by_key().count(Materialized::as_("same"));
    assert_eq!(
        b.build().unwrap_err(),
        TopologyError::DuplicateStoreName { name: "same".into() }
    );

    let b = StreamsBuilder::new();
    let s = strings(&b, "tx");
    s.filter(|_, _| true).named("f").to("a", Produced::default());
    s.filter(|_, _| true).named("f").to("b", Produced::default());
    assert_eq!(
        b.build().unwrap_err(),
        TopologyError::DuplicateNodeName { name: "f".into() }
    );
}

#[test]
fn illegal_names_are_errors() {
    let b = StreamsBuilder::new();
    strings(&b, "tx")
        .group_by_key()
        .count(Materialized::as_("bad name"));
    let err = b.build().unwrap_err();
    assert!(
        matches!(err, TopologyError::InvalidName { ref name, .. } if name == "bad name"),
        "{err}"
    );

    let b = StreamsBuilder::new();
    strings(&b, "topic/with/slashes");
    assert!(matches!(
        b.build().unwrap_err(),
        TopologyError::InvalidName { .. }
    ));
}

#[test]
fn sink_without_serde_after_type_change_is_an_error() {
    let b = StreamsBuilder::new();
    strings(&b, "tx")
        .map_values(|v| v.len() as u64)
        .to("lens", Produced::default());
    let err = b.build().unwrap_err();
    assert_eq!(
        err,
        TopologyError::MissingSerde {
            node: "KSTREAM-SINK-0000000002".into(),
            topic: "lens".into(),
            what: "value"
        }
    );
}

#[test]
fn empty_topology_is_an_error() {
    assert_eq!(
        StreamsBuilder::new().build().unwrap_err(),
        TopologyError::NoSource
    );
}

#[test]
fn merging_streams_of_two_builders_is_an_error() {
    let a = StreamsBuilder::new();
    let b = StreamsBuilder::new();
    let sa = strings(&a, "x");
    let sb = strings(&b, "y");
    sa.merge(&sb).to("z", Produced::default());
    assert_eq!(
        a.build().unwrap_err(),
        TopologyError::ForeignBuilder { operation: "merge" }
    );
}
