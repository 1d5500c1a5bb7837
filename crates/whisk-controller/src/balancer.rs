//! Which invoker runs an activation, and what the controller knows of invokers' health.
//!
//! Placement follows OpenWhisk's sharding container-pool balancer: every action has a
//! *home* invoker, `hash(namespace, action) mod n`, and a step size co-prime to `n` (so
//! stepping visits every invoker once); the first healthy invoker along that path with
//! free memory slots for the action's memory takes it. Because every controller computes
//! the same path, warm containers of an action are found again whichever controller
//! takes the request. Each controller owns `1 / cluster_size` of every invoker's memory
//! and counts what it placed there, giving the memory back when the activation completes
//! (or, if its completion is lost, after the action's time limit plus a grace). When every
//! healthy invoker is full, the activation goes to the healthy invoker with the least
//! memory in use (it queues there, as OpenWhisk's overload path does).
//!
//! Health comes from [`Heartbeat`]s on [`HEALTH_SUBJECT`]: an invoker is `up` while it
//! sends them saying so, `unhealthy` while it drains, and `down` after
//! [`HEARTBEAT_OFFLINE_AFTER`] without one. Invokers named in the configuration (the
//! standalone one) count as up until a heartbeat of theirs says otherwise. `n` counts
//! every invoker ever heard of (numbers up to the largest), so an invoker going down does
//! not move the homes of every action.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::time::Instant;
use whisk_types::message::{Heartbeat, InvokerState, HEARTBEAT_OFFLINE_AFTER};
use whisk_types::{ActivationId, EntityName, FullyQualifiedName};

/// Memory assumed for a configured invoker that never sent a heartbeat (standalone: its
/// own invoker queues what exceeds its memory anyway).
const UNKNOWN_CAPACITY_MB: u64 = u64::MAX / 4;
/// Most activations whose slots a controller tracks; past it the oldest expired ones go.
const MAX_TRACKED: usize = 1 << 20;
/// Invoker numbers are below this. Placing walks every number up to the highest known, so a
/// heartbeat claiming a huge number (a misconfigured or hostile bus client) is ignored
/// rather than making every invoke walk billions of slots.
pub const MAX_INVOKERS: u32 = 1024;

/// An invoker's health as `GET /invokers` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvokerHealth {
    Up,
    Unhealthy,
    Down,
}

impl InvokerHealth {
    /// OpenWhisk's words.
    pub fn as_str(self) -> &'static str {
        match self {
            InvokerHealth::Up => "up",
            InvokerHealth::Unhealthy => "unhealthy",
            InvokerHealth::Down => "down",
        }
    }
}

#[derive(Debug)]
struct Invoker {
    /// The last heartbeat and when it came; `None` for a configured invoker not heard yet.
    last: Option<(Instant, InvokerState)>,
    /// This controller's share of the invoker's memory, in MB.
    capacity_mb: u64,
    /// Memory of the activations this controller placed there and still runs.
    used_mb: u64,
}

#[derive(Debug)]
struct Placed {
    invoker: u32,
    memory_mb: u64,
    /// When the slot is given back even without a completion.
    expires: Instant,
}

#[derive(Debug, Default)]
struct State {
    invokers: BTreeMap<u32, Invoker>,
    placed: HashMap<ActivationId, Placed>,
    /// The earliest `expires` among `placed` (a sweep is due then), if any.
    next_expiry: Option<Instant>,
    /// The step sizes co-prime to `steps_for` invokers, kept until the count changes.
    steps: Vec<u32>,
    steps_for: u32,
}

/// The balancer of one controller. See the module documentation.
#[derive(Debug)]
pub struct Balancer {
    /// How many controllers share each invoker's memory.
    cluster_size: u64,
    offline_after: Duration,
    state: Mutex<State>,
}

impl Balancer {
    /// A balancer that knows `configured` invokers (up until heard otherwise), sharing
    /// invokers' memory with `cluster_size - 1` other controllers.
    pub fn new(configured: &[u32], cluster_size: u64) -> Self {
        let invokers = configured
            .iter()
            .map(|id| {
                (
                    *id,
                    Invoker {
                        last: None,
                        capacity_mb: UNKNOWN_CAPACITY_MB,
                        used_mb: 0,
                    },
                )
            })
            .collect();
        Self {
            cluster_size: cluster_size.max(1),
            offline_after: HEARTBEAT_OFFLINE_AFTER,
            state: Mutex::new(State {
                steps: Vec::new(),
                steps_for: 0,
                invokers,
                ..State::default()
            }),
        }
    }

    /// The same with another offline delay (tests).
    pub fn with_offline_after(mut self, after: Duration) -> Self {
        self.offline_after = after;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes in a heartbeat.
    pub fn heartbeat(&self, beat: &Heartbeat) {
        if beat.id >= MAX_INVOKERS {
            tracing::warn!(
                invoker = beat.id,
                "Ignored a heartbeat of an invoker number above the limit of {MAX_INVOKERS}."
            );
            return;
        }
        let capacity_mb = (beat.memory_mb / self.cluster_size).max(1);
        let mut st = self.lock();
        let inv = st.invokers.entry(beat.id).or_insert(Invoker {
            last: None,
            capacity_mb,
            used_mb: 0,
        });
        inv.capacity_mb = capacity_mb;
        inv.last = Some((Instant::now(), beat.state));
    }

    fn health(&self, inv: &Invoker, now: Instant) -> InvokerHealth {
        match inv.last {
            None => InvokerHealth::Up,
            Some((at, _)) if now.saturating_duration_since(at) > self.offline_after => {
                InvokerHealth::Down
            }
            Some((_, InvokerState::Up)) => InvokerHealth::Up,
            Some((_, InvokerState::Draining)) => InvokerHealth::Unhealthy,
        }
    }

    /// Every known invoker with its health, by number.
    pub fn invokers(&self) -> Vec<(u32, InvokerHealth)> {
        let now = Instant::now();
        let st = self.lock();
        st.invokers
            .iter()
            .map(|(id, inv)| (*id, self.health(inv, now)))
            .collect()
    }

    /// `GET /invokers`: `{"invoker0/0": "up", ...}`, as OpenWhisk shows it.
    pub fn invokers_json(&self) -> Value {
        let map: Map<String, Value> = self
            .invokers()
            .into_iter()
            .map(|(id, h)| (format!("invoker{id}/{id}"), Value::from(h.as_str())))
            .collect();
        Value::Object(map)
    }

    /// Picks the invoker for an activation of `action` invoked by `namespace` needing
    /// `memory_mb`, and counts its memory there until [`Balancer::release`] or `hold`
    /// passes. `None` when no invoker is healthy.
    pub fn place(
        &self,
        id: ActivationId,
        namespace: &EntityName,
        action: &FullyQualifiedName,
        memory_mb: u64,
        hold: Duration,
    ) -> Option<u32> {
        let now = Instant::now();
        let mut st = self.lock();
        if st.next_expiry.is_some_and(|at| at <= now) || st.placed.len() >= MAX_TRACKED {
            Self::expire(&mut st, now);
        }
        let n = st.invokers.keys().next_back().map_or(0, |max| max + 1);
        if n == 0 {
            return None;
        }
        if st.steps_for != n {
            st.steps = coprime_steps(n);
            st.steps_for = n;
        }
        let (home, step) = home_and_step(stable_hash(namespace, action), n, &st.steps);
        let healthy = |st: &State, i: u32| {
            st.invokers
                .get(&i)
                .filter(|inv| self.health(inv, now) == InvokerHealth::Up)
                .map(|inv| inv.capacity_mb.saturating_sub(inv.used_mb))
        };
        let mut chosen = None;
        for k in 0..n {
            let i = ((u64::from(home) + u64::from(k) * u64::from(step)) % u64::from(n)) as u32;
            if healthy(&st, i).is_some_and(|free| free >= memory_mb) {
                chosen = Some(i);
                break;
            }
        }
        if chosen.is_none() {
            // Every healthy invoker is full: the least loaded one queues it.
            chosen = (0..n)
                .filter(|i| healthy(&st, *i).is_some())
                .min_by_key(|i| {
                    let inv = &st.invokers[i];
                    (
                        inv.used_mb.saturating_mul(1000) / inv.capacity_mb.max(1),
                        *i,
                    )
                });
        }
        let invoker = chosen?;
        if let Some(inv) = st.invokers.get_mut(&invoker) {
            inv.used_mb = inv.used_mb.saturating_add(memory_mb);
        }
        let expires = now + hold;
        st.next_expiry = Some(st.next_expiry.map_or(expires, |at| at.min(expires)));
        if let Some(old) = st.placed.insert(
            id,
            Placed {
                invoker,
                memory_mb,
                expires,
            },
        ) {
            Self::give_back(&mut st, &old);
        }
        Some(invoker)
    }

    /// Gives back the memory of a finished (or unpublished) activation.
    pub fn release(&self, id: &ActivationId) {
        let mut st = self.lock();
        if let Some(p) = st.placed.remove(id) {
            Self::give_back(&mut st, &p);
        }
    }

    /// Gives back slots held past their time (their completions were lost).
    pub fn expire_lost(&self) {
        Self::expire(&mut self.lock(), Instant::now());
    }

    /// Gives back every slot held past its time; at most one sweep per hold (the next
    /// is due at the earliest expiry left).
    fn expire(st: &mut State, now: Instant) {
        let gone: Vec<ActivationId> = st
            .placed
            .iter()
            .filter(|(_, p)| p.expires <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(p) = st.placed.remove(&id) {
                Self::give_back(st, &p);
            }
        }
        st.next_expiry = st.placed.values().map(|p| p.expires).min();
    }

    fn give_back(st: &mut State, p: &Placed) {
        if let Some(inv) = st.invokers.get_mut(&p.invoker) {
            inv.used_mb = inv.used_mb.saturating_sub(p.memory_mb);
        }
    }

    /// Memory this controller counts as used on `invoker` (tests, metrics).
    pub fn used_mb(&self, invoker: u32) -> u64 {
        self.lock().invokers.get(&invoker).map_or(0, |i| i.used_mb)
    }

    /// The home invoker and step of an action among `n` invokers (tests, docs).
    pub fn path(namespace: &EntityName, action: &FullyQualifiedName, n: u32) -> (u32, u32) {
        let n = n.max(1);
        home_and_step(stable_hash(namespace, action), n, &coprime_steps(n))
    }
}

/// The home invoker among `n` and the step size for `hash`.
fn home_and_step(hash: u64, n: u32, steps: &[u32]) -> (u32, u32) {
    (
        (hash % u64::from(n)) as u32,
        steps[(hash % steps.len() as u64) as usize],
    )
}

/// FNV-1a over namespace, a zero byte and the action's name as it prints: the same in
/// every controller and every build (the standard library's hasher is seeded per
/// process). The name is fed as it is formatted, without building a string per invoke.
fn stable_hash(namespace: &EntityName, action: &FullyQualifiedName) -> u64 {
    struct Fnv(u64);
    impl Fnv {
        fn bytes(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 ^= u64::from(*b);
                self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }
    impl std::fmt::Write for Fnv {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.bytes(s.as_bytes());
            Ok(())
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.bytes(namespace.as_str().as_bytes());
    h.bytes(&[0]);
    // Writing into the hasher cannot fail.
    let _ = std::fmt::Write::write_fmt(&mut h, format_args!("{action}"));
    h.0
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Step sizes for `n` invokers: numbers up to `n` co-prime to `n` and to each other
/// (OpenWhisk's `pairwiseCoprimeNumbersUntil`), so every step visits all invokers.
fn coprime_steps(n: u32) -> Vec<u32> {
    let mut steps: Vec<u32> = Vec::new();
    for x in 1..=n.max(1) {
        if gcd(x, n) == 1 && steps.iter().all(|s| gcd(*s, x) == 1) {
            steps.push(x);
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(s: &str) -> EntityName {
        EntityName::new(s).unwrap()
    }

    fn fqn(s: &str) -> FullyQualifiedName {
        FullyQualifiedName::parse(s).unwrap()
    }

    fn beat(id: u32, state: InvokerState, memory_mb: u64) -> Heartbeat {
        Heartbeat {
            id,
            state,
            memory_mb,
        }
    }

    fn balancer(n: u32, memory_mb: u64) -> Balancer {
        let b = Balancer::new(&[], 1);
        for id in 0..n {
            b.heartbeat(&beat(id, InvokerState::Up, memory_mb));
        }
        b
    }

    const HOLD: Duration = Duration::from_secs(60);

    #[test]
    fn steps_are_coprime_and_visit_every_invoker() {
        assert_eq!(coprime_steps(1), vec![1]);
        assert_eq!(coprime_steps(4), vec![1, 3]);
        assert_eq!(coprime_steps(6), vec![1, 5]);
        assert_eq!(coprime_steps(10), vec![1, 3, 7]);
        for n in 1..=12 {
            for step in coprime_steps(n) {
                let mut seen: Vec<u32> = (0..n).map(|k| (k * step) % n).collect();
                seen.sort_unstable();
                assert_eq!(seen, (0..n).collect::<Vec<_>>(), "n={n} step={step}");
            }
        }
    }

    #[test]
    fn the_home_invoker_is_stable() {
        let b = balancer(5, 1024);
        let (home, _) = Balancer::path(&ns("guest"), &fqn("guest/hello"), 5);
        for _ in 0..20 {
            let id = ActivationId::generate();
            let got = b.place(id, &ns("guest"), &fqn("guest/hello"), 128, HOLD);
            assert_eq!(got, Some(home));
            b.release(&id);
        }
        // Another balancer (another controller) computes the same home.
        let other = balancer(5, 1024);
        let got = other.place(
            ActivationId::generate(),
            &ns("guest"),
            &fqn("guest/hello"),
            128,
            HOLD,
        );
        assert_eq!(got, Some(home));
        // Different actions spread over invokers.
        let homes: std::collections::BTreeSet<u32> = (0..40)
            .map(|i| Balancer::path(&ns("guest"), &fqn(&format!("guest/a{i}")), 5).0)
            .collect();
        assert!(homes.len() >= 3, "{homes:?}");
    }

    #[test]
    fn a_full_home_steps_on_and_completion_frees_it() {
        let b = balancer(4, 512);
        let (home, step) = Balancer::path(&ns("guest"), &fqn("guest/hello"), 4);
        let first = ActivationId::generate();
        let second = ActivationId::generate();
        let third = ActivationId::generate();
        let place = |id| b.place(id, &ns("guest"), &fqn("guest/hello"), 256, HOLD);
        assert_eq!(place(first), Some(home));
        assert_eq!(place(second), Some(home));
        assert_eq!(b.used_mb(home), 512);
        // Home is full: the next one goes one step on.
        assert_eq!(place(third), Some((home + step) % 4));
        b.release(&first);
        assert_eq!(b.used_mb(home), 256);
        assert_eq!(place(ActivationId::generate()), Some(home));
    }

    #[test]
    fn heartbeats_of_numbers_past_the_limit_are_ignored() {
        let b = balancer(2, 1024);
        b.heartbeat(&beat(MAX_INVOKERS, InvokerState::Up, 1024));
        b.heartbeat(&beat(u32::MAX, InvokerState::Up, 1024));
        let known: Vec<u32> = b.invokers().into_iter().map(|(i, _)| i).collect();
        assert_eq!(known, vec![0, 1]);
    }

    #[test]
    fn unhealthy_and_offline_invokers_are_skipped() {
        let b = balancer(3, 1024).with_offline_after(Duration::from_millis(50));
        let (home, step) = Balancer::path(&ns("guest"), &fqn("guest/hello"), 3);
        b.heartbeat(&beat(home, InvokerState::Draining, 1024));
        let got = b.place(
            ActivationId::generate(),
            &ns("guest"),
            &fqn("guest/hello"),
            128,
            HOLD,
        );
        assert_eq!(got, Some((home + step) % 3));
        let health: HashMap<u32, InvokerHealth> = b.invokers().into_iter().collect();
        assert_eq!(health[&home], InvokerHealth::Unhealthy);
        // No heartbeats for longer than the offline delay: all down, nothing placed.
        std::thread::sleep(Duration::from_millis(80));
        assert!(b.invokers().iter().all(|(_, h)| *h == InvokerHealth::Down));
        let got = b.place(
            ActivationId::generate(),
            &ns("guest"),
            &fqn("guest/hello"),
            128,
            HOLD,
        );
        assert_eq!(got, None);
        assert_eq!(
            b.invokers_json()[format!("invoker{home}/{home}")],
            Value::from("down")
        );
    }

    #[test]
    fn when_all_are_full_the_least_loaded_healthy_one_queues_it() {
        let b = balancer(2, 256);
        let p = |b: &Balancer| {
            b.place(
                ActivationId::generate(),
                &ns("guest"),
                &fqn("guest/hello"),
                256,
                HOLD,
            )
            .unwrap()
        };
        let a = p(&b);
        let c = p(&b);
        assert_ne!(a, c);
        let d = p(&b);
        assert!(d < 2);
        assert_eq!(b.used_mb(0) + b.used_mb(1), 768);
    }

    #[test]
    fn lost_completions_give_their_memory_back_after_the_hold() {
        let b = balancer(1, 256);
        let id = ActivationId::generate();
        b.place(
            id,
            &ns("guest"),
            &fqn("guest/hello"),
            256,
            Duration::from_millis(10),
        );
        assert_eq!(b.used_mb(0), 256);
        std::thread::sleep(Duration::from_millis(20));
        // The next placement sweeps it.
        let next = ActivationId::generate();
        b.place(next, &ns("guest"), &fqn("guest/hello"), 128, HOLD);
        assert_eq!(b.used_mb(0), 128);
        b.release(&next);
        assert_eq!(b.used_mb(0), 0);
    }

    #[test]
    fn memory_is_shared_between_controllers() {
        let b = Balancer::new(&[], 2);
        b.heartbeat(&beat(0, InvokerState::Up, 1024));
        b.heartbeat(&beat(1, InvokerState::Up, 1024));
        let (home, _) = Balancer::path(&ns("guest"), &fqn("guest/hello"), 2);
        let p = || {
            b.place(
                ActivationId::generate(),
                &ns("guest"),
                &fqn("guest/hello"),
                256,
                HOLD,
            )
        };
        // 512 MB is this controller's half of the home invoker.
        assert_eq!(p(), Some(home));
        assert_eq!(p(), Some(home));
        assert_eq!(p(), Some(1 - home));
    }
}
