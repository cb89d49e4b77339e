//! Reconnect delays: full-jitter exponential backoff.
//!
//! Attempt `n` (0-based) waits a uniformly drawn delay in `[0, min(cap, base × 2ⁿ)]`
//! ("full jitter", AWS Architecture Blog, *Exponential Backoff And Jitter*, 2015): clients
//! that lost the venue together (a venue restart drops everyone) spread their reconnects
//! instead of retrying in lock-step. The draws come from a seeded splitmix64 stream, so a run
//! is reproducible. Off the hot path (the connection threads only).

use mm_io::{WsClient, WsOptions};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Where and how a connection thread reconnects (md and gateway threads).
#[derive(Clone, Debug)]
pub struct ReconnectOpts {
    /// The venue's WebSocket URL.
    pub endpoint: String,
    /// Socket options (TLS roots, connect timeout).
    pub ws: WsOptions,
    /// Delays between attempts and when to give up.
    pub policy: BackoffPolicy,
}

/// Why a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// `stop` was set (a requested stop).
    Stopped,
    /// The connection was lost (read error, close, silence past the heartbeat limit, a
    /// failed write); the text says how.
    Lost(String),
}

/// How long a connection may stay silent before it counts as lost: 3 heartbeat intervals
/// (`heartbeat_s` seconds, the venue sends a heartbeat at least every interval, dossier §3.1);
/// `None` without heartbeats.
pub fn silence_limit(heartbeat_s: u32) -> Option<Duration> {
    (heartbeat_s > 0).then(|| Duration::from_secs(3 * heartbeat_s as u64))
}

/// The reconnect loop of one outage that began at `down_since`: wait [`Backoff::next_delay`]
/// (returning early if `stop` is set), connect to `rc.endpoint`, run `setup` on the new
/// socket (login, subscribe, reconcile), repeat until `setup` succeeds. Returns the ready
/// socket and `setup`'s value, or `None` when `stop` was set or the outage has lasted
/// `rc.policy.give_up_after` (checked before each attempt). `what` names the connection in
/// the logs; `on_wait` runs every few ms while waiting (the gateway answers intents there).
///
/// The blocking form of [`Outage`] (which the connection loops poll instead, so one thread
/// can keep serving other work during an outage).
pub fn reconnect<T>(
    rc: &ReconnectOpts,
    backoff: &mut Backoff,
    down_since: Instant,
    stop: &AtomicBool,
    what: &str,
    mut setup: impl FnMut(&mut WsClient) -> Result<T, String>,
    on_wait: &mut dyn FnMut(),
) -> Option<(WsClient, T)> {
    if stop.load(Ordering::Relaxed) {
        return None;
    }
    on_wait();
    let mut outage = Outage::begin_at(down_since, backoff, what)?;
    loop {
        while !outage.is_due() {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            on_wait();
            std::thread::sleep(outage.retry_in().min(Duration::from_millis(5)));
        }
        match outage.attempt(rc, backoff, what, &mut setup) {
            Attempt::Connected(ws, v) => return Some((ws, v)),
            Attempt::GaveUp => return None,
            Attempt::Failed => {}
        }
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        on_wait();
    }
}

/// One outage of a connection, polled: when it began, when the next attempt is due, and
/// [`Outage::attempt`] to make it. Attempts follow `backoff` (full jitter); the outage is
/// given up once it has lasted `give_up_after` (checked before each delay, so
/// `give_up_after = 0` never reconnects).
#[derive(Clone, Copy, Debug)]
pub struct Outage {
    since: Instant,
    retry_at: Instant,
}

/// What one [`Outage::attempt`] came to.
// Made once per reconnect attempt and consumed at once: the size difference is harmless.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Attempt<T> {
    /// Connected and set up: the socket and `setup`'s value; the backoff is reset.
    Connected(WsClient, T),
    /// Failed (logged); the next attempt is scheduled.
    Failed,
    /// Failed, and the outage has lasted `give_up_after` (logged).
    GaveUp,
}

impl Outage {
    /// An outage beginning now; `None` (logged) when the policy gives up at once.
    pub fn begin(backoff: &mut Backoff, what: &str) -> Option<Outage> {
        Outage::begin_at(Instant::now(), backoff, what)
    }

    /// An outage that began at `since`; its first attempt is due after one backoff delay.
    /// `None` (logged) when it is already to be given up.
    pub fn begin_at(since: Instant, backoff: &mut Backoff, what: &str) -> Option<Outage> {
        let mut o = Outage {
            since,
            retry_at: since,
        };
        o.schedule(backoff, what).then_some(o)
    }

    /// When the outage began.
    pub fn since(&self) -> Instant {
        self.since
    }

    /// True when the next attempt is due.
    pub fn is_due(&self) -> bool {
        Instant::now() >= self.retry_at
    }

    /// Until the next attempt is due (zero when due).
    pub fn retry_in(&self) -> Duration {
        self.retry_at.saturating_duration_since(Instant::now())
    }

    /// Connects to `rc.endpoint` and runs `setup` on the new socket (closing it if `setup`
    /// fails). Call it when [`Self::is_due`]; it blocks for the connect and `setup`.
    pub fn attempt<T>(
        &mut self,
        rc: &ReconnectOpts,
        backoff: &mut Backoff,
        what: &str,
        setup: &mut impl FnMut(&mut WsClient) -> Result<T, String>,
    ) -> Attempt<T> {
        let attempt = backoff.attempts();
        let res = WsClient::connect(&rc.endpoint, &rc.ws)
            .map_err(|e| format!("connect: {e}"))
            .and_then(|mut ws| match setup(&mut ws) {
                Ok(v) => Ok((ws, v)),
                Err(e) => {
                    ws.close();
                    Err(e)
                }
            });
        match res {
            Ok((ws, v)) => {
                log::info!(
                    "{what}: reconnected after {:.3} s ({attempt} attempts)",
                    self.since.elapsed().as_secs_f64()
                );
                backoff.reset();
                Attempt::Connected(ws, v)
            }
            Err(e) => {
                log::warn!("{what}: reconnect attempt {attempt}: {e}");
                if self.schedule(backoff, what) {
                    Attempt::Failed
                } else {
                    Attempt::GaveUp
                }
            }
        }
    }

    /// Schedules the next attempt one delay from now; false (logged) when given up.
    fn schedule(&mut self, backoff: &mut Backoff, what: &str) -> bool {
        let down_for = self.since.elapsed();
        if backoff.gave_up(down_for) {
            log::error!(
                "{what}: giving up reconnecting after {:.1} s ({} attempts)",
                down_for.as_secs_f64(),
                backoff.attempts()
            );
            return false;
        }
        self.retry_at = Instant::now() + backoff.next_delay();
        true
    }
}

/// What one poll of a connection link (`FeedLink`, `GatewayLink`) found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPoll {
    /// Frames were read or written (or a reconnect completed): poll again at once.
    Work,
    /// Connected, nothing to do: the caller may idle (e.g. the link's `wait`).
    Idle,
    /// The connection is lost and the next reconnect attempt is not due yet: the caller may
    /// sleep until [`LinkState::retry_in`].
    Down,
    /// `stop` was set, or reconnecting was given up: the link is closed for good.
    Ended,
}

/// The up / down (an [`Outage`] in progress) / ended state of a connection link, shared by
/// the md and order links so both follow the same reconnect rules.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkState {
    outage: Option<Outage>,
    ended: bool,
}

impl LinkState {
    /// Connected and not ended.
    pub fn is_up(&self) -> bool {
        self.outage.is_none() && !self.ended
    }

    /// Down: an outage is in progress.
    pub fn is_down(&self) -> bool {
        self.outage.is_some() && !self.ended
    }

    /// Ended for good.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Marks the link ended.
    pub fn end(&mut self) {
        self.ended = true;
    }

    /// Until the next reconnect attempt is due (zero when connected or due now).
    pub fn retry_in(&self) -> Duration {
        self.outage.map(|o| o.retry_in()).unwrap_or_default()
    }

    /// The connection was just lost: an outage begins ([`LinkPoll::Down`]), or, when the
    /// policy gives up at once, the link ends ([`LinkPoll::Ended`]).
    pub fn lose(&mut self, backoff: &mut Backoff, what: &str) -> LinkPoll {
        match Outage::begin(backoff, what) {
            Some(o) => {
                self.outage = Some(o);
                LinkPoll::Down
            }
            None => {
                self.ended = true;
                LinkPoll::Ended
            }
        }
    }

    /// While down: makes the reconnect attempt if it is due ([`Outage::attempt`]). `Ok`
    /// with the new socket, `setup`'s value and the outage's start (the link is up again);
    /// `Err(Down)` when not due or failed, `Err(Ended)` when given up, `Err(Work)` when the
    /// link was not down.
    pub fn reconnect<T>(
        &mut self,
        rc: &ReconnectOpts,
        backoff: &mut Backoff,
        what: &str,
        setup: &mut impl FnMut(&mut WsClient) -> Result<T, String>,
    ) -> Result<(WsClient, T, Instant), LinkPoll> {
        let Some(mut o) = self.outage.filter(|_| !self.ended) else {
            return Err(LinkPoll::Work);
        };
        if !o.is_due() {
            return Err(LinkPoll::Down);
        }
        let res = o.attempt(rc, backoff, what, setup);
        self.outage = Some(o);
        match res {
            Attempt::Connected(ws, v) => {
                self.outage = None;
                Ok((ws, v, o.since()))
            }
            Attempt::Failed => Err(LinkPoll::Down),
            Attempt::GaveUp => {
                self.ended = true;
                Err(LinkPoll::Ended)
            }
        }
    }

    /// Idles a link: while up, blocks in `ws`'s `epoll` until readable (or rung) or
    /// `timeout`; while down, sleeps until the next attempt is due, at most `timeout`.
    pub fn wait(&self, ws: &mut WsClient, timeout: Duration) {
        if self.outage.is_some() {
            std::thread::sleep(self.retry_in().min(timeout));
        } else if !self.ended {
            let _ = ws.wait(Some(timeout));
        }
    }
}

/// The backoff policy of the reconnect loops (md and gateway threads).
#[derive(Clone, Debug, PartialEq)]
pub struct BackoffPolicy {
    /// Upper bound of the first delay.
    pub base: Duration,
    /// Largest upper bound (the exponential growth stops there).
    pub cap: Duration,
    /// Give up reconnecting once this long has passed since the connection was lost
    /// (`Duration::ZERO` = never reconnect: the loss ends the thread, as `--reconnect-max-secs
    /// 0`).
    pub give_up_after: Duration,
    /// Seed of the jitter stream.
    pub seed: u64,
}

impl Default for BackoffPolicy {
    /// 100 ms base, ×2 per attempt, 5 s cap, give up after 60 s.
    fn default() -> Self {
        BackoffPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
            give_up_after: Duration::from_secs(60),
            seed: 0x6d6d_2d66_6173_7421,
        }
    }
}

/// The delays of one outage: [`Backoff::next_delay`] per failed attempt, [`Backoff::reset`]
/// once connected again.
#[derive(Clone, Debug)]
pub struct Backoff {
    policy: BackoffPolicy,
    attempt: u32,
    state: u64,
}

impl Backoff {
    /// A backoff at attempt 0 with the policy's seed.
    pub fn new(policy: BackoffPolicy) -> Self {
        let state = policy.seed;
        Backoff {
            policy,
            attempt: 0,
            state,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &BackoffPolicy {
        &self.policy
    }

    /// Attempts made since the last [`Backoff::reset`].
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The upper bound of attempt `n`'s delay: `min(cap, base × 2ⁿ)`.
    pub fn ceiling(&self, n: u32) -> Duration {
        let base = self.policy.base.as_nanos() as u64;
        let grown = base.saturating_mul(1u64.checked_shl(n.min(63)).unwrap_or(u64::MAX));
        Duration::from_nanos(grown).min(self.policy.cap)
    }

    /// The delay to wait before the next attempt (uniform in `[0, ceiling(attempt)]`), and
    /// counts the attempt.
    pub fn next_delay(&mut self) -> Duration {
        let ceil = self.ceiling(self.attempt).as_nanos() as u64;
        self.attempt = self.attempt.saturating_add(1);
        if ceil == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.next_u64() % (ceil + 1))
    }

    /// Connected again: the next outage starts at attempt 0 (the jitter stream continues).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Whether an outage that began `down_for` ago should be given up.
    pub fn gave_up(&self, down_for: Duration) -> bool {
        down_for >= self.policy.give_up_after
    }

    /// splitmix64 (Steele, Lea, Flood 2014).
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let b = Backoff::new(BackoffPolicy::default());
        let c: Vec<Duration> = (0..10).map(|n| b.ceiling(n)).collect();
        assert_eq!(
            c,
            [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000].map(ms)
        );
        assert_eq!(b.ceiling(200), ms(5000), "no overflow for huge attempts");
    }

    #[test]
    fn delays_stay_under_the_ceiling_and_are_jittered() {
        let mut b = Backoff::new(BackoffPolicy::default());
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            b.reset();
            for n in 0..8 {
                let d = b.next_delay();
                assert!(d <= b.ceiling(n), "attempt {n}: {d:?}");
                seen.insert(d);
            }
            assert_eq!(b.attempts(), 8);
        }
        assert!(
            seen.len() > 300,
            "full jitter: {} distinct delays",
            seen.len()
        );
        // Full jitter: delays of the first attempt spread over [0, 100 ms].
        let mut b = Backoff::new(BackoffPolicy::default());
        let firsts: Vec<Duration> = (0..1000)
            .map(|_| {
                b.reset();
                b.next_delay()
            })
            .collect();
        assert!(firsts.iter().any(|d| *d < ms(10)));
        assert!(firsts.iter().any(|d| *d > ms(90)));
    }

    #[test]
    fn same_seed_same_delays() {
        let p = BackoffPolicy {
            seed: 42,
            ..Default::default()
        };
        let mut a = Backoff::new(p.clone());
        let mut b = Backoff::new(p);
        let xs: Vec<Duration> = (0..20).map(|_| a.next_delay()).collect();
        let ys: Vec<Duration> = (0..20).map(|_| b.next_delay()).collect();
        assert_eq!(xs, ys);
        let mut c = Backoff::new(BackoffPolicy {
            seed: 43,
            ..Default::default()
        });
        let zs: Vec<Duration> = (0..20).map(|_| c.next_delay()).collect();
        assert_ne!(xs, zs);
    }

    #[test]
    fn silence_limit_is_three_heartbeats() {
        assert_eq!(silence_limit(0), None, "no heartbeats: no silence limit");
        assert_eq!(silence_limit(1), Some(Duration::from_secs(3)));
        assert_eq!(silence_limit(10), Some(Duration::from_secs(30)));
    }

    #[test]
    fn gives_up_after_the_limit() {
        let b = Backoff::new(BackoffPolicy {
            give_up_after: ms(1500),
            ..Default::default()
        });
        assert!(!b.gave_up(ms(1499)));
        assert!(b.gave_up(ms(1500)));
        let never = Backoff::new(BackoffPolicy {
            give_up_after: Duration::ZERO,
            ..Default::default()
        });
        assert!(never.gave_up(Duration::ZERO), "0 = never reconnect");
    }

    /// An outage polls through its attempts: none with `give_up_after = 0`; with a refused
    /// endpoint each attempt fails and schedules the next one (delay ≤ the ceiling), and
    /// once the outage is older than `give_up_after` the failing attempt gives up.
    #[test]
    fn outage_schedules_attempts_and_gives_up() {
        let mut never = Backoff::new(BackoffPolicy {
            give_up_after: Duration::ZERO,
            ..Default::default()
        });
        assert!(Outage::begin(&mut never, "t").is_none());
        // Port 1 on loopback: nothing listens, the connect is refused at once.
        let rc = ReconnectOpts {
            endpoint: "ws://127.0.0.1:1/ws".into(),
            ws: WsOptions {
                connect_timeout: ms(500),
                ..WsOptions::default()
            },
            policy: BackoffPolicy::default(),
        };
        let mut b = Backoff::new(BackoffPolicy {
            base: ms(1),
            cap: ms(1),
            give_up_after: ms(20),
            ..Default::default()
        });
        let mut o = Outage::begin(&mut b, "t").expect("not given up");
        assert!(o.retry_in() <= ms(1));
        let mut setups = 0;
        let mut setup = |_: &mut WsClient| -> Result<(), String> {
            setups += 1;
            Ok(())
        };
        assert!(matches!(
            o.attempt(&rc, &mut b, "t", &mut setup),
            Attempt::Failed
        ));
        assert_eq!(b.attempts(), 2, "first delay + the one after the failure");
        // Once the outage is older than `give_up_after`, the failing attempt gives up.
        std::thread::sleep(ms(25));
        assert!(o.is_due());
        assert!(matches!(
            o.attempt(&rc, &mut b, "t", &mut setup),
            Attempt::GaveUp
        ));
        assert_eq!(setups, 0, "setup never runs without a connection");
    }
}
