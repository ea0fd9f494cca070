//! `split()` and `Branched`: routing each record to the first matching branch.

use crate::dynamic::{downcast_ref, Data, PredicateFn};
use crate::graph::GraphRef;
use crate::kstream::KStream;
use crate::topology::ProcessorSpec;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How a branch is named (Kafka Streams' `Branched`).
#[derive(Debug, Clone, Default)]
pub struct Branched {
    pub(crate) name: Option<String>,
}

impl Branched {
    /// A branch named `<split name><name>`.
    pub fn as_(name: impl Into<String>) -> Self {
        Branched {
            name: Some(name.into()),
        }
    }
}

/// The branches of [`KStream::split`]: each record goes to the first branch whose predicate
/// it matches, else to the default branch, else nowhere.
///
/// ```
/// use sluice_dsl::{StreamsBuilder, Consumed, Branched, serde::Serde};
/// let builder = StreamsBuilder::new();
/// let readings = builder.stream("readings", Consumed::with(Serde::string(), Serde::<i64>::i64()));
/// let branches = readings
///     .split_named("r-")
///     .branch(|_, v| *v > 100, Branched::as_("high"))
///     .default_branch(Branched::as_("normal"));
/// assert!(branches.contains_key("r-high") && branches.contains_key("r-normal"));
/// ```
pub struct BranchedKStream<K, V> {
    parent: KStream<K, V>,
    prefix: String,
    branches: Vec<(String, Option<PredicateFn>)>,
}

impl<K: Data, V: Data> BranchedKStream<K, V> {
    pub(crate) fn new(parent: KStream<K, V>, prefix: String) -> Self {
        BranchedKStream {
            parent,
            prefix,
            branches: Vec::new(),
        }
    }

    /// Adds a branch for records matching `predicate` (and no earlier branch).
    pub fn branch<F>(mut self, predicate: F, branched: Branched) -> Self
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let name = self.branch_name(branched);
        let p: PredicateFn = Arc::new(move |k, v| predicate(downcast_ref::<K>(k), downcast_ref::<V>(v)));
        self.branches.push((name, Some(p)));
        self
    }

    /// Ends the split with a branch for every record no other branch took.
    pub fn default_branch(mut self, branched: Branched) -> BTreeMap<String, KStream<K, V>> {
        let name = match branched.name {
            Some(n) => format!("{}{}", self.prefix, n),
            None => format!("{}0", self.prefix),
        };
        self.branches.push((name, None));
        self.finish()
    }

    /// Ends the split; records matching no branch are dropped.
    pub fn no_default_branch(self) -> BTreeMap<String, KStream<K, V>> {
        self.finish()
    }

    fn branch_name(&self, branched: Branched) -> String {
        match branched.name {
            Some(n) => format!("{}{}", self.prefix, n),
            None => format!("{}{}", self.prefix, self.branches.len() + 1),
        }
    }

    fn finish(self) -> BTreeMap<String, KStream<K, V>> {
        let graph: GraphRef = self.parent.graph.clone();
        let predicates: Vec<Option<PredicateFn>> = self.branches.iter().map(|(_, p)| p.clone()).collect();
        let branch_node = graph.borrow_mut().add_processor(
            "KSTREAM-BRANCH-",
            Some(self.prefix.clone()),
            ProcessorSpec::Branch { predicates },
            &[self.parent.node],
        );
        // As Kafka Streams, each branch takes an index, named or not.
        for _ in &self.branches {
            graph.borrow_mut().generate_name("KSTREAM-BRANCHCHILD-");
        }
        let mut out = BTreeMap::new();
        for (name, _) in self.branches {
            let child = graph.borrow_mut().add_processor(
                "KSTREAM-BRANCHCHILD-",
                Some(name.clone()),
                ProcessorSpec::PassThrough,
                &[branch_node],
            );
            out.insert(name, self.parent.derive_same(child));
        }
        out
    }
}
