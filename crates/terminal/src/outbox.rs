//! The queue of [`Output`]s every part of the terminal writes to and the IO shell drains.

use std::collections::VecDeque;

use crate::output::{Event, Output};

/// Outputs in the order they were emitted.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outbox {
    queue: VecDeque<Output>,
}

impl Outbox {
    /// Queues an output.
    pub(crate) fn emit(&mut self, o: Output) {
        self.queue.push_back(o);
    }

    /// Queues an event to publish.
    pub(crate) fn publish(&mut self, e: Event) {
        self.queue.push_back(Output::Publish(e));
    }

    /// The oldest output not yet drained.
    pub(crate) fn pop(&mut self) -> Option<Output> {
        self.queue.pop_front()
    }
}
