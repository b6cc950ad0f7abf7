//! How many instances this machine can hold, and which failures mean "out of capacity".
//!
//! The pooling allocator maps its fiber stacks when the engine starts (a stack and its guard
//! page: two mappings each), and every live instance splits the memory pool into more. A
//! stack is needed only while a call into a guest runs or blocks: a stream idle between
//! events gives its stack back (`Instance::idle`), so the pool holds fewer stacks than
//! instances when mappings are short. When the process reaches `vm.max_map_count`, `mmap`
//! fails — for wasmtime, which answers with an error, and for the host's own allocator, which
//! aborts the process. So the pool is sized, and admission capped, to leave the host
//! headroom; what is left of the open-file limit bounds connections the same way.
//!
//! Without `maxInstances` the pool is sized from the machine alone: the smallest of what the
//! mapping limit (with images, below), the open-file limit and the memory available allow,
//! at [`AUTO_MEMORY_PER_INSTANCE`] a connection.
//!
//! A memory that starts as a copy-on-write image of the component's data costs four
//! mappings (the Rust stack region, the image, the heap above it, the guard beyond); one
//! whose data is copied in costs two (the accessible pages, the guard). Images instantiate
//! about twice as fast and share the data pages, so they are used whenever `maxInstances`
//! fits with them, and copying only where it lets the machine hold more of the connections
//! `maxInstances` asks for. Copying costs each instance its component's whole data: 16 KB
//! for the demo's Rust components, 2.8 MB for a JavaScript one, 11.5 MB for Python.
//!
//! Stacks come out of what the instances leave: one per instance (and actor slot) where the
//! mappings allow, never fewer than [`MIN_STACKS`]. Calls beyond the stacks wait for one
//! (`Runtime::stack`); a component that blocks inside a call while it waits for events holds
//! its stack for that long (the Rust SDK never does, see `after-batch` in the WIT).

/// Mappings one fiber stack costs from the engine's start: the stack and its guard page.
const MAPS_PER_STACK: u64 = 2;
/// Mappings one live instance adds with copy-on-write memory images.
const MAPS_PER_INSTANCE_WITH_IMAGES: u64 = 4;
/// Mappings one live instance adds when its memory's data is copied in.
const MAPS_PER_INSTANCE_COPIED: u64 = 2;
/// Stacks the pool keeps however short mappings are: calls running or blocked at once (in a
/// query, an actor call, or a component's own `events.wait`) before more calls wait.
pub const MIN_STACKS: u32 = 1024;
/// Mappings kept for the host itself: threads' stacks, allocator arenas, large buffers.
const HOST_MAPS: u64 = 4096;
/// Files kept for the host itself: the listener, the store, logs, outgoing connections.
const HOST_FILES: u64 = 256;
/// Memory counted per connection when `maxInstances` is not set: about ten times what an idle
/// SSE connection of a Rust component holds (98 KiB, BENCHMARKS.md), for buffers, bursts and
/// busier components. Components with more data are counted at their data (see `needs`).
pub const AUTO_MEMORY_PER_INSTANCE: u64 = 1 << 20;
/// Instances admitted without `maxInstances` where the machine's limits cannot be read.
pub const FALLBACK_INSTANCES: u32 = 1000;
/// Address space the pool may reserve when sizing itself: a quarter of the 128 TiB a 64-bit
/// Linux process has, so a machine with huge limits does not size a pool it cannot map.
const AUTO_ADDRESS_SPACE: u64 = 1 << 45;

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
    /// Memory available to this process: the kernel's `MemAvailable`, or less where its
    /// cgroup's limit leaves less; `None` where unknown.
    pub memory_available: Option<u64>,
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
            memory_available: [mem_available(), cgroup_memory_left()]
                .into_iter()
                .flatten()
                .min(),
        }
    }
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
fn mem_available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo
        .lines()
        .find(|line| line.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// What this process's cgroup may still allocate under its limit (v2 `memory.max`, v1
/// `memory.limit_in_bytes`); `None` when it has no limit or is not in one.
fn cgroup_memory_left() -> Option<u64> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let read = |dir: &std::path::Path, name: &str| -> Option<u64> {
        std::fs::read_to_string(dir.join(name))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let root = std::path::Path::new("/sys/fs/cgroup");
    membership.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let path = path.trim_start_matches('/');
        if controllers.is_empty() {
            // v2: `memory.max` reads `max` when unlimited, which does not parse.
            let dir = root.join(path);
            let limit = read(&dir, "memory.max")?;
            Some(limit.saturating_sub(read(&dir, "memory.current").unwrap_or(0)))
        } else if controllers
            .split(',')
            .any(|controller| controller == "memory")
        {
            // v1: no limit reads as a number near 2^63.
            let dir = root.join("memory").join(path);
            let limit = read(&dir, "memory.limit_in_bytes")?;
            Some(limit.saturating_sub(read(&dir, "memory.usage_in_bytes").unwrap_or(0)))
        } else {
            None
        }
    })
}

/// How many instances the pool holds and admission allows, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizing {
    /// Instances admitted at once: `maxInstances`, or less where the machine cannot hold it;
    /// without `maxInstances`, what the machine holds.
    pub instances: u32,
    /// `maxInstances`, when set.
    pub configured: Option<u32>,
    /// Whether instance memories start as copy-on-write images (else their data is copied).
    pub memory_images: bool,
    /// Fiber stacks in the pool, actor calls' included: calls into guests that can run or
    /// block at once.
    pub stacks: u32,
    /// Instances the mapping limit allows (pool slots included) with the chosen memories,
    /// if known.
    pub allowed_by_maps: Option<u64>,
    /// Connections the open-file limit allows, if known.
    pub allowed_by_files: Option<u64>,
    /// Connections the available memory allows at [`AUTO_MEMORY_PER_INSTANCE`] each, if known.
    pub allowed_by_memory: Option<u64>,
    /// Sized from the machine: the memory available for instances, which connections
    /// reserve from by their components' data (see `needs`).
    pub memory_budget: Option<u64>,
}

impl Sizing {
    /// Whether the machine's limits, not `maxInstances`, set the cap.
    pub fn is_limited(&self) -> bool {
        self.configured
            .is_some_and(|wanted| self.instances < wanted)
    }
}

/// Size the pool for `max_instances` plus `extra` slots for actor calls, within `headroom`;
/// each slot reserves `reserved_per_slot` bytes of address space. Each instance costs its
/// memory's mappings when used and each stack two from the start; each connection one file.
/// Without `max_instances`, memory and address space bound it too. At least one instance is
/// always admitted.
pub fn size(
    max_instances: Option<u32>,
    extra: u32,
    reserved_per_slot: u64,
    headroom: &Headroom,
) -> Sizing {
    let free_maps = headroom
        .max_map_count
        .map(|max| max.saturating_sub(headroom.maps_in_use + HOST_MAPS));
    let allowed_by_maps = |per_instance: u64| {
        free_maps.map(|free| {
            let for_instances = free.saturating_sub(u64::from(MIN_STACKS) * MAPS_PER_STACK);
            (for_instances / per_instance).saturating_sub(u64::from(extra))
        })
    };
    let allowed_by_files = headroom
        .open_files_limit
        .map(|limit| limit.saturating_sub(headroom.files_in_use + HOST_FILES));
    let allowed_by_memory = headroom
        .memory_available
        .map(|bytes| bytes / AUTO_MEMORY_PER_INSTANCE);
    let by_address_space =
        (AUTO_ADDRESS_SPACE / reserved_per_slot.max(1)).saturating_sub(u64::from(extra));
    let admitted = |by_maps: Option<u64>| {
        let admitted = match max_instances {
            Some(wanted) => [by_maps, allowed_by_files]
                .into_iter()
                .flatten()
                .fold(u64::from(wanted), u64::min),
            None => [allowed_by_memory, by_maps, allowed_by_files]
                .into_iter()
                .flatten()
                .min()
                .map_or(u64::from(FALLBACK_INSTANCES), |held| {
                    held.min(by_address_space)
                }),
        };
        admitted.max(1)
    };
    let with_images = allowed_by_maps(MAPS_PER_INSTANCE_WITH_IMAGES);
    let copied = allowed_by_maps(MAPS_PER_INSTANCE_COPIED);
    // Sized from the machine, images stay: copying costs every instance its component's
    // whole data (11.5 MB for a Python component), where an operator who asks for more
    // connections than images allow chooses that trade.
    let memory_images = max_instances.is_none() || admitted(with_images) >= admitted(copied);
    let (allowed_by_maps, per_instance) = if memory_images {
        (with_images, MAPS_PER_INSTANCE_WITH_IMAGES)
    } else {
        (copied, MAPS_PER_INSTANCE_COPIED)
    };
    let instances = admitted(allowed_by_maps);
    let slots = instances + u64::from(extra);
    // A stack per slot where the mappings left by the instances allow it.
    let stacks = free_maps.map_or(slots, |free| {
        let left = free.saturating_sub(slots * per_instance) / MAPS_PER_STACK;
        left.clamp(u64::from(MIN_STACKS), slots.max(u64::from(MIN_STACKS)))
    });
    Sizing {
        instances: u32::try_from(instances).unwrap_or(u32::MAX),
        configured: max_instances,
        memory_images,
        stacks: u32::try_from(stacks.min(slots)).unwrap_or(u32::MAX),
        allowed_by_maps,
        allowed_by_files,
        allowed_by_memory,
        memory_budget: headroom
            .memory_available
            .filter(|_| max_instances.is_none()),
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

    /// What a pool slot reserves with the default 64 MiB memories: two memories and guards.
    const RESERVED: u64 = 2 * ((64 << 20) + (64 << 10));

    fn headroom(max_map_count: Option<u64>, open_files_limit: Option<u64>) -> Headroom {
        Headroom {
            max_map_count,
            maps_in_use: 400,
            open_files_limit,
            files_in_use: 20,
            memory_available: Some(20 << 30),
        }
    }

    #[test]
    fn a_roomy_machine_admits_max_instances_with_memory_images() {
        let sizing = size(
            Some(1000),
            64,
            RESERVED,
            &headroom(Some(1 << 20), Some(1 << 20)),
        );
        assert_eq!(sizing.instances, 1000);
        assert!(sizing.memory_images);
        assert!(!sizing.is_limited());
    }

    #[test]
    fn max_instances_that_fit_with_images_keep_them_on_a_stock_machine() {
        // 65530 - 400 in use - 4096 kept = 61034 mappings; less 1024 stacks' 2048, 4 per
        // instance with images: 14746, less 64 for actors.
        let sizing = size(
            Some(10_000),
            64,
            RESERVED,
            &headroom(Some(65_530), Some(1 << 20)),
        );
        assert!(sizing.memory_images);
        assert_eq!(sizing.allowed_by_maps, Some(14_682));
        assert_eq!(sizing.instances, 10_000);
        // 61034 - 10064 slots * 4 leaves room for a stack per slot.
        assert_eq!(sizing.stacks, 10_064);
    }

    #[test]
    fn the_stock_mapping_limit_copies_memories_to_hold_more() {
        // 61034 free mappings less 2048 for the fewest stacks, 2 per instance with copied
        // memories: 29493, less 64 for actors.
        let sizing = size(
            Some(30_000),
            64,
            RESERVED,
            &headroom(Some(65_530), Some(1 << 20)),
        );
        assert!(!sizing.memory_images);
        assert_eq!(sizing.allowed_by_maps, Some(29_429));
        assert_eq!(sizing.instances, 29_429);
        assert_eq!(sizing.stacks, MIN_STACKS, "idle streams hold no stack");
        assert!(sizing.is_limited());
    }

    #[test]
    fn nineteen_thousand_connections_fit_a_stock_machine() {
        // 19000 instances and 64 actor slots copied: 38128 mappings, which leaves 22906 for
        // 11453 stacks.
        let sizing = size(
            Some(19_000),
            64,
            RESERVED,
            &headroom(Some(65_530), Some(1 << 20)),
        );
        assert!(!sizing.memory_images);
        assert_eq!(sizing.instances, 19_000);
        assert_eq!(sizing.stacks, 11_453);
        assert!(!sizing.is_limited());
    }

    #[test]
    fn images_are_kept_when_copying_would_not_admit_more() {
        // The open-file limit binds before either mapping figure does.
        let sizing = size(
            Some(30_000),
            64,
            RESERVED,
            &headroom(Some(65_530), Some(5_000)),
        );
        assert!(sizing.memory_images);
        assert_eq!(sizing.instances, 5_000 - 20 - 256);
    }

    #[test]
    fn the_open_file_limit_caps_connections() {
        let sizing = size(
            Some(30_000),
            64,
            RESERVED,
            &headroom(Some(1 << 24), Some(20_000)),
        );
        assert_eq!(sizing.allowed_by_files, Some(20_000 - 20 - 256));
        assert_eq!(sizing.instances, 19_724);
        assert!(sizing.memory_images);
    }

    #[test]
    fn unknown_limits_leave_max_instances() {
        let sizing = size(Some(5000), 64, RESERVED, &headroom(None, None));
        assert_eq!(sizing.instances, 5000);
        assert_eq!(sizing.allowed_by_maps, None);
        assert!(sizing.memory_images);
    }

    #[test]
    fn without_max_instances_the_tightest_of_maps_files_and_memory_decides() {
        // A stock machine: the mapping limit with images (14,682) binds before 20 GiB of
        // memory (20,480) and 20,000 open files (19,724). Copied memories would allow 29,429,
        // but sized from the machine the host keeps images.
        let stock = size(None, 64, RESERVED, &headroom(Some(65_530), Some(20_000)));
        assert_eq!(stock.instances, 14_682);
        // 61034 - 14746 slots * 4 leaves 2050 mappings: 1025 stacks.
        assert_eq!(stock.stacks, 1025);
        assert_eq!(stock.configured, None);
        assert!(stock.memory_images);
        assert!(!stock.is_limited(), "nothing configured, nothing cut");
        assert_eq!(stock.allowed_by_memory, Some(20_480));
        assert_eq!(stock.memory_budget, Some(20 << 30));
        let set = size(
            Some(1000),
            64,
            RESERVED,
            &headroom(Some(65_530), Some(20_000)),
        );
        assert_eq!(
            set.memory_budget, None,
            "maxInstances set: no memory budget"
        );

        let roomy = size(None, 64, RESERVED, &headroom(Some(1 << 24), Some(1 << 20)));
        assert_eq!(roomy.instances, 20_480, "memory binds");
        assert!(roomy.memory_images);

        let few_files = size(None, 64, RESERVED, &headroom(Some(1 << 24), Some(1024)));
        assert_eq!(few_files.instances, 1024 - 20 - 256);

        let small = Headroom {
            memory_available: Some(512 << 20),
            ..headroom(Some(65_530), Some(20_000))
        };
        let small = size(None, 64, RESERVED, &small);
        assert_eq!(small.instances, 512);
        assert!(small.memory_images, "images fit 512 instances");
    }

    #[test]
    fn without_max_instances_a_huge_machine_stays_within_the_address_space() {
        let huge = Headroom {
            memory_available: Some(1 << 42),
            ..headroom(Some(1 << 30), Some(1 << 30))
        };
        let sizing = size(None, 64, RESERVED, &huge);
        assert_eq!(u64::from(sizing.instances), (1 << 45) / RESERVED - 64);
    }

    #[test]
    fn without_max_instances_or_readable_limits_the_fallback_applies() {
        let unknown = Headroom {
            memory_available: None,
            ..headroom(None, None)
        };
        let sizing = size(None, 64, RESERVED, &unknown);
        assert_eq!(sizing.instances, FALLBACK_INSTANCES);
        assert!(sizing.memory_images);
    }

    #[test]
    fn this_machine_can_be_read() {
        let headroom = Headroom::of_this_process();
        if cfg!(target_os = "linux") {
            assert!(
                headroom
                    .max_map_count
                    .is_some_and(|max| max > headroom.maps_in_use)
            );
            assert!(headroom.memory_available.is_some_and(|bytes| bytes > 0));
        }
    }

    #[test]
    fn a_machine_with_no_room_still_admits_one() {
        let sizing = size(Some(1000), 64, RESERVED, &headroom(Some(100), Some(10)));
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
