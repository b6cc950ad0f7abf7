//! How many instances this machine can hold, and which failures mean "out of capacity".
//!
//! The pooling allocator maps its fiber stacks when the engine starts (a stack and its guard
//! page: two mappings per slot), and every live instance splits the memory pool into more.
//! A store keeps its fiber stack from its first call until it is dropped (wasmtime 48 caches
//! it per store and offers no way to release it early), so every live instance holds a
//! stack. When the process reaches `vm.max_map_count`, `mmap` fails — for wasmtime, which
//! answers with an error, and for the host's own allocator, which aborts the process. So the
//! pool is sized, and admission capped, to leave the host headroom; what is left of the
//! open-file limit bounds connections the same way.
//!
//! A memory that starts as a copy-on-write image of the component's data costs four
//! mappings (the Rust stack region, the image, the heap above it, the guard beyond); one
//! whose data is copied in costs two (the accessible pages, the guard). Images instantiate
//! about twice as fast and share the data pages, so they are used whenever `maxInstances`
//! fits with them, and copying only where it lets the machine hold more connections.

/// Mappings the pool makes per slot when the engine starts: a fiber stack and its guard.
const MAPS_PER_SLOT: u64 = 2;
/// Mappings one live instance adds with copy-on-write memory images.
const MAPS_PER_INSTANCE_WITH_IMAGES: u64 = 4;
/// Mappings one live instance adds when its memory's data is copied in.
const MAPS_PER_INSTANCE_COPIED: u64 = 2;
/// Mappings kept for the host itself: threads' stacks, allocator arenas, large buffers.
const HOST_MAPS: u64 = 4096;
/// Files kept for the host itself: the listener, the store, logs, outgoing connections.
const HOST_FILES: u64 = 256;

/// What the kernel allows this process, read at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headroom {
    /// `vm.max_map_count`; `None` where it cannot be read (not Linux).
    pub max_map_count: Option<u64>,
    /// Mappings the process holds already.
    pub maps_in_use: u64,
    /// The soft open-file limit (`RLIMIT_NOFILE`); `None` where unknown or unlimited.
    pub open_files_limit: Option<u64>,
    /// Files the process holds open already.
    pub files_in_use: u64,
}

impl Headroom {
    /// This process's limits, as far as they can be read.
    pub fn of_this_process() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        Self {
            max_map_count: read("/proc/sys/vm/max_map_count")
                .and_then(|text| text.trim().parse().ok()),
            maps_in_use: read("/proc/self/maps").map_or(0, |maps| maps.lines().count() as u64),
            open_files_limit: rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft)
                .filter(|&soft| soft != rlimit::INFINITY),
            files_in_use: std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count() as u64),
        }
    }
}

/// How many instances the pool holds and admission allows, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizing {
    /// Instances admitted at once: `maxInstances`, or less where the machine cannot hold it.
    pub instances: u32,
    /// Whether instance memories start as copy-on-write images (else their data is copied).
    pub memory_images: bool,
    /// Instances the mapping limit allows (pool slots included) with the chosen memories,
    /// if known.
    pub allowed_by_maps: Option<u64>,
    /// Connections the open-file limit allows, if known.
    pub allowed_by_files: Option<u64>,
}

impl Sizing {
    /// Whether the machine's limits, not `maxInstances`, set the cap.
    pub fn is_limited(&self, max_instances: u32) -> bool {
        self.instances < max_instances
    }
}

/// Size the pool for `max_instances` (plus `extra` slots for actor calls) within `headroom`.
/// Each slot costs its stack's mappings at start and an instance's when used; each
/// connection one file. At least one instance is always admitted.
pub fn size(max_instances: u32, extra: u32, headroom: &Headroom) -> Sizing {
    let allowed_by_maps = |per_instance: u64| {
        headroom.max_map_count.map(|max| {
            let free = max.saturating_sub(headroom.maps_in_use + HOST_MAPS);
            (free / (MAPS_PER_SLOT + per_instance)).saturating_sub(u64::from(extra))
        })
    };
    let allowed_by_files = headroom
        .open_files_limit
        .map(|limit| limit.saturating_sub(headroom.files_in_use + HOST_FILES));
    let admitted = |by_maps: Option<u64>| {
        [by_maps, allowed_by_files]
            .into_iter()
            .flatten()
            .fold(u64::from(max_instances), u64::min)
            .max(1)
    };
    let with_images = allowed_by_maps(MAPS_PER_INSTANCE_WITH_IMAGES);
    let copied = allowed_by_maps(MAPS_PER_INSTANCE_COPIED);
    let memory_images = admitted(with_images) >= admitted(copied);
    let allowed_by_maps = if memory_images { with_images } else { copied };
    Sizing {
        instances: u32::try_from(admitted(allowed_by_maps)).unwrap_or(u32::MAX),
        memory_images,
        allowed_by_maps,
        allowed_by_files,
    }
}

/// Whether instantiation failed for want of capacity — a pool's slots (instances, core
/// instances, memories, tables, stacks), or memory or mappings from the kernel — rather
/// than because of the component. Those are answered 503: they pass.
pub fn is_capacity_error(err: &wasmtime::Error) -> bool {
    err.chain().any(|cause| {
        cause.is::<wasmtime::PoolConcurrencyLimitError>()
            || cause.is::<wasmtime::OutOfMemory>()
            || cause
                .downcast_ref::<rustix::io::Errno>()
                .is_some_and(|errno| *errno == rustix::io::Errno::NOMEM)
            || cause.downcast_ref::<std::io::Error>().is_some_and(|io| {
                io.kind() == std::io::ErrorKind::OutOfMemory
                    || io.raw_os_error() == Some(rustix::io::Errno::NOMEM.raw_os_error())
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headroom(max_map_count: Option<u64>, open_files_limit: Option<u64>) -> Headroom {
        Headroom {
            max_map_count,
            maps_in_use: 400,
            open_files_limit,
            files_in_use: 20,
        }
    }

    #[test]
    fn a_roomy_machine_admits_max_instances_with_memory_images() {
        let sizing = size(1000, 64, &headroom(Some(1 << 20), Some(1 << 20)));
        assert_eq!(sizing.instances, 1000);
        assert!(sizing.memory_images);
        assert!(!sizing.is_limited(1000));
    }

    #[test]
    fn max_instances_that_fit_with_images_keep_them_on_a_stock_machine() {
        // 65530 - 400 in use - 4096 kept = 61034 mappings, 6 per slot with images: 10172,
        // less 64 for actors.
        let sizing = size(10_000, 64, &headroom(Some(65_530), Some(1 << 20)));
        assert!(sizing.memory_images);
        assert_eq!(sizing.allowed_by_maps, Some(10_108));
        assert_eq!(sizing.instances, 10_000);
    }

    #[test]
    fn the_stock_mapping_limit_copies_memories_to_hold_more() {
        // 61034 free mappings, 4 per slot with copied memories: 15258, less 64 for actors.
        let sizing = size(30_000, 64, &headroom(Some(65_530), Some(1 << 20)));
        assert!(!sizing.memory_images);
        assert_eq!(sizing.allowed_by_maps, Some(15_194));
        assert_eq!(sizing.instances, 15_194);
        assert!(sizing.is_limited(30_000));
    }

    #[test]
    fn images_are_kept_when_copying_would_not_admit_more() {
        // The open-file limit binds before either mapping figure does.
        let sizing = size(30_000, 64, &headroom(Some(65_530), Some(5_000)));
        assert!(sizing.memory_images);
        assert_eq!(sizing.instances, 5_000 - 20 - 256);
    }

    #[test]
    fn the_open_file_limit_caps_connections() {
        let sizing = size(30_000, 64, &headroom(Some(1 << 24), Some(20_000)));
        assert_eq!(sizing.allowed_by_files, Some(20_000 - 20 - 256));
        assert_eq!(sizing.instances, 19_724);
        assert!(sizing.memory_images);
    }

    #[test]
    fn unknown_limits_leave_max_instances() {
        let sizing = size(5000, 64, &headroom(None, None));
        assert_eq!(sizing.instances, 5000);
        assert_eq!(sizing.allowed_by_maps, None);
        assert!(sizing.memory_images);
    }

    #[test]
    fn a_machine_with_no_room_still_admits_one() {
        let sizing = size(1000, 64, &headroom(Some(100), Some(10)));
        assert_eq!(sizing.instances, 1);
    }

    #[test]
    fn an_exhausted_pool_is_a_capacity_error() {
        use wasmtime::{
            Config, Engine, InstanceAllocationStrategy, Module, PoolingAllocationConfig, Store,
        };
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(1)
            .total_memories(1)
            .total_tables(1)
            .total_stacks(1)
            .total_component_instances(1);
        let mut config = Config::new();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).expect("engine");
        // The empty module: magic and version.
        let module = Module::new(&engine, b"\0asm\x01\0\0\0").expect("module");
        let mut first = Store::new(&engine, ());
        let _held = wasmtime::Instance::new(&mut first, &module, &[]).expect("first instance");
        let mut second = Store::new(&engine, ());
        let err = wasmtime::Instance::new(&mut second, &module, &[]).expect_err("pool is full");
        assert!(is_capacity_error(&err), "{err:#}");
    }

    #[test]
    fn kernel_out_of_memory_is_a_capacity_error_and_a_trap_is_not() {
        let mmap = wasmtime::Error::from(rustix::io::Errno::NOMEM).context("mmap");
        assert!(is_capacity_error(&mmap));
        let io = wasmtime::Error::from(std::io::Error::from_raw_os_error(12)).context("stack");
        assert!(is_capacity_error(&io));
        assert!(!is_capacity_error(&wasmtime::Error::msg(
            "wasm trap: unreachable"
        )));
        assert!(!is_capacity_error(&wasmtime::Error::from(
            rustix::io::Errno::INVAL
        )));
    }
}
