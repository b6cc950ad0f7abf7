//! What one instance owns: its WASI context (with no ambient authority), its resource
//! table, its memory limit, its CPU budget, and the capabilities its ingress grants.

use std::sync::Arc;
use std::time::Duration;

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
    /// The CPU clock of the thread the guest runs on, when it last started running: reset
    /// on every call into the guest and after every host call that waited, so time spent
    /// waiting is never charged — nor time the thread spent on other work, as a wall clock
    /// would on a loaded machine.
    pub(crate) running_since: ThreadCpu,
    pub(crate) cpu_budget: Duration,
    /// CPU time the guest ran for since it was last taken (for the `guest_cpu` metric).
    cpu_used: Duration,
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
            running_since: ThreadCpu::now(),
            cpu_budget,
            cpu_used: Duration::ZERO,
        }
    }

    /// The guest is (again) running on the CPU from now on.
    pub(crate) fn start_cpu_budget(&mut self) {
        self.running_since = ThreadCpu::now();
    }

    /// The guest stops running (a call returns, or a host call is about to wait): charge
    /// the CPU it used since it last started. Time on another thread than the one it
    /// started on is not charged: two threads' clocks cannot be compared.
    pub(crate) fn pause_cpu_budget(&mut self) {
        self.cpu_used += self.running_since.lap();
    }

    /// CPU time the guest ran for since the last call of this, which resets it.
    pub(crate) fn take_cpu_used(&mut self) -> Duration {
        std::mem::take(&mut self.cpu_used)
    }

    /// Whether the guest has used its CPU budget since it last started running. A guest
    /// resumed on another thread (after an async host call) starts counting again there:
    /// two threads' CPU clocks cannot be compared.
    pub(crate) fn cpu_budget_spent(&mut self) -> bool {
        self.running_since.used_more_than(self.cpu_budget)
    }
}

/// A reading of the calling thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ThreadCpu {
    thread: std::thread::ThreadId,
    time: Duration,
}

impl ThreadCpu {
    /// Whether this thread used more than `budget` of CPU since this reading; on another
    /// thread, the reading moves there and starts again.
    fn used_more_than(&mut self, budget: Duration) -> bool {
        let now = Self::now();
        if now.thread != self.thread {
            *self = now;
            return false;
        }
        now.time.saturating_sub(self.time) > budget
    }

    /// CPU time this thread used since this reading (zero if it was taken on another
    /// thread); the reading moves to now, so no time is charged twice.
    fn lap(&mut self) -> Duration {
        let now = Self::now();
        let used = if now.thread == self.thread {
            now.time.saturating_sub(self.time)
        } else {
            Duration::ZERO
        };
        *self = now;
        used
    }

    fn now() -> Self {
        let spec = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Self {
            thread: std::thread::current().id(),
            time: Duration::new(
                u64::try_from(spec.tv_sec).unwrap_or(0),
                u32::try_from(spec.tv_nsec).unwrap_or(0),
            ),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Duration = Duration::from_millis(50);

    #[test]
    fn time_the_thread_spends_waiting_is_not_charged() {
        let mut since = ThreadCpu::now();
        std::thread::sleep(BUDGET * 4);
        assert!(!since.used_more_than(BUDGET));
    }

    #[test]
    fn time_the_thread_spends_running_is_charged() {
        let mut since = ThreadCpu::now();
        let mut spins: u64 = 0;
        while !since.used_more_than(BUDGET) {
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
        assert!(ThreadCpu::now().time.saturating_sub(since.time) > BUDGET);
    }

    #[test]
    fn cpu_used_on_this_thread_is_measured() {
        let mut since = ThreadCpu::now();
        let mut spins: u64 = 0;
        while !since.used_more_than(BUDGET) {
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
        assert!(since.lap() > BUDGET);
        assert!(
            since.lap() < BUDGET,
            "a lap starts where the last one ended"
        );
    }

    #[test]
    fn a_reading_from_another_thread_is_not_charged_here() {
        let mut elsewhere = std::thread::spawn(ThreadCpu::now).join().expect("thread");
        assert_eq!(elsewhere.lap(), Duration::ZERO);
    }

    #[test]
    fn a_reading_from_another_thread_starts_again_here() {
        let mut elsewhere = std::thread::spawn(ThreadCpu::now).join().expect("thread");
        assert!(!elsewhere.used_more_than(Duration::ZERO));
        assert_eq!(elsewhere.thread, std::thread::current().id());
    }
}
