//! Instantiate: one wasmtime `Engine` on the pooling allocator, components compiled and
//! pre-instantiated once at deploy time, and a fresh `Store` + instance per connection.

mod actor;
pub mod bindings;
pub mod capacity;
mod needs;
mod output;
mod state;
mod unsupported;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{Component, HasSelf, Linker, ResourceAny};
use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
    UpdateDeadline,
};

use crate::capabilities::IngressContext;
use crate::capabilities::events::NothingToWakeOn;
use bindings::handler::AfterBatch;
use bindings::{Ingress, IngressPre};
pub use capacity::is_capacity_error;
pub use needs::Needs;
pub use state::InstanceState;

/// Actor instances live beside connection instances in the pool; callers wait for one
/// rather than being refused, since an actor call is short.
const ACTOR_INSTANCES: u32 = 64;

/// How often the epoch ticks; the CPU budget is checked at this granularity.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of each table kept resident between instances: the one page a small component's
/// table uses.
const TABLE_KEEP_RESIDENT: usize = 4096;

/// Bytes of a linear memory's written pages restored in place when its slot is freed,
/// instead of handed back to the kernel: a Rust instance writes about 40 KiB. Found with
/// `PAGEMAP_SCAN` (Linux 6.7+), so only pages the instance wrote are copied back.
const LINEAR_MEMORY_KEEP_RESIDENT: usize = 128 << 10;

/// Guard region after each linear memory. With a reservation this small wasmtime checks
/// the bounds of every access, so the guard only lets it skip checks on small offsets.
const MEMORY_GUARD: u64 = 64 << 10;

/// Limits for instances (SPEC S7).
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Concurrent instances. `None`: as many as this machine holds (see `capacity`, which
    /// also sizes the fiber stacks).
    pub max_instances: Option<u32>,
    /// Linear memory per instance, in bytes.
    pub max_memory: usize,
    /// CPU time one call into the guest may use before it is cut.
    pub cpu_per_call: Duration,
    /// Keep compiled components in wasmtime's on-disk cache (`~/.cache/wasmtime`), so a
    /// restart does not compile unchanged components again.
    pub compile_cache: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            max_instances: None,
            max_memory: 64 << 20,
            cpu_per_call: Duration::from_millis(100),
            compile_cache: true,
        }
    }
}

/// Why a component could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot configure the WebAssembly engine: {0}")]
    Engine(#[source] wasmtime::Error),
    #[error("not a valid WebAssembly component: {0:#}")]
    InvalidComponent(#[source] wasmtime::Error),
    #[error("not a component of the `sluice:ingress/ingress` world: {0:#}")]
    WrongWorld(#[source] wasmtime::Error),
    #[error("not a component of the `sluice:ingress/actor` world: {0:#}")]
    WrongActorWorld(#[source] wasmtime::Error),
    /// A component this host will never run, with what to change in its build.
    #[error("this component {0}")]
    Unsupported(String),
    /// One instance would take more of the pool than there is.
    #[error("this component {0}")]
    TooLarge(String),
}

/// A component ready to serve: linked once, and what each of its instances takes from the
/// pool.
#[derive(Clone)]
pub struct Prepared {
    pub pre: IngressPre<InstanceState>,
    pub needs: Needs,
}

/// The engine, the linker with every host capability, and the instance cap.
pub struct Runtime {
    engine: Engine,
    linker: Linker<InstanceState>,
    actor_linker: Linker<InstanceState>,
    config: RuntimeConfig,
    slots: Arc<Semaphore>,
    /// The pool's fiber stacks that connections may hold (the rest are the actor calls'):
    /// a connection holds one while a call into its guest runs or blocks, and gives it back
    /// while its stream is idle.
    stacks: Arc<Semaphore>,
    /// Core instances, memories and tables of the connections' slots.
    budget: needs::Budget,
    actor_slots: Arc<Semaphore>,
    live: Arc<AtomicUsize>,
    /// How many instances are admitted at once (`maxInstances`, or less: see `capacity`).
    instance_cap: u32,
    /// Requests answered 503 because a capacity limit was reached.
    refusals: AtomicU64,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let sizing = capacity::size(
            config.max_instances,
            ACTOR_INSTANCES,
            u64::from(needs::MEMORIES_PER_SLOT) * (config.max_memory as u64 + MEMORY_GUARD),
            &capacity::Headroom::of_this_process(),
        );
        log_sizing(&sizing);
        let mut pool = PoolingAllocationConfig::default();
        // Each slot's share of core instances, memories and tables: see `needs`.
        let cap = sizing.instances.saturating_add(ACTOR_INSTANCES);
        pool.total_component_instances(cap)
            .total_stacks(sizing.stacks)
            .total_core_instances(cap.saturating_mul(needs::CORE_INSTANCES_PER_SLOT))
            .total_memories(cap.saturating_mul(needs::MEMORIES_PER_SLOT))
            .total_tables(cap.saturating_mul(needs::TABLES_PER_SLOT))
            .max_memory_size(config.max_memory)
            // A reused slot's tables and written memory pages are reset in place, not
            // handed back to the kernel: otherwise each new instance faults them in again
            // (`madvise` and the faults were over half the CPU of a JSON request), and on a
            // machine with more than one core every such fault also flushes the other
            // cores' TLBs. The cost: a freed slot keeps that much for its next instance.
            .table_keep_resident(TABLE_KEEP_RESIDENT);
        if PoolingAllocationConfig::is_pagemap_scan_available() {
            pool.linear_memory_keep_resident(LINEAR_MEMORY_KEEP_RESIDENT)
                .pagemap_scan(wasmtime::Enabled::Auto);
        } else {
            // Without the scan wasmtime would clear the first bytes of each memory instead:
            // the bottom of a Rust guest's stack, which instances seldom reach. More faults.
            tracing::info!(
                "this kernel lacks PAGEMAP_SCAN (Linux 6.7+): freed instances' memory goes back \
                 to the kernel, so each new instance costs more CPU"
            );
        }
        let mut wasm = Config::new();
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .epoch_interruption(true)
            // Reserve only what an instance may use: thousands of instances must fit.
            .memory_reservation(config.max_memory as u64)
            .memory_guard_size(MEMORY_GUARD)
            .memory_reservation_for_growth(0)
            // Two mappings fewer per instance where images would not fit (see `capacity`).
            .memory_init_cow(sizing.memory_images);
        // `perf` can name guest functions from the map file wasmtime writes (README, Profiling).
        if std::env::var_os("SLUICE_PERF_MAP").is_some_and(|v| v == "1") {
            wasm.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if config.compile_cache {
            match Cache::new(CacheConfig::new()) {
                Ok(cache) => {
                    wasm.cache(Some(cache));
                }
                Err(err) => tracing::warn!(%err, "compiling without the on-disk cache"),
            }
        }
        let engine = Engine::new(&wasm).map_err(RuntimeError::Engine)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(RuntimeError::Engine)?;
        Ingress::add_to_linker::<_, HasSelf<InstanceState>>(&mut linker, |state| state)
            .map_err(RuntimeError::Engine)?;
        let actor_linker = actor::linker(&engine)?;
        spawn_epoch_ticker(&engine);
        Ok(Self {
            slots: Arc::new(Semaphore::new(sizing.instances as usize)),
            stacks: Arc::new(Semaphore::new(
                sizing.stacks.saturating_sub(ACTOR_INSTANCES).max(1) as usize,
            )),
            budget: needs::Budget::new(sizing.instances, sizing.memory_budget),
            instance_cap: sizing.instances,
            refusals: AtomicU64::new(0),
            actor_slots: Arc::new(Semaphore::new(ACTOR_INSTANCES as usize)),
            actor_linker,
            live: Arc::new(AtomicUsize::new(0)),
            engine,
            linker,
            config,
        })
    }

    /// Compile and link a component once, at deploy time, and count what its instances
    /// take from the pool.
    pub fn prepare(&self, wasm: &[u8]) -> Result<Prepared, RuntimeError> {
        let component = self.compile(wasm)?;
        let needs = Needs::of(wasm, &component);
        if let Some(reason) = self.budget.too_large(needs) {
            return Err(RuntimeError::TooLarge(reason));
        }
        let wrong_world = |err| self.link_error(wasm, &component, err, RuntimeError::WrongWorld);
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(wrong_world)?;
        let pre = IngressPre::new(pre).map_err(wrong_world)?;
        Ok(Prepared { pre, needs })
    }

    fn compile(&self, wasm: &[u8]) -> Result<Component, RuntimeError> {
        Component::new(&self.engine, wasm).map_err(|err| match unsupported::async_abi(wasm) {
            Some(reason) => RuntimeError::Unsupported(reason),
            None => RuntimeError::InvalidComponent(err),
        })
    }

    /// Why `component` did not link: what its build must change, when that is known, else
    /// `wrong_world(err)`.
    fn link_error(
        &self,
        wasm: &[u8],
        component: &Component,
        err: wasmtime::Error,
        wrong_world: fn(wasmtime::Error) -> RuntimeError,
    ) -> RuntimeError {
        unsupported::wasi_http_import(component, &self.engine)
            .or_else(|| unsupported::async_abi(wasm))
            .map_or_else(|| wrong_world(err), RuntimeError::Unsupported)
    }

    /// Reserve an instance slot, what an instance needing `needs` takes from the pool, and
    /// a fiber stack for its first calls, or `None` when the cap, the pool's budget or the
    /// stacks are exhausted.
    pub fn reserve(&self, needs: Needs) -> Option<Slot> {
        let permit = self.slots.clone().try_acquire_owned().ok()?;
        let stack = self.stacks.clone().try_acquire_owned().ok()?;
        let reserved = self.budget.reserve(needs)?;
        self.live.fetch_add(1, Ordering::Relaxed);
        Some(Slot {
            _permit: permit,
            stack: Some(stack),
            _reserved: reserved,
            _ingress_permit: None,
            live: self.live.clone(),
        })
    }

    /// Fiber stacks held by instances right now, running, blocked or cached between calls
    /// (actor calls' included).
    pub fn stacks_in_use(&self) -> usize {
        self.engine
            .pooling_allocator_metrics()
            .map_or(0, |metrics| metrics.stacks())
    }

    /// How many instances are admitted at once.
    pub fn instance_cap(&self) -> u32 {
        self.instance_cap
    }

    /// Count a request refused for capacity (503).
    pub fn count_refusal(&self) {
        self.refusals.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests refused for capacity since start.
    pub fn refusals(&self) -> u64 {
        self.refusals.load(Ordering::Relaxed)
    }

    /// Instances alive right now.
    pub fn live_instances(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Linear memory per instance for an ingress that asks for `mib` (`None`: the host's):
    /// no more than the host's, which is the size of every slot in the pool.
    pub fn memory_limit(&self, mib: Option<u32>) -> Result<usize, String> {
        let Some(mib) = mib else {
            return Ok(self.config.max_memory);
        };
        let bytes = (mib as usize) << 20;
        if bytes > self.config.max_memory {
            return Err(format!(
                "spec.properties.memoryPerInstanceMiB: {mib} is more than the host's \
                 memoryPerInstanceMiB ({}), the size of every instance's slot in the pool; \
                 raise the host's in sluice.yaml",
                self.config.max_memory >> 20
            ));
        }
        Ok(bytes)
    }

    /// A fresh store with the instance limits, for one connection or actor call.
    fn new_store(&self, context: Arc<IngressContext>) -> Store<InstanceState> {
        // `memory_limit` checked an ingress's own limit against the host's at deploy.
        let max_memory = context.max_memory.unwrap_or(self.config.max_memory);
        let state = InstanceState::new(context, max_memory, self.config.cpu_per_call);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut store| {
            if store.data_mut().cpu_budget_spent() {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Continue(1))
            }
        });
        store.data_mut().start_cpu_budget();
        store
    }

    /// A fresh instance of `pre` in a fresh store, for one connection.
    pub async fn instantiate(
        &self,
        pre: &IngressPre<InstanceState>,
        context: Arc<IngressContext>,
        mut slot: Slot,
    ) -> wasmtime::Result<Instance> {
        let mut store = self.new_store(context);
        let bindings = pre.instantiate_async(&mut store).await?;
        Ok(Instance {
            store,
            bindings,
            span: tracing::Span::current(),
            after: After::More,
            stack: slot.stack.take(),
            stacks: self.stacks.clone(),
            _slot: slot,
        })
    }
}

/// A reserved place in the instance pool; counted as live until dropped.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    /// A fiber stack for the instance's first calls, handed over to the `Instance`.
    stack: Option<OwnedSemaphorePermit>,
    _reserved: needs::Reserved,
    /// The place among its ingress's connections, if that ingress has a cap.
    _ingress_permit: Option<OwnedSemaphorePermit>,
    live: Arc<AtomicUsize>,
}

impl Slot {
    /// Also hold `permit` (the ingress's connection cap), so it is released exactly when
    /// the instance is, whichever way the request ends.
    pub fn with_ingress_permit(mut self, permit: Option<OwnedSemaphorePermit>) -> Self {
        self._ingress_permit = permit;
        self
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One live instance. Dropping it releases the instance, its subscriptions and its slot.
pub struct Instance {
    // Fields drop in order: the store gives its stack back to the pool before the permit
    // for it is released.
    store: Store<InstanceState>,
    bindings: Ingress,
    /// The span of the request the instance serves. A stream's pulls run in hyper's task,
    /// outside it; what its guest calls log goes back into it.
    span: tracing::Span,
    /// What the component said to do after its last pull.
    after: After,
    /// Leave to hold a fiber stack: taken before a call, given back while idle.
    stack: Option<OwnedSemaphorePermit>,
    stacks: Arc<Semaphore>,
    _slot: Slot,
}

/// What the host does after a pull (the WIT's `after-batch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Pull again: more records may be ready.
    More,
    /// Pull again once [`Instance::idle`] returns.
    Wait,
    /// The stream has ended.
    End,
}

/// What `handle` returned.
pub type Handled = Result<ResourceAny, bindings::types::Error>;

impl Instance {
    pub async fn handle(
        &mut self,
        request: &bindings::types::Request,
    ) -> wasmtime::Result<Handled> {
        self.hold_stack().await?;
        self.store.data_mut().start_cpu_budget();
        let handled = self
            .bindings
            .sluice_ingress_handler()
            .call_handle(&mut self.store, request)
            .await;
        self.store.data_mut().pause_cpu_budget();
        handled
    }

    /// The next records of `stream`, at most `max`, waiting for them if needed: between
    /// calls, without a stack, when the component says it waits for events. Empty once the
    /// stream has ended.
    pub async fn next_records(
        &mut self,
        stream: ResourceAny,
        max: u32,
    ) -> wasmtime::Result<Vec<String>> {
        loop {
            match self.after {
                After::End => return Ok(Vec::new()),
                After::Wait => self.idle().await?,
                After::More => {}
            }
            let (records, after) = self.poll_batch(stream, max).await?;
            self.after = after;
            if !records.is_empty() {
                return Ok(records);
            }
            if after == After::More {
                // Nothing yet but more to come: let other connections run before asking
                // again (a component answering `more` with nothing must not hog a thread).
                tokio::task::yield_now().await;
            }
        }
    }

    /// Up to `max` records that are ready, and what to do next.
    async fn poll_batch(
        &mut self,
        stream: ResourceAny,
        max: u32,
    ) -> wasmtime::Result<(Vec<String>, After)> {
        self.hold_stack().await?;
        self.store.data_mut().start_cpu_budget();
        let record_stream = self.bindings.sluice_ingress_handler().record_stream();
        let call = record_stream.call_poll_batch(&mut self.store, stream, max);
        let batch = InSpan {
            span: &self.span,
            inner: std::pin::pin!(call),
        }
        .await;
        self.store.data_mut().pause_cpu_budget();
        let (records, after) = batch?;
        let after = match after {
            AfterBatch::More => After::More,
            AfterBatch::Wait => After::Wait,
            AfterBatch::End => After::End,
        };
        Ok((records, after))
    }

    /// After [`After::Wait`]: give the fiber stack back to the pool, then wait until one of
    /// the subscriptions the guest named has an event or closes. Holds no thread and no
    /// stack, so thousands of idle streams cost only their memory.
    async fn idle(&mut self) -> Result<(), NothingToWakeOn> {
        self.store.release_fiber_stack();
        self.stack = None;
        self.store.data_mut().woken().await
    }

    /// Leave to hold a fiber stack for the next call: calls beyond the pool's stacks wait
    /// for one rather than fail.
    async fn hold_stack(&mut self) -> wasmtime::Result<()> {
        if self.stack.is_none() {
            let permit = self.stacks.clone().acquire_owned().await;
            self.stack = Some(permit.map_err(|_| wasmtime::format_err!("the host is stopping"))?);
        }
        Ok(())
    }

    /// The span of the request this instance serves.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// CPU time the guest ran for since the last call of this (waits excluded).
    pub fn take_cpu_time(&mut self) -> Duration {
        self.store.data_mut().take_cpu_used()
    }
}

/// A future polled inside a span it borrows: no clone of the span per call, as
/// `Instrument` would take.
struct InSpan<'a, F> {
    span: &'a tracing::Span,
    inner: Pin<&'a mut F>,
}

impl<F: Future> Future for InSpan<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let _entered = this.span.enter();
        this.inner.as_mut().poll(cx)
    }
}

/// Say how big the pool is and what decided it: an operator sizing a machine needs the
/// limit that binds.
fn log_sizing(sizing: &capacity::Sizing) {
    let mib_per_instance = capacity::AUTO_MEMORY_PER_INSTANCE >> 20;
    match sizing.configured {
        None => tracing::info!(
            admitted = sizing.instances,
            fiber_stacks = sizing.stacks,
            copy_on_write_memory_images = sizing.memory_images,
            connections_allowed_by_vm_max_map_count = ?sizing.allowed_by_maps,
            connections_allowed_by_open_file_limit = ?sizing.allowed_by_files,
            connections_allowed_by_memory = ?sizing.allowed_by_memory,
            memory_budget_bytes = ?sizing.memory_budget,
            "maxInstances not set: admitting as many instances as this machine holds, the \
             least of what vm.max_map_count, the open-file limit and the available memory (at \
             {mib_per_instance} MiB a connection) allow; each connection also takes its \
             component's data (at least {mib_per_instance} MiB) from the memory budget"
        ),
        Some(max_instances) if sizing.is_limited() => tracing::warn!(
            max_instances,
            admitted = sizing.instances,
            fiber_stacks = sizing.stacks,
            copy_on_write_memory_images = sizing.memory_images,
            connections_allowed_by_vm_max_map_count = ?sizing.allowed_by_maps,
            connections_allowed_by_open_file_limit = ?sizing.allowed_by_files,
            "this machine cannot hold maxInstances; admitting fewer (raise vm.max_map_count \
             or the open-file limit for more)"
        ),
        Some(max_instances) => tracing::info!(
            max_instances,
            admitted = sizing.instances,
            fiber_stacks = sizing.stacks,
            copy_on_write_memory_images = sizing.memory_images,
            "instance pool sized"
        ),
    }
}

/// Advance the epoch so running guests reach their CPU-budget checks. The thread ends
/// with the engine.
fn spawn_epoch_ticker(engine: &Engine) {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("sluice-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map_err(|err| tracing::error!(%err, "no epoch thread: CPU limits are not enforced"))
        .ok();
}
