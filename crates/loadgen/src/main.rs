//! `loadgen`: measures whiskd against floors taken in the same run, one scenario per
//! folder under `scenarios/`, on the shared harness in `harness/` (starting whiskd,
//! bounded load, floors, whiskd's CPU time, printing with the targets). By
//! default each scenario starts its own `whiskd standalone` on a free 127.0.0.1 port in
//! a temporary data directory and stops it at the end; all traffic stays on loopback.
//! `--help` lists the scenarios with an example each.

mod harness;
mod scenarios;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;

use harness::whiskd::Target;
use harness::Noop;

/// Largest `--distinct`: actions the many scenario creates.
const MAX_DISTINCT: usize = 1000;
/// Largest `--rules`: one activation list page (200) must hold a fire's records.
const MAX_RULES: usize = 190;

const SCENARIOS_HELP: &str = "\
Scenarios (each prints Markdown tables, its floors and ratios, whiskd's CPU time per
activation from /proc/<pid>/stat, and issue 11's targets with met/MISSED):

  warm      Blocking invokes of the docker skeleton (--image) and a Node.js no-op at each
            --concurrency, beside the same load sent straight to the warm containers' /run
            (the loopback floor). Targets: added p50/p99 at c=1, CPU per activation,
            Node.js activations/s.
              loadgen --scenario warm --count 2000 --concurrency 1,4,16
  many      Throughput of --distinct actions invoked round robin against one action's, in
            the same whiskd, at --many-concurrency. Target: at least half.
              loadgen --scenario many --distinct 100 --count 2000
  cold      Cold start to result per --factories (docker, runc, process; a factory whiskd
            does not know is reported as skipped), beside raw `docker run` to first byte
            and `runc run` of the same image as an OCI bundle. Targets: docker <= 1.1x raw,
            runc p50 <= 40 ms.
              loadgen --scenario cold --factories docker,runc,process --cold-count 20
  resume    A paused container's next invoke (whiskd --pause-grace-ms; skipped when whiskd
            does not know it) against the same idle time with pausing off. Target: <= 1 ms.
              loadgen --scenario resume --pause-grace-ms 50 --idle-ms 300 --resume-count 30
  fanout    A trigger with --rules rules to as many actions: each of --fires fires until
            every rule's activation record is stored, beside one warm invoke.
              loadgen --scenario fanout --rules 10 --fires 20
  runtimes  Start-up paths of the native kinds: raw docker run, cold, from a stem cell, warm.
              loadgen --scenario runtimes --kinds nodejs:18,python:3.11 --cold-count 20
  all       Every scenario above, in that order.
              loadgen --scenario all --count 500

Against a whiskd already running (warm, many, fanout; runtimes with --invoker-label):
  loadgen --scenario warm --apihost http://127.0.0.1:3233 --auth \"$(cat ~/.rwhisk/guest.key)\"";

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Warm blocking invokes beside the container's own `/run`.
    Warm,
    /// Many distinct actions against one.
    Many,
    /// Cold start per container factory beside `docker run` and `runc run`.
    Cold,
    /// A paused container's next invoke.
    Resume,
    /// A trigger fired to many rules.
    Fanout,
    /// Per native kind: raw `docker run`, cold start, stem cell, warm.
    Runtimes,
    /// All of the above.
    All,
}

/// Which no-op actions the warm scenario measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NoopKind {
    /// The docker skeleton image (`--image`).
    Skeleton,
    /// The Node.js no-op (`--node-kind`).
    Node,
}

#[derive(Debug, Parser)]
#[command(version, about, after_help = SCENARIOS_HELP)]
pub struct Args {
    /// Scenarios to run, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "warm")]
    pub scenario: Vec<Scenario>,
    /// The whiskd binary to start [default: `whiskd` next to loadgen].
    #[arg(long, value_name = "PATH")]
    pub whiskd: Option<PathBuf>,
    /// An extra flag for every whiskd started (repeat for more; `--whiskd-arg=--flag`).
    #[arg(long = "whiskd-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub whiskd_args: Vec<String>,
    /// Use a whiskd already running at this URL instead of starting one.
    #[arg(long, value_name = "URL")]
    pub apihost: Option<String>,
    /// With --apihost: `uuid:key` [default: contents of ~/.rwhisk/guest.key].
    #[arg(long)]
    pub auth: Option<String>,
    /// With --apihost: the running whiskd's process id, for its CPU time.
    #[arg(long, value_name = "PID")]
    pub whiskd_pid: Option<u32>,
    /// Image of the docker skeleton no-op.
    #[arg(long, default_value = "whisk/example-c")]
    pub image: String,
    /// Kind of the Node.js no-op.
    #[arg(long, default_value = "nodejs:18")]
    pub node_kind: String,
    /// Measured requests per run (warm, many).
    #[arg(long, default_value_t = 2000)]
    pub count: usize,
    /// Concurrency levels (warm).
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    pub concurrency: Vec<usize>,
    /// Unmeasured requests per worker before each run.
    #[arg(long, default_value_t = 20)]
    pub warmup: usize,
    /// Longest any one measured run may take, in seconds.
    #[arg(long, default_value_t = 120)]
    pub max_seconds: u64,
    /// warm: the no-ops to measure.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "skeleton,node"
    )]
    pub warm_actions: Vec<NoopKind>,
    /// many: distinct actions.
    #[arg(long, default_value_t = 100)]
    pub distinct: usize,
    /// many: concurrency of both runs.
    #[arg(long, default_value_t = 4)]
    pub many_concurrency: usize,
    /// many: memory limit of each action, in MB.
    #[arg(long, default_value_t = 128)]
    pub many_memory_mb: u64,
    /// cold: the container factories to measure.
    #[arg(long, value_delimiter = ',', default_value = "docker,runc,process")]
    pub factories: Vec<String>,
    /// cold, runtimes: samples per path.
    #[arg(long, default_value_t = 20)]
    pub cold_count: usize,
    /// resume: whiskd's pause grace.
    #[arg(long, default_value_t = 50)]
    pub pause_grace_ms: u64,
    /// resume: idle time before each measured invoke (longer than the grace).
    #[arg(long, default_value_t = 300)]
    pub idle_ms: u64,
    /// resume: samples per path.
    #[arg(long, default_value_t = 30)]
    pub resume_count: usize,
    /// fanout: rules (and actions) on the trigger.
    #[arg(long, default_value_t = 10)]
    pub rules: usize,
    /// fanout: fires measured.
    #[arg(long, default_value_t = 20)]
    pub fires: usize,
    /// runtimes: the kinds to measure.
    #[arg(long, value_delimiter = ',', default_value = "nodejs:18,python:3.11")]
    pub kinds: Vec<String>,
    /// runtimes with --apihost: the `rwhisk.invoker` label of whiskd's containers
    /// (`$(cat DATA_DIR/instance)-0`).
    #[arg(long)]
    pub invoker_label: Option<String>,
}

impl Args {
    /// The bound of one measured run.
    pub fn max_time(&self) -> Duration {
        Duration::from_secs(self.max_seconds)
    }

    /// The docker skeleton no-op.
    pub fn skeleton(&self) -> Noop {
        Noop::Skeleton(self.image.clone())
    }

    /// The Node.js no-op.
    pub fn node(&self) -> Noop {
        Noop::Node(self.node_kind.clone())
    }

    fn target(&self) -> Result<Target> {
        if let Some(apihost) = &self.apihost {
            let auth = match &self.auth {
                Some(a) => a.clone(),
                None => {
                    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
                    std::fs::read_to_string(format!("{home}/.rwhisk/guest.key"))
                        .context("no --auth and no ~/.rwhisk/guest.key")?
                        .trim()
                        .to_owned()
                }
            };
            return Ok(Target::External {
                apihost: apihost.clone(),
                auth,
                pid: self.whiskd_pid,
            });
        }
        let bin = match &self.whiskd {
            Some(b) => b.clone(),
            None => std::env::current_exe()
                .context("locating loadgen")?
                .with_file_name("whiskd"),
        };
        if !bin.exists() {
            bail!(
                "no whiskd at {} (build it, or pass --whiskd)",
                bin.display()
            );
        }
        Ok(Target::Spawn {
            bin,
            extra: self.whiskd_args.clone(),
        })
    }

    fn validate(&self) -> Result<()> {
        if self.distinct == 0 || self.distinct > MAX_DISTINCT {
            bail!("--distinct must be 1..={MAX_DISTINCT}");
        }
        if self.rules == 0 || self.rules > MAX_RULES {
            bail!("--rules must be 1..={MAX_RULES}");
        }
        if self.concurrency.iter().any(|&c| c == 0 || c > 1024) || self.many_concurrency == 0 {
            bail!("concurrency must be 1..=1024");
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    args.validate()?;
    let target = args.target()?;
    let mut order = args.scenario.clone();
    if order.contains(&Scenario::All) {
        order = vec![
            Scenario::Warm,
            Scenario::Many,
            Scenario::Cold,
            Scenario::Resume,
            Scenario::Fanout,
            Scenario::Runtimes,
        ];
    }
    let mut failed = Vec::new();
    for scenario in order {
        let result = match scenario {
            Scenario::Warm => scenarios::warm::run(&args, &target).await,
            Scenario::Many => scenarios::many::run(&args, &target).await,
            Scenario::Cold => scenarios::cold::run(&args, &target).await,
            Scenario::Resume => scenarios::resume::run(&args, &target).await,
            Scenario::Fanout => scenarios::fanout::run(&args, &target).await,
            Scenario::Runtimes => scenarios::runtimes::run(&args, &target).await,
            Scenario::All => Ok(()),
        };
        if let Err(e) = result {
            println!("- failed: {scenario:?}: {e:#}");
            failed.push(format!("{scenario:?}"));
        }
    }
    if !failed.is_empty() {
        bail!("scenarios failed: {}", failed.join(", "));
    }
    Ok(())
}
