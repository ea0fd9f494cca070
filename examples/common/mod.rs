//! Shared by the examples and benchmarks: seeded data generators (card transactions and
//! customer profiles for the fraud example; deterministic for a given seed) and the cluster
//! an example runs on ([`cluster`]).

#![allow(dead_code)]

pub mod cli;
pub mod cluster;

use serde::{Deserialize, Serialize};

/// SplitMix64: small, fast, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

const COUNTRIES: [&str; 6] = ["NL", "DE", "FR", "US", "GB", "BR"];
const MERCHANTS: [&str; 5] = ["grocery", "fuel", "electronics", "travel", "restaurant"];

/// A card payment authorisation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Transaction {
    pub id: u64,
    pub account: String,
    pub amount_cents: i64,
    pub currency: String,
    pub merchant: String,
    pub country: String,
    pub timestamp: i64,
}

/// An account's behavioural baseline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    pub account: String,
    pub avg_amount_cents: i64,
    pub home_country: String,
}

pub fn account_name(i: u64) -> String {
    format!("acct-{i:06}")
}

/// One profile per account.
pub fn profiles(accounts: u64, seed: u64) -> Vec<Profile> {
    let mut rng = Rng::new(seed);
    (0..accounts)
        .map(|i| Profile {
            account: account_name(i),
            avg_amount_cents: 1_000 + rng.below(20_000) as i64,
            home_country: COUNTRIES[rng.below(3) as usize].to_string(),
        })
        .collect()
}

/// An endless stream of transactions, one every `spacing_ms` of event time on average,
/// with a few "compromised" accounts that burst many large foreign payments.
pub struct TransactionGenerator {
    rng: Rng,
    accounts: u64,
    next_id: u64,
    time: i64,
    spacing_ms: i64,
    compromised: Vec<u64>,
}

impl TransactionGenerator {
    pub fn new(accounts: u64, spacing_ms: i64, seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0xfeed);
        let compromised = (0..(accounts / 100).max(1))
            .map(|_| rng.below(accounts))
            .collect();
        TransactionGenerator {
            rng,
            accounts,
            next_id: 0,
            time: 1_700_000_000_000,
            spacing_ms,
            compromised,
        }
    }
}

impl Iterator for TransactionGenerator {
    type Item = Transaction;

    fn next(&mut self) -> Option<Transaction> {
        self.next_id += 1;
        self.time += self.rng.below(2 * self.spacing_ms as u64 + 1) as i64;
        let burst = self.rng.chance(0.002);
        let account = if burst {
            self.compromised[self.rng.below(self.compromised.len() as u64) as usize]
        } else {
            self.rng.below(self.accounts)
        };
        let amount_cents = if burst {
            50_000 + self.rng.below(200_000) as i64
        } else {
            100 + self.rng.below(20_000) as i64
        };
        Some(Transaction {
            id: self.next_id,
            account: account_name(account),
            amount_cents,
            currency: "EUR".to_string(),
            merchant: MERCHANTS[self.rng.below(MERCHANTS.len() as u64) as usize].to_string(),
            country: COUNTRIES[self.rng.below(COUNTRIES.len() as u64) as usize].to_string(),
            timestamp: self.time,
        })
    }
}
