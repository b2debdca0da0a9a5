//! Domain values: ids, time, inputs validated at the edge, and the records the repository
//! returns. Knows nothing of HTTP or SQL. Everything is re-exported here, so that the rest of
//! the crate says `crate::domain::Name` whichever room a value lives in.

mod device;
mod ids;
mod input;
pub mod media;
mod records;
mod search;
mod time;

pub use device::*;
pub use ids::*;
pub use input::*;
pub use records::*;
pub use search::*;
pub use time::*;
