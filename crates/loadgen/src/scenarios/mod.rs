//! One folder per scenario; each has `run(args, target)` which starts what it needs,
//! measures, prints its tables, floors and targets, and cleans up.

pub mod cold;
pub mod fanout;
pub mod many;
pub mod resume;
pub mod runtimes;
pub mod warm;
