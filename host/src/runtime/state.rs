//! What one instance owns: its WASI context (with no ambient authority), its resource
//! table, its memory limit, its CPU budget, and the capabilities its ingress grants.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::EPOCH_TICK;
use super::output::GuestOutput;
use crate::capabilities::IngressContext;

/// The data of one instance's `Store`. Built fresh per connection, dropped with it.
pub struct InstanceState {
    pub(crate) context: Arc<IngressContext>,
    pub(crate) table: ResourceTable,
    wasi: WasiCtx,
    pub(crate) limits: StoreLimits,
    /// How long the guest has run since it last started: reset on every call into the
    /// guest and after every host call that waited, so time spent waiting is never charged.
    pub(crate) running: GuestClock,
    pub(crate) cpu_budget: Duration,
    /// CPU time the guest ran for since it was last taken (for the `guest_cpu` metric).
    cpu_used: Duration,
    /// The subscriptions (table reps) named with `events.wake-on`: a stream idle after
    /// `after-batch.wait` is pulled again once one of them has an event.
    pub(crate) wake_on: Vec<u32>,
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
            running: GuestClock::start(),
            cpu_budget,
            cpu_used: Duration::ZERO,
            wake_on: Vec::new(),
        }
    }

    /// The guest is (again) running on the CPU from now on.
    pub(crate) fn start_cpu_budget(&mut self) {
        self.running = GuestClock::start();
    }

    /// The guest stops running (a call returns, or a host call is about to wait): charge
    /// the CPU it used since it last started. Time on another thread than the one it
    /// started on is not charged: two threads' clocks cannot be compared.
    pub(crate) fn pause_cpu_budget(&mut self) {
        self.cpu_used += self.running.used(false);
        self.running = GuestClock::start();
    }

    /// CPU time the guest ran for since the last call of this, which resets it.
    pub(crate) fn take_cpu_used(&mut self) -> Duration {
        std::mem::take(&mut self.cpu_used)
    }

    /// Whether the guest has used its CPU budget since it last started running. Called on
    /// every epoch tick while the guest runs.
    pub(crate) fn cpu_budget_spent(&mut self) -> bool {
        self.running.used(true) > self.cpu_budget
    }
}

/// After this much wall time, an activation is measured on the thread's CPU clock.
const CONFIRM_AFTER: Duration = Duration::from_millis(1);

/// The most wall time charged before that first reading. A guest that runs without a break
/// reaches an epoch check within a tick of [`CONFIRM_AFTER`], so wall time beyond this is
/// time its thread did not run it: the OS ran another thread, the hypervisor ran another
/// machine, or the process was stopped. Charging it would cut off a well-behaved guest
/// whose thread lost the CPU for a budget's length. A second tick allows for a late ticker.
const MOST_UNCONFIRMED: Duration = CONFIRM_AFTER.saturating_add(EPOCH_TICK.saturating_mul(2));

/// The time a guest has run since it started, read cheaply.
///
/// The thread's CPU clock excludes time the OS gave to other threads, which the wall clock
/// counts on a loaded machine, but reading it is a system call, and one event woke
/// thousands of instances, each starting and pausing several times. So an activation is
/// timed on the monotonic clock. CPU time never exceeds wall time, so charging wall time
/// errs towards charging more. The first epoch check (one tick at most) past
/// [`CONFIRM_AFTER`] reads the thread's CPU clock once. From then on the guest is charged
/// the wall time before that reading, at most [`MOST_UNCONFIRMED`], plus the CPU time
/// since. Only a long-running guest pays for the system call, and it is charged for at most
/// two ticks of other threads' time. A guest changes threads only while a host call waits.
/// The capabilities' calls start a new activation; WASI's do not, and CPU time read on
/// another thread than the first reading's is not charged ([`ThreadCpu`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuestClock {
    started: Instant,
    /// The thread's CPU clock when first read in this activation, and the wall time charged
    /// before that reading.
    confirmed: Option<(ThreadCpu, Duration)>,
}

impl GuestClock {
    pub(crate) fn start() -> Self {
        Self {
            started: Instant::now(),
            confirmed: None,
        }
    }

    /// The time charged since the start. `confirm`: an epoch check, which may read the
    /// thread's CPU clock (see the type's docs).
    fn used(&mut self, confirm: bool) -> Duration {
        match self.confirmed {
            Some((cpu, before)) => before + cpu.elapsed(),
            None => {
                let wall = self.started.elapsed().min(MOST_UNCONFIRMED);
                if confirm && wall >= CONFIRM_AFTER {
                    self.confirmed = Some((ThreadCpu::now(), wall));
                }
                wall
            }
        }
    }
}

/// A reading of the calling thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ThreadCpu {
    thread: std::thread::ThreadId,
    time: Duration,
}

impl ThreadCpu {
    /// CPU time this thread used since this reading; zero on another thread, whose clock
    /// cannot be compared.
    fn elapsed(&self) -> Duration {
        let now = Self::now();
        if now.thread == self.thread {
            now.time.saturating_sub(self.time)
        } else {
            Duration::ZERO
        }
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

    fn spin_until(mut done: impl FnMut() -> bool) {
        let mut spins: u64 = 0;
        while !done() {
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
    }

    #[test]
    fn a_short_activation_is_charged_its_wall_time_without_a_cpu_reading() {
        let mut clock = GuestClock::start();
        let used = clock.used(true);
        assert!(used < CONFIRM_AFTER, "{used:?}");
        assert!(
            clock.confirmed.is_none(),
            "no system call for a short activation"
        );
    }

    #[test]
    fn time_the_thread_spends_waiting_after_the_first_tick_is_not_charged() {
        let mut clock = GuestClock::start();
        let started = Instant::now();
        spin_until(|| started.elapsed() >= CONFIRM_AFTER);
        let before = clock.used(true);
        assert!(
            clock.confirmed.is_some(),
            "the first check past a tick reads the CPU clock"
        );
        std::thread::sleep(BUDGET * 4);
        let used = clock.used(true);
        assert!(used < BUDGET, "{used:?}: the sleep was charged");
        assert!(used >= before);
    }

    #[test]
    fn time_the_thread_lost_before_the_first_tick_is_not_charged() {
        // As if the thread had lost the CPU for 500 ms right after the guest started.
        let started = Instant::now()
            .checked_sub(Duration::from_millis(500))
            .expect("the clock goes back 500 ms");
        let mut clock = GuestClock {
            started,
            confirmed: None,
        };
        let used = clock.used(true);
        assert!(
            used <= MOST_UNCONFIRMED,
            "{used:?}: the lost time was charged"
        );
        assert!(used < BUDGET, "{used:?}");
        assert!(clock.confirmed.is_some(), "read on the CPU clock from here");
        assert!(clock.used(false) < BUDGET, "nor when the guest pauses");
    }

    #[test]
    fn time_the_thread_spends_running_is_charged() {
        let mut clock = GuestClock::start();
        let cpu = ThreadCpu::now();
        spin_until(|| clock.used(true) > BUDGET);
        assert!(
            clock.confirmed.is_some(),
            "a long activation is read on the CPU clock"
        );
        assert!(cpu.elapsed() > BUDGET / 2, "the thread really ran");
    }

    #[test]
    fn a_reading_from_another_thread_is_not_charged_here() {
        let elsewhere = std::thread::spawn(ThreadCpu::now).join().expect("thread");
        assert_eq!(elsewhere.elapsed(), Duration::ZERO);
    }
}
