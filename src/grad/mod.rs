//! Differentiation: everything that runs a record backwards or pushes
//! tangents through it. This layer sits above the ops (its algorithms are
//! written with them) and above the recording in `crate::tape`, which never
//! calls up here except through the function an `Accumulator` is built with.
//! (JAX's `ad.py` likewise never imports `lax`.)
//!
//! `backward`: the one reverse traversal (`gradient`). `forward`: JVPs for
//! forward accumulators, derived from the VJPs. `jacobian`: full and
//! per-example jacobians as batches of cotangents pushed through `gradient`,
//! and the seeding of a plain gradient. `request`: the one entry a tape's
//! differentiation calls go through.

mod backward;
mod forward;
mod jacobian;
mod request;

pub use backward::{OnFinal, Unconnected, gradient, gradient_reporting};
pub use forward::{accumulator, jvp};
pub use jacobian::{
    JACOBIAN_CHUNK_ELEMENTS, batch_jacobian, identity_rows, jacobian, output_gradient, work,
};
pub use request::{Kind, Request};
