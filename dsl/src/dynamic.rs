//! Type-erased keys, values and user closures: how the typed DSL hands user code to the engine.
//!
//! The engine runs processors over records whose keys and values are [`Dyn`]: a shared,
//! type-erased pointer. The typed DSL guarantees that every closure receives the type it was
//! written for, so the downcasts below only fail on a bug in Sluice itself; that invariant is
//! why they panic instead of returning an error.

use std::any::Any;
use std::sync::Arc;

/// A key or value travelling between processors. Cloning is a reference-count increment, which
/// is what forwarding one record to several children costs.
pub type Dyn = Arc<dyn Any + Send + Sync>;

/// An owned type-erased value: aggregates are handed to user closures by value.
pub type DynBox = Box<dyn Any + Send + Sync>;

/// The bounds every key and value type in a topology meets.
pub trait Data: Send + Sync + 'static {}
impl<T: Send + Sync + 'static> Data for T {}

/// Key and value types a store or repartition topic can hold without an explicit serde:
/// they fall back to bincode.
pub trait StoreData: Data + serde::Serialize + serde::de::DeserializeOwned {}
impl<T: Data + serde::Serialize + serde::de::DeserializeOwned> StoreData for T {}

/// Borrows the `T` inside `d`.
///
/// # Panics
/// If `d` does not hold a `T`: the typed DSL makes that impossible, so it is a bug in Sluice.
pub fn downcast_ref<T: 'static>(d: &Dyn) -> &T {
    match (**d).downcast_ref::<T>() {
        Some(v) => v,
        None => type_mismatch::<T>(),
    }
}

/// Takes the `T` out of an owned erased value (see [`downcast_ref`] for the panic).
pub fn downcast_box<T: 'static>(d: DynBox) -> T {
    match d.downcast::<T>() {
        Ok(v) => *v,
        Err(_) => type_mismatch::<T>(),
    }
}

/// Takes the `T` out of a shared erased value, cloning only if it is shared.
pub fn downcast_owned<T: Clone + Send + Sync + 'static>(d: Dyn) -> T {
    match d.downcast::<T>() {
        Ok(arc) => Arc::try_unwrap(arc).unwrap_or_else(|shared| (*shared).clone()),
        Err(_) => type_mismatch::<T>(),
    }
}

#[cold]
fn type_mismatch<T>() -> ! {
    panic!(
        "sluice internal error: a record does not hold the {} the topology was typed with",
        std::any::type_name::<T>()
    )
}

/// Erases a value.
pub fn erase<T: Data>(value: T) -> Dyn {
    Arc::new(value)
}

/// Erases `value` into the allocation of `old` when `old` holds a `T` that nothing else shares
/// (its previous value is dropped in place), else into a new one: a value mapper that keeps
/// the value's type costs no allocation per record.
pub fn replace<T: Data>(mut old: Dyn, value: T) -> Dyn {
    match Arc::get_mut(&mut old).and_then(|slot| slot.downcast_mut::<T>()) {
        Some(slot) => {
            *slot = value;
            old
        }
        None => erase(value),
    }
}

/// `(key, value) -> bool`
pub type PredicateFn = Arc<dyn Fn(&Dyn, &Dyn) -> bool + Send + Sync>;
/// `(key, value) -> (new key, new value)`
pub type KeyValueMapperFn = Arc<dyn Fn(&Dyn, &Dyn) -> (Dyn, Dyn) + Send + Sync>;
/// `(key, value) -> new value`, the value given up: a stream's `map_values` (see [`replace`]).
pub type ValueMapperIntoFn = Arc<dyn Fn(&Dyn, Dyn) -> Dyn + Send + Sync>;
/// `(key, value) -> new value`
pub type ValueMapperFn = Arc<dyn Fn(&Dyn, &Dyn) -> Dyn + Send + Sync>;
/// `(key, value) -> new key`
pub type KeySelectorFn = Arc<dyn Fn(&Dyn, &Dyn) -> Dyn + Send + Sync>;
/// `(key, value) -> zero or more (key, value)`
pub type FlatMapperFn = Arc<dyn Fn(&Dyn, &Dyn) -> Vec<(Dyn, Dyn)> + Send + Sync>;
/// `(key, value) -> zero or more values`
pub type FlatValueMapperFn = Arc<dyn Fn(&Dyn, &Dyn) -> Vec<Dyn> + Send + Sync>;
/// `(key, value)`, for side effects.
pub type ForeachFn = Arc<dyn Fn(&Dyn, &Dyn) + Send + Sync>;
/// `() -> initial aggregate`
pub type InitializerFn = Arc<dyn Fn() -> DynBox + Send + Sync>;
/// `(key, value, aggregate) -> new aggregate`
pub type AggregatorFn = Arc<dyn Fn(&Dyn, &Dyn, DynBox) -> Dyn + Send + Sync>;
/// `(aggregate, value) -> new aggregate`
pub type ReducerFn = Arc<dyn Fn(DynBox, &Dyn) -> Dyn + Send + Sync>;
/// `(key, value, aggregate) -> new aggregate`, owned in and out (a table aggregation's adder
/// and subtractor run one after the other on one aggregate).
pub type TableAggregatorFn = Arc<dyn Fn(&Dyn, &Dyn, DynBox) -> DynBox + Send + Sync>;
/// `(aggregate, value) -> new aggregate`, owned in and out (table reduce).
pub type TableReducerFn = Arc<dyn Fn(DynBox, &Dyn) -> DynBox + Send + Sync>;
/// `(key, aggregate, aggregate) -> merged aggregate` (session merges)
pub type MergerFn = Arc<dyn Fn(&Dyn, DynBox, DynBox) -> DynBox + Send + Sync>;
/// `(key, window) -> Windowed<key>`
pub type WindowedKeyFn = Arc<dyn Fn(&Dyn, crate::windows::Window) -> Dyn + Send + Sync>;
/// `Windowed<key> -> window`
pub type WindowOfFn = Arc<dyn Fn(&Dyn) -> crate::windows::Window + Send + Sync>;
/// `(key, left value, right value) -> joined value`; `None` stands for a missing side.
pub type JoinerFn = Arc<dyn Fn(&Dyn, Option<&Dyn>, Option<&Dyn>) -> Dyn + Send + Sync>;
/// `value -> partition`, or `None` to partition by key (a sink's `PartitionOf`).
pub type PartitionOfFn = Arc<dyn Fn(&Dyn) -> Option<i32> + Send + Sync>;
/// `(key, value) -> another table's key` (global table joins).
pub type KeyValueToKeyFn = Arc<dyn Fn(&Dyn, &Dyn) -> Dyn + Send + Sync>;
/// `(key, value, record timestamp, partition time) -> event time`
pub type TimestampExtractorFn = Arc<dyn Fn(&Dyn, &Dyn, i64, i64) -> i64 + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downcast_owned_clones_only_when_shared() {
        let d = erase(String::from("x"));
        let keep = Arc::clone(&d);
        assert_eq!(downcast_owned::<String>(d), "x");
        assert_eq!(downcast_ref::<String>(&keep), "x");
        assert_eq!(downcast_owned::<String>(keep), "x");
    }

    #[test]
    fn replace_reuses_only_an_unshared_allocation_of_the_same_type() {
        let d = erase(String::from("a"));
        let at = Arc::as_ptr(&d) as *const u8;
        let d = replace(d, String::from("b"));
        assert_eq!(Arc::as_ptr(&d) as *const u8, at, "unshared, same type: reused");
        assert_eq!(downcast_ref::<String>(&d), "b");
        let keep = Arc::clone(&d);
        let e = replace(d, String::from("c"));
        assert_eq!(downcast_ref::<String>(&keep), "b", "a shared value stays intact");
        assert_eq!(downcast_ref::<String>(&e), "c");
        let f = replace(e, 7i64);
        assert_eq!(*downcast_ref::<i64>(&f), 7, "another type: a new allocation");
    }

    #[test]
    #[should_panic(expected = "does not hold the i64")]
    fn wrong_type_is_an_internal_error() {
        let d = erase(1u8);
        let _ = downcast_ref::<i64>(&d);
    }
}
