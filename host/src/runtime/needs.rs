//! What one instance of a component takes from the pool, counted at deploy, and the pool's
//! budget of each, shared by the connections alive at once.
//!
//! Components differ: a Rust component instantiates 3 core modules, a JavaScript one
//! (componentize-js) 4, a Python one (componentize-py, which links libpython and its
//! extension modules as separate modules) 14. Counting connections alone would let Python
//! connections run the pool's core instances out while slots remain, and wasmtime would
//! fail the instantiation. So each connection also reserves its component's needs, and a
//! connection whose needs do not fit is refused like any other over capacity (503).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmparser::{Instance, Parser, Payload};
use wasmtime::component::Component;

/// Pool resources per instance slot. Core instances cost the pool nothing until used (a
/// counter), so their budget fits a Python component in every slot; memories and tables
/// are address space and mappings, so theirs is what components of every language need.
pub const CORE_INSTANCES_PER_SLOT: u32 = 16;
pub const MEMORIES_PER_SLOT: u32 = 2;
pub const TABLES_PER_SLOT: u32 = 4;

/// Core instances, memories and tables one instance of a component allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub core_instances: u32,
    pub memories: u32,
    pub tables: u32,
}

impl Needs {
    /// Count what `component` (compiled from `wasm`) instantiates: wasmtime's own count of
    /// memories and tables, and the core instances its binary creates (each `instantiate`,
    /// nested components included).
    pub fn of(wasm: &[u8], component: &Component) -> Self {
        let core_instances = Parser::new(0)
            .parse_all(wasm)
            .filter_map(Result::ok)
            .map(|payload| match payload {
                Payload::InstanceSection(instances) => instances
                    .into_iter()
                    .filter(|instance| matches!(instance, Ok(Instance::Instantiate { .. })))
                    .count(),
                _ => 0,
            })
            .sum::<usize>();
        let (memories, tables) = component
            .resources_required()
            .map_or((MEMORIES_PER_SLOT, TABLES_PER_SLOT), |required| {
                (required.num_memories, required.num_tables)
            });
        Self {
            core_instances: u32::try_from(core_instances).unwrap_or(u32::MAX),
            memories,
            tables,
        }
    }
}

/// The pool's core instances, memories and tables for connections.
pub struct Budget {
    core_instances: Arc<Semaphore>,
    memories: Arc<Semaphore>,
    tables: Arc<Semaphore>,
    /// The budget's size, for deploy-time checks.
    total: Needs,
}

/// A connection's share of the budget, returned when dropped.
pub struct Reserved {
    _permits: [OwnedSemaphorePermit; 3],
}

impl Budget {
    /// The budget of `slots` instance slots.
    pub fn for_slots(slots: u32) -> Self {
        let total = Needs {
            core_instances: slots.saturating_mul(CORE_INSTANCES_PER_SLOT),
            memories: slots.saturating_mul(MEMORIES_PER_SLOT),
            tables: slots.saturating_mul(TABLES_PER_SLOT),
        };
        let semaphore = |n: u32| Arc::new(Semaphore::new(n as usize));
        Self {
            core_instances: semaphore(total.core_instances),
            memories: semaphore(total.memories),
            tables: semaphore(total.tables),
            total,
        }
    }

    /// Take `needs` from the budget, or nothing when any part of it is used up.
    pub fn reserve(&self, needs: Needs) -> Option<Reserved> {
        let take =
            |semaphore: &Arc<Semaphore>, n: u32| semaphore.clone().try_acquire_many_owned(n).ok();
        Some(Reserved {
            _permits: [
                take(&self.core_instances, needs.core_instances)?,
                take(&self.memories, needs.memories)?,
                take(&self.tables, needs.tables)?,
            ],
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
    };
    const RUST: Needs = Needs {
        core_instances: 3,
        memories: 1,
        tables: 2,
    };

    #[test]
    fn every_slot_can_hold_a_python_instance() {
        let budget = Budget::for_slots(100);
        let held: Vec<Reserved> = (0..100)
            .map(|_| budget.reserve(PYTHON).expect("fits"))
            .collect();
        assert_eq!(held.len(), 100);
    }

    #[test]
    fn a_budget_used_up_refuses_until_a_reservation_is_dropped() {
        let budget = Budget::for_slots(2);
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
                    tables: 8
                })
                .is_some()
        );
    }

    #[test]
    fn a_component_larger_than_the_pool_is_named_at_deploy() {
        let budget = Budget::for_slots(1);
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
