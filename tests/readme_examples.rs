//! The README's code, compiled and run so it stays true.

use sluice::prelude::*;

#[test]
fn readme_topology_and_test_driver() -> Result<(), Box<dyn std::error::Error>> {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            "transactions",
            Consumed::with(Serde::string(), Serde::<i64>::i64()),
        )
        .group_by_key()
        .count(Materialized::as_("tx-count"))
        .to_stream()
        .filter(|_account, n| *n > 5)
        .to("busy-accounts", Produced::default());
    let topology = builder.build()?;
    assert!(topology.describe().to_string().starts_with("Topologies:"));

    let driver = TopologyTestDriver::new(topology);
    let tx = driver.create_input_topic("transactions", Serde::string(), Serde::<i64>::i64());
    let busy = driver.create_output_topic("busy-accounts", Serde::string(), Serde::<i64>::i64());
    for amount in [10, 20, 30, 40, 50, 60] {
        tx.pipe_input("acct-7".to_string(), amount);
    }
    assert_eq!(busy.read_key_value(), ("acct-7".to_string(), 6));
    let store = driver.key_value_store::<String, i64>("tx-count")?;
    assert_eq!(store.get(&"acct-7".to_string()), Some(6));
    Ok(())
}
