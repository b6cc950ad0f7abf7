//! What one instance of a component takes from the pool, counted at deploy, and the pool's
//! budget of each, shared by the connections alive at once.
//!
//! Components differ: a Rust component instantiates 3 core modules, a JavaScript one
//! (componentize-js) 4, a Python one (componentize-py, which links libpython and its
//! extension modules as separate modules) 14. Counting connections alone would let Python
//! connections run the pool's core instances out while slots remain, and wasmtime would
//! fail the instantiation. So each connection also reserves its component's needs, and a
//! connection whose needs do not fit is refused like any other over capacity (503).
//!
//! Sized from the machine (no `maxInstances`), the pool also has a memory budget: the memory
//! available at start. Each connection is counted at its component's data, at least
//! [`AUTO_MEMORY_PER_INSTANCE`]: an instance writes much of what its copy-on-write image
//! holds (a Python instance, 7.4 MiB of its 11.5 MB), so a Python deploy is admitted what
//! memory holds rather than what the mapping limit allows.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmparser::{Instance, Parser, Payload};
use wasmtime::component::Component;

use super::capacity::AUTO_MEMORY_PER_INSTANCE;

/// Pool resources per instance slot. Core instances cost the pool nothing until used (a
/// counter), so their budget fits a Python component in every slot; memories and tables
/// are address space and mappings, so theirs is what components of every language need.
pub const CORE_INSTANCES_PER_SLOT: u32 = 16;
pub const MEMORIES_PER_SLOT: u32 = 2;
pub const TABLES_PER_SLOT: u32 = 4;

/// Core instances, memories and tables one instance of a component allocates, and the
/// memory it is counted at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub core_instances: u32,
    pub memories: u32,
    pub tables: u32,
    /// The component's data segments in KiB, at least [`AUTO_MEMORY_PER_INSTANCE`].
    pub memory_kib: u32,
}

impl Needs {
    /// Count what `component` (compiled from `wasm`) instantiates: wasmtime's own count of
    /// memories and tables, and the core instances its binary creates (each `instantiate`,
    /// nested components included).
    pub fn of(wasm: &[u8], component: &Component) -> Self {
        let (mut core_instances, mut data_bytes) = (0usize, 0usize);
        for payload in Parser::new(0).parse_all(wasm).filter_map(Result::ok) {
            match payload {
                Payload::InstanceSection(instances) => {
                    core_instances += instances
                        .into_iter()
                        .filter(|instance| matches!(instance, Ok(Instance::Instantiate { .. })))
                        .count();
                }
                Payload::DataSection(segments) => {
                    data_bytes += segments
                        .into_iter()
                        .filter_map(Result::ok)
                        .map(|segment| segment.data.len())
                        .sum::<usize>();
                }
                _ => {}
            }
        }
        let (memories, tables) = component
            .resources_required()
            .map_or((MEMORIES_PER_SLOT, TABLES_PER_SLOT), |required| {
                (required.num_memories, required.num_tables)
            });
        let memory_kib = (data_bytes as u64).max(AUTO_MEMORY_PER_INSTANCE) >> 10;
        Self {
            core_instances: u32::try_from(core_instances).unwrap_or(u32::MAX),
            memories,
            tables,
            memory_kib: u32::try_from(memory_kib).unwrap_or(u32::MAX),
        }
    }
}

/// The pool's core instances, memories and tables for connections, and the memory budget
/// when the pool is sized from the machine.
pub struct Budget {
    core_instances: Arc<Semaphore>,
    memories: Arc<Semaphore>,
    tables: Arc<Semaphore>,
    memory_kib: Option<Arc<Semaphore>>,
    /// The budget's size, for deploy-time checks.
    total: Needs,
}

/// A connection's share of the budget, returned when dropped.
pub struct Reserved {
    _permits: [OwnedSemaphorePermit; 3],
    _memory: Option<OwnedSemaphorePermit>,
}

impl Budget {
    /// The budget of `slots` instance slots, with `memory` bytes for their instances when
    /// given.
    pub fn new(slots: u32, memory: Option<u64>) -> Self {
        let memory_kib = memory.map(|bytes| u32::try_from(bytes >> 10).unwrap_or(u32::MAX));
        let total = Needs {
            core_instances: slots.saturating_mul(CORE_INSTANCES_PER_SLOT),
            memories: slots.saturating_mul(MEMORIES_PER_SLOT),
            tables: slots.saturating_mul(TABLES_PER_SLOT),
            memory_kib: memory_kib.unwrap_or(u32::MAX),
        };
        let semaphore = |n: u32| Arc::new(Semaphore::new(n as usize));
        Self {
            core_instances: semaphore(total.core_instances),
            memories: semaphore(total.memories),
            tables: semaphore(total.tables),
            memory_kib: memory_kib.map(semaphore),
            total,
        }
    }

    /// Take `needs` from the budget, or nothing when any part of it is used up.
    pub fn reserve(&self, needs: Needs) -> Option<Reserved> {
        let take =
            |semaphore: &Arc<Semaphore>, n: u32| semaphore.clone().try_acquire_many_owned(n).ok();
        let memory = match &self.memory_kib {
            Some(budget) => Some(take(budget, needs.memory_kib)?),
            None => None,
        };
        Some(Reserved {
            _permits: [
                take(&self.core_instances, needs.core_instances)?,
                take(&self.memories, needs.memories)?,
                take(&self.tables, needs.tables)?,
            ],
            _memory: memory,
        })
    }

    /// Why one instance needing `needs` could never be admitted, if it could not.
    pub fn too_large(&self, needs: Needs) -> Option<String> {
        let parts = [
            (
                "core instances",
                needs.core_instances,
                self.total.core_instances,
            ),
            ("memories", needs.memories, self.total.memories),
            ("tables", needs.tables, self.total.tables),
            ("KiB of memory", needs.memory_kib, self.total.memory_kib),
        ];
        parts.into_iter().find(|(_, need, total)| need > total).map(|(what, need, total)| {
            format!("needs {need} {what} per instance, more than the whole pool holds ({total}); raise maxInstances")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYTHON: Needs = Needs {
        core_instances: 14,
        memories: 1,
        tables: 2,
        memory_kib: 11_290,
    };
    const RUST: Needs = Needs {
        core_instances: 3,
        memories: 1,
        tables: 2,
        memory_kib: 1024,
    };

    #[test]
    fn every_slot_can_hold_a_python_instance() {
        let budget = Budget::new(100, None);
        let held: Vec<Reserved> = (0..100)
            .map(|_| budget.reserve(PYTHON).expect("fits"))
            .collect();
        assert_eq!(held.len(), 100);
    }

    #[test]
    fn a_budget_used_up_refuses_until_a_reservation_is_dropped() {
        let budget = Budget::new(2, None);
        let first = budget
            .reserve(Needs {
                core_instances: 20,
                ..RUST
            })
            .expect("fits");
        assert!(
            budget
                .reserve(Needs {
                    core_instances: 20,
                    ..RUST
                })
                .is_none(),
            "32 core instances in all"
        );
        let small = budget.reserve(RUST).expect("12 left");
        drop(first);
        assert!(
            budget
                .reserve(Needs {
                    core_instances: 20,
                    ..RUST
                })
                .is_some()
        );
        drop(small);
        assert!(
            budget.reserve(Needs { tables: 9, ..RUST }).is_none(),
            "8 tables in all"
        );
        // A refused reservation holds nothing back.
        assert!(
            budget
                .reserve(Needs {
                    core_instances: 32,
                    memories: 4,
                    tables: 8,
                    memory_kib: 1024,
                })
                .is_some()
        );
    }

    #[test]
    fn sized_from_the_machine_connections_are_counted_at_their_components_data() {
        // 100 MiB of memory: 100 Rust connections (1 MiB each), or 9 Python ones.
        let budget = Budget::new(1000, Some(100 << 20));
        let python: Vec<Reserved> = std::iter::from_fn(|| budget.reserve(PYTHON)).collect();
        assert_eq!(python.len(), 9);
        drop(python);
        let rust: Vec<Reserved> = std::iter::from_fn(|| budget.reserve(RUST)).collect();
        assert_eq!(rust.len(), 100);
        assert!(budget.reserve(PYTHON).is_none());
        drop(rust);
        assert!(
            budget.reserve(PYTHON).is_some(),
            "freed with the connections"
        );
        let tiny = Budget::new(1000, Some(4 << 20));
        let reason = tiny.too_large(PYTHON).expect("too large");
        assert!(reason.contains("11290 KiB of memory"), "{reason}");
        assert_eq!(Budget::new(1000, None).too_large(PYTHON), None);
    }

    #[test]
    fn a_component_larger_than_the_pool_is_named_at_deploy() {
        let budget = Budget::new(1, None);
        assert_eq!(budget.too_large(PYTHON), None);
        let reason = budget
            .too_large(Needs {
                core_instances: 17,
                ..RUST
            })
            .expect("too large");
        assert!(
            reason.contains("17 core instances") && reason.contains("(16)"),
            "{reason}"
        );
    }
}
