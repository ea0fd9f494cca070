//! Command-line flags every example shares (flattened into each example's own).

/// Where an example runs and whether it checks itself.
#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    /// A Kafka cluster; without it, librdkafka's in-process mock cluster.
    #[arg(long)]
    pub bootstrap_servers: Option<String>,
    /// Partitions of every topic.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Prefix of every topic name (keeps runs on a shared cluster apart).
    #[arg(long, default_value = "")]
    pub topic_prefix: String,
    /// Also compute the results on the TopologyTestDriver and require the same ones.
    #[arg(long)]
    pub check: bool,
}
