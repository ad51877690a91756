//! Looks at the pipeline at a fixed period through a read-only connection to the data
//! directory, from the start of a scenario until every stage is idle after the load.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use shared_embedded::{Observer, Progress};

pub struct Sample {
    /// Seconds since the scenario's start.
    pub t: f64,
    pub progress: Progress,
}

pub struct Sampler {
    load_done: Arc<AtomicBool>,
    handle: JoinHandle<anyhow::Result<Vec<Sample>>>,
}

impl Sampler {
    pub fn start(data: PathBuf, start: Instant, period: Duration, give_up: Duration) -> Self {
        let load_done = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&load_done);
        let handle = std::thread::spawn(move || {
            let observer = Observer::open(&data).context("opening the data directory read-only")?;
            let mut samples = Vec::new();
            loop {
                let progress = observer.progress()?;
                let idle = progress.idle();
                samples.push(Sample { t: start.elapsed().as_secs_f64(), progress });
                if done.load(Ordering::Acquire) && idle {
                    return Ok(samples);
                }
                anyhow::ensure!(start.elapsed() < give_up, "the pipeline was not idle {give_up:?} into the run");
                std::thread::sleep(period);
            }
        });
        Self { load_done, handle }
    }

    /// Marks the load finished and waits until the pipeline has drained.
    pub fn finish(self) -> anyhow::Result<Vec<Sample>> {
        self.load_done.store(true, Ordering::Release);
        self.handle.join().map_err(|_| anyhow::anyhow!("the sampler panicked"))?
    }
}
