//! Allow-lists: the shape of almost every policy setting, and what narrowing one means.

use std::fmt;

use crate::file::Sha256Pattern;
use crate::key::PublicKey;
use crate::network::{BindPattern, NetworkPattern};
use crate::path::PathTemplate;
use crate::source::{Source, Sourced};
use crate::wildcard::Wildcard;

/// A list of allowed values, each remembering its layer, and the layer that set the list (the
/// one a denial names: it is where the value would have to be added).
#[derive(Clone, Debug, PartialEq)]
pub struct AllowList<T> {
    pub entries: Vec<Sourced<T>>,
    pub source: Source,
}

impl<T> AllowList<T> {
    pub fn new(values: impl IntoIterator<Item = T>, source: Source) -> AllowList<T> {
        AllowList {
            entries: values
                .into_iter()
                .map(|value| Sourced::new(value, source.clone()))
                .collect(),
            source,
        }
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|e| &e.value)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What narrowing needs of an entry type.
pub(crate) trait Pattern: Clone + fmt::Display {
    /// Whether everything `other` allows, `self` allows too.
    fn covers(&self, other: &Self) -> bool;

    /// This entry of a narrowing layer, as the entries covering it restrict it.
    fn within(&self, _covering: &[&Self]) -> Self {
        self.clone()
    }
}

impl Pattern for Wildcard {
    fn covers(&self, other: &Self) -> bool {
        Wildcard::covers(self, other)
    }
}

impl Pattern for NetworkPattern {
    fn covers(&self, other: &Self) -> bool {
        NetworkPattern::covers(self, other)
    }
}

impl Pattern for BindPattern {
    fn covers(&self, other: &Self) -> bool {
        BindPattern::covers(self, other)
    }
}

impl Pattern for PathTemplate {
    fn covers(&self, other: &Self) -> bool {
        PathTemplate::covers(self, other)
    }
}

impl Pattern for Sha256Pattern {
    fn covers(&self, other: &Self) -> bool {
        Sha256Pattern::covers(self, other)
    }
}

impl Pattern for PublicKey {
    fn covers(&self, other: &Self) -> bool {
        self == other
    }
}

/// A network entry that may hold for kiln's own components only: kiln's default lets
/// first-party builders download anything and third-party plugins nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scoped<T> {
    pub value: T,
    pub first_party_only: bool,
}

impl<T> Scoped<T> {
    pub fn everyone(value: T) -> Scoped<T> {
        Scoped {
            value,
            first_party_only: false,
        }
    }
}

impl<T: fmt::Display> fmt::Display for Scoped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: Pattern> Pattern for Scoped<T> {
    fn covers(&self, other: &Self) -> bool {
        self.value.covers(&other.value)
    }

    /// A narrowing layer cannot say "first-party only", but it cannot reach past it either.
    fn within(&self, covering: &[&Self]) -> Self {
        Scoped {
            value: self.value.clone(),
            first_party_only: self.first_party_only || covering.iter().all(|c| c.first_party_only),
        }
    }
}
