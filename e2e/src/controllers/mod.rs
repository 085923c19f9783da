//! The control plane's loops: garbage collector, namespace deletion, service accounts,
//! scheduler, Deployment,
//! ReplicaSet, Job (+ TTL) and PVC binder, and the event recorder they share with the kubelet.
//!
//! One task runs every controller in turn whenever the store changes (and every half second,
//! for time-based work: Job deadlines, backoff and TTLs). Controllers read the store and write
//! only real changes, so a pass that finds nothing to do writes nothing and the loop settles.

pub mod accounts;
pub mod events;
pub mod gc;
pub mod jobs;
pub mod scheduler;
pub mod volumes;
pub mod workloads;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::sim::Sim;

/// How often controllers run without a store change.
const RESYNC: Duration = Duration::from_millis(500);

/// Runs every controller until the simulator shuts down.
pub async fn run(sim: Arc<Sim>) {
    let mut feed = sim.store.subscribe();
    let mut ticker = tokio::time::interval(RESYNC);
    loop {
        tokio::select! {
            _ = sim.shutdown.cancelled() => return,
            _ = ticker.tick() => {}
            event = feed.recv() => match event {
                Ok(e) if e.key.resource == "events" => continue,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
        // Coalesce a burst of changes into one pass.
        while let Ok(_) | Err(TryRecvError::Lagged(_)) = feed.try_recv() {}
        pass(&sim);
    }
}

/// One pass of every controller.
pub fn pass(sim: &Sim) {
    gc::reconcile(&sim.store);
    accounts::reconcile(&sim.store);
    volumes::reconcile(sim);
    scheduler::reconcile(sim);
    workloads::reconcile(sim);
    jobs::reconcile(sim);
}
