//! What one instance owns: its WASI context (with no ambient authority), its resource
//! table, its memory limit, its CPU budget, and the capabilities its ingress grants.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::output::GuestOutput;
use crate::capabilities::IngressContext;

/// The data of one instance's `Store`. Built fresh per connection, dropped with it.
pub struct InstanceState {
    pub(crate) context: Arc<IngressContext>,
    pub(crate) table: ResourceTable,
    wasi: WasiCtx,
    pub(crate) limits: StoreLimits,
    /// When the guest last started running on the CPU: reset on every call into the guest
    /// and after every host call that waited, so time spent waiting is never charged.
    pub(crate) running_since: Instant,
    pub(crate) cpu_budget: Duration,
}

impl InstanceState {
    pub(crate) fn new(
        context: Arc<IngressContext>,
        max_memory: usize,
        cpu_budget: Duration,
    ) -> Self {
        // WASI is linked only because Rust's std imports it; the context grants nothing:
        // no preopened directories, environment, arguments, stdin or network. Its stdout
        // and stderr go to the host log, capped (see `output`).
        let (stdout, stderr) = GuestOutput::pair(&context.ingress_id);
        let wasi = WasiCtx::builder()
            .stdout(stdout)
            .stderr(stderr)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            context,
            table: ResourceTable::new(),
            wasi,
            limits: StoreLimitsBuilder::new()
                .memory_size(max_memory)
                .trap_on_grow_failure(true)
                .build(),
            running_since: Instant::now(),
            cpu_budget,
        }
    }

    /// The guest is (again) running on the CPU from now on.
    pub(crate) fn start_cpu_budget(&mut self) {
        self.running_since = Instant::now();
    }

    pub(crate) fn cpu_budget_spent(&self) -> bool {
        self.running_since.elapsed() > self.cpu_budget
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
