//! A compact map from names to values, kept sorted by name.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::key::Name;

/// A small map from names to values, stored as one sorted vector.
///
/// Components hold a handful of params each; a sorted vector costs a fraction
/// of a tree's memory, iterates in canonical order (what hashing needs) and
/// looks up by binary search.
#[derive(Clone, PartialEq, Eq)]
pub struct FieldMap<V> {
    entries: Vec<(Name, V)>,
}

impl<V> Default for FieldMap<V> {
    fn default() -> Self {
        Self { entries: Vec::new() }
    }
}

impl<V> FieldMap<V> {
    /// An empty map.
    pub const fn new() -> Self {
        Self { entries: Vec::new() }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    /// The value under `name`.
    pub fn get(&self, name: &str) -> Option<&V> {
        self.position(name).ok().map(|i| &self.entries[i].1)
    }

    /// The value under `name`, mutably.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut V> {
        self.position(name).ok().map(|i| &mut self.entries[i].1)
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Sets `name` to `value`, returning the previous value.
    pub fn insert(&mut self, name: impl Into<Name>, value: V) -> Option<V> {
        let name = name.into();
        match self.position(&name) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (name, value));
                None
            }
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<V> {
        self.position(name).ok().map(|i| self.entries.remove(i).1)
    }

    /// Entries in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Name, &V)> + '_ {
        self.entries.iter().map(|(n, v)| (n, v))
    }

    /// Names in order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &Name> + '_ {
        self.entries.iter().map(|(n, _)| n)
    }

    /// A map of `entries` already in strictly increasing name order (as
    /// stored), or `None` if they are not.
    pub(crate) fn from_sorted(entries: Vec<(Name, V)>) -> Option<Self> {
        entries.windows(2).all(|w| w[0].0 < w[1].0).then_some(Self { entries })
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }

    pub(crate) fn iter_mut_internal(&mut self) -> impl Iterator<Item = (&Name, &mut V)> + '_ {
        self.entries.iter_mut().map(|(n, v)| (&*n, v))
    }

    /// Merges two maps by name: calls `f(name, before, after)` for every
    /// name in either, in order.
    pub(crate) fn merge_with<'a>(&'a self, other: &'a Self, mut f: impl FnMut(&'a Name, Option<&'a V>, Option<&'a V>)) {
        let (mut i, mut j) = (0, 0);
        while i < self.entries.len() || j < other.entries.len() {
            let a = self.entries.get(i);
            let b = other.entries.get(j);
            match (a, b) {
                (Some((na, va)), Some((nb, vb))) => match na.cmp(nb) {
                    std::cmp::Ordering::Less => {
                        f(na, Some(va), None);
                        i += 1;
                    }
                    std::cmp::Ordering::Greater => {
                        f(nb, None, Some(vb));
                        j += 1;
                    }
                    std::cmp::Ordering::Equal => {
                        f(na, Some(va), Some(vb));
                        i += 1;
                        j += 1;
                    }
                },
                (Some((na, va)), None) => {
                    f(na, Some(va), None);
                    i += 1;
                }
                (None, Some((nb, vb))) => {
                    f(nb, None, Some(vb));
                    j += 1;
                }
                (None, None) => unreachable!("loop condition"),
            }
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for FieldMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries.iter().map(|(k, v)| (k, v))).finish()
    }
}

impl<N: Into<Name>, V> FromIterator<(N, V)> for FieldMap<V> {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut map = Self::new();
        for (n, v) in iter {
            map.insert(n, v);
        }
        map
    }
}

impl<'a, V> IntoIterator for &'a FieldMap<V> {
    type Item = (&'a Name, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (Name, V)>, fn(&'a (Name, V)) -> (&'a Name, &'a V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(n, v)| (n, v))
    }
}

impl<V: Serialize> Serialize for FieldMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (k, v) in &self.entries {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for FieldMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = FieldMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from names to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = FieldMap::new();
                while let Some((k, v)) = access.next_entry::<Name, V>()? {
                    if map.insert(k.clone(), v).is_some() {
                        return Err(serde::de::Error::custom(format!("duplicate name {k:?}")));
                    }
                }
                map.shrink_to_fit();
                Ok(map)
            }
        }
        deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_regardless_of_insertion_order() {
        let a: FieldMap<i32> = [("b", 2), ("a", 1), ("c", 3)].into_iter().collect();
        let b: FieldMap<i32> = [("c", 3), ("b", 2), ("a", 1)].into_iter().collect();
        assert_eq!(a, b);
        assert_eq!(a.names().map(Name::as_str).collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn merge_visits_union_in_order() {
        let a: FieldMap<i32> = [("a", 1), ("c", 3)].into_iter().collect();
        let b: FieldMap<i32> = [("b", 2), ("c", 4)].into_iter().collect();
        let mut seen = Vec::new();
        a.merge_with(&b, |n, x, y| {
            seen.push((n.to_string(), x.copied(), y.copied()));
        });
        assert_eq!(
            seen,
            [("a".to_string(), Some(1), None), ("b".to_string(), None, Some(2)), ("c".to_string(), Some(3), Some(4))]
        );
    }

    #[test]
    fn rejects_duplicate_names() {
        let err = serde_json::from_str::<FieldMap<i32>>(r#"{"a":1,"a":2}"#).unwrap_err();
        assert!(err.to_string().contains("duplicate"));
    }
}
