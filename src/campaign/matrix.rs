//! Expanding a campaign's matrix into trials: cross product × repetitions, shuffled by the seed.
//!
//! Pure. Trial ids follow the unshuffled order (cell by cell, repetition by repetition), so the
//! same campaign always gives each combination the same id, which is what `--resume` matches
//! on. Only the run order is shuffled, so slow drift on the machine does not line up with one
//! matrix axis.

use std::collections::BTreeMap;

use toml::Value;

use crate::chaos::rng::SeededRng;

/// One run of one matrix cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Trial {
    /// Stable id, `t0001`, ...
    pub id: String,
    /// Index of the matrix cell.
    pub cell: usize,
    /// Repetition, from 1.
    pub repetition: u32,
    /// The matrix values of this cell: dotted key → value.
    pub params: Vec<(String, Value)>,
    /// Seed of this trial's random choices (chaos, jitter).
    pub seed: u64,
}

/// Every combination of the matrix's values, in key order (a matrix with no keys has one cell).
///
/// A value that is a table sets its dotted keys together, so an axis can pair values that
/// belong together instead of crossing them; the axis's own key is then only a label:
///
/// ```toml
/// [matrix]
/// pairing = [
///   { "settings.policy" = "elasticsearch", "leader.flavor" = "elasticsearch" },
///   { "settings.policy" = "opensearch", "leader.flavor" = "opensearch" },
/// ]
/// ```
///
/// A cell's parameters are then the table's keys (`settings.policy`, `leader.flavor`), which
/// is what `expect_when` matches and what results record.
pub fn cells(matrix: &BTreeMap<String, Vec<Value>>) -> Vec<Vec<(String, Value)>> {
    let mut cells: Vec<Vec<(String, Value)>> = vec![Vec::new()];
    for (key, values) in matrix {
        cells = cells
            .into_iter()
            .flat_map(|cell| {
                values.iter().map(move |v| {
                    let mut next = cell.clone();
                    match v {
                        Value::Table(together) => {
                            next.extend(together.iter().map(|(k, v)| (k.clone(), v.clone())))
                        }
                        _ => next.push((key.clone(), v.clone())),
                    }
                    next
                })
            })
            .collect();
    }
    cells
}

/// Cells × repetitions, with ids and seeds, in the order the seed shuffles them into.
pub fn expand(matrix: &BTreeMap<String, Vec<Value>>, repetitions: u32, seed: u64) -> Vec<Trial> {
    let mut trials = Vec::new();
    for (cell, params) in cells(matrix).into_iter().enumerate() {
        for repetition in 1..=repetitions {
            let n = trials.len() as u64 + 1;
            trials.push(Trial {
                id: format!("t{n:04}"),
                cell,
                repetition,
                params: params.clone(),
                seed: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(n),
            });
        }
    }
    shuffle(&mut trials, seed);
    trials
}

/// Fisher–Yates with the seeded RNG: the same seed, the same order.
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = SeededRng::new(seed, 0x5bu64);
    for i in (1..items.len()).rev() {
        let j = (rng.unit() * (i + 1) as f64) as usize;
        items.swap(i, j.min(i));
    }
}

/// Sets the value at a dotted path (`faults.wan.delay`) in a table, creating tables on the way.
pub fn set_path(table: &mut toml::Table, path: &str, value: Value) -> Result<(), String> {
    let mut parts = path.split('.').peekable();
    let mut current = table;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            current.insert(part.to_string(), value);
            return Ok(());
        }
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{part}` in `{path}` is not a table"))?;
    }
    Err(format!("`{path}` is empty"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(entries: &[(&str, Vec<Value>)]) -> BTreeMap<String, Vec<Value>> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn the_cross_product_covers_every_combination_once() {
        let m = matrix(&[
            (
                "faults.wan.delay",
                vec!["0ms".into(), "25ms".into(), "50ms".into()],
            ),
            (
                "settings.max_concurrent_file_chunks",
                vec![1.into(), 5.into()],
            ),
        ]);
        let cells = cells(&m);
        assert_eq!(cells.len(), 6);
        let mut seen: Vec<String> = cells.iter().map(|c| format!("{c:?}")).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 6);
        assert_eq!(
            super::cells(&BTreeMap::new()),
            vec![Vec::new()],
            "no matrix: one cell"
        );
    }

    #[test]
    fn repetitions_multiply_and_ids_are_stable_across_seeds() {
        let m = matrix(&[(
            "settings.policy",
            vec!["elasticsearch".into(), "resumable".into()],
        )]);
        let a = expand(&m, 3, 1);
        let b = expand(&m, 3, 2);
        assert_eq!(a.len(), 6);
        let by_id = |trials: &[Trial]| {
            let mut v: Vec<(String, usize, u32)> = trials
                .iter()
                .map(|t| (t.id.clone(), t.cell, t.repetition))
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            by_id(&a),
            by_id(&b),
            "the same id always means the same cell and repetition"
        );
    }

    #[test]
    fn same_seed_same_order_other_seed_other_order() {
        let m = matrix(&[(
            "settings.chunk_size",
            (1..=8).map(|i| Value::from(format!("{i}mb"))).collect(),
        )]);
        let order = |seed| {
            expand(&m, 2, seed)
                .into_iter()
                .map(|t| t.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(order(7), order(7));
        assert_ne!(order(7), order(8));
        let mut sorted = order(7);
        sorted.sort();
        assert_eq!(
            sorted,
            (1..=16).map(|n| format!("t{n:04}")).collect::<Vec<_>>()
        );
    }

    #[test]
    fn dotted_paths_are_set_in_nested_tables() {
        let mut t: toml::Table =
            toml::from_str("[faults.wan]\ntype = \"latency\"\ndelay = \"1ms\"\n").expect("toml");
        set_path(&mut t, "faults.wan.delay", "25ms".into()).expect("set");
        set_path(&mut t, "settings.policy", "resumable".into()).expect("create");
        assert_eq!(t["faults"]["wan"]["delay"].as_str(), Some("25ms"));
        assert_eq!(t["settings"]["policy"].as_str(), Some("resumable"));
        assert!(set_path(&mut t, "faults.wan.delay.x", 1.into()).is_err());
    }

    #[test]
    fn a_table_value_sets_its_keys_together() {
        let pair = |policy: &str, flavor: &str| {
            let mut t = toml::Table::new();
            t.insert("settings.policy".into(), policy.into());
            t.insert("leader.flavor".into(), flavor.into());
            Value::Table(t)
        };
        let m = matrix(&[
            (
                "pairing",
                vec![
                    pair("elasticsearch", "elasticsearch"),
                    pair("opensearch", "opensearch"),
                ],
            ),
            ("faults.wan.delay", vec!["0ms".into(), "25ms".into()]),
        ]);
        let cells = cells(&m);
        assert_eq!(cells.len(), 4, "2 pairs x 2 delays, not 2 x 2 x 2");
        for cell in &cells {
            let get = |k: &str| {
                cell.iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
            };
            assert_eq!(get("settings.policy"), get("leader.flavor"), "{cell:?}");
            assert!(get("pairing").is_none(), "the label is not a parameter");
        }
    }
}
