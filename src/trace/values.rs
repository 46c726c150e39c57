//! How a recorded call's tensor arguments and results travel through a
//! step: [`Captured`] splits an argument (a tensor, a list, an optional
//! one, an index key) into the flat list of tensors a step reads plus a
//! tensor-free [`Skeleton`] that rebuilds it from the replay's tensors;
//! [`Outputs`] flattens a call's result to the step's outputs and back.

use std::marker::PhantomData;

use crate::ops::KeyItem;
use crate::tensor::Tensor;

/// A value holding tensors, rebuilt at replay with new tensors in place.
pub trait Captured: Sized {
    /// Everything but the tensors.
    type Layout: Send + Sync + 'static;
    /// Push the tensors onto `out`; return the rest.
    fn split(&self, out: &mut Vec<Tensor>) -> Self::Layout;
    /// The value again, its tensors taken in order from `tensors`.
    fn join(layout: &Self::Layout, tensors: &mut std::slice::Iter<'_, Tensor>) -> Self;
}

/// The tensor-free rest of one captured value, typed by what it rebuilds.
pub struct Skeleton<T: Captured> {
    layout: T::Layout,
    rebuilds: PhantomData<fn() -> T>,
}

impl<T: Captured> Skeleton<T> {
    /// Split `value`, pushing its tensors onto `out`.
    pub fn of(value: &T, out: &mut Vec<Tensor>) -> Skeleton<T> {
        Skeleton {
            layout: value.split(out),
            rebuilds: PhantomData,
        }
    }

    /// The value with the next tensors of `tensors` in place.
    pub fn rebuild(&self, tensors: &mut std::slice::Iter<'_, Tensor>) -> T {
        T::join(&self.layout, tensors)
    }
}

impl Captured for Tensor {
    type Layout = ();
    fn split(&self, out: &mut Vec<Tensor>) {
        out.push(self.clone());
    }
    fn join(_: &(), tensors: &mut std::slice::Iter<'_, Tensor>) -> Tensor {
        // ok: a step gets exactly the tensors its skeletons pushed, in order
        tensors
            .next()
            .cloned()
            .expect("one tensor per captured slot")
    }
}

impl<T: Captured> Captured for Vec<T> {
    type Layout = Vec<T::Layout>;
    fn split(&self, out: &mut Vec<Tensor>) -> Self::Layout {
        self.iter().map(|x| x.split(out)).collect()
    }
    fn join(layout: &Self::Layout, tensors: &mut std::slice::Iter<'_, Tensor>) -> Self {
        layout.iter().map(|l| T::join(l, tensors)).collect()
    }
}

impl<T: Captured> Captured for Option<T> {
    type Layout = Option<T::Layout>;
    fn split(&self, out: &mut Vec<Tensor>) -> Self::Layout {
        self.as_ref().map(|x| x.split(out))
    }
    fn join(layout: &Self::Layout, tensors: &mut std::slice::Iter<'_, Tensor>) -> Self {
        layout.as_ref().map(|l| T::join(l, tensors))
    }
}

impl Captured for KeyItem {
    /// `None`: the item is a gather by a tensor.
    type Layout = Option<KeyItem>;
    fn split(&self, out: &mut Vec<Tensor>) -> Self::Layout {
        match self {
            KeyItem::Gather(t) => {
                out.push(t.clone());
                None
            }
            other => Some(other.clone()),
        }
    }
    fn join(layout: &Self::Layout, tensors: &mut std::slice::Iter<'_, Tensor>) -> Self {
        match layout {
            Some(item) => item.clone(),
            None => KeyItem::Gather(Tensor::join(&(), tensors)),
        }
    }
}

/// A core call's result as a step's flat outputs.
pub trait Outputs: Sized {
    fn flat(self) -> Vec<Tensor>;
    /// The result from the tensors `flat` gave (the same count).
    fn unflat(flat: Vec<Tensor>) -> Self;
}

impl Outputs for Tensor {
    fn flat(self) -> Vec<Tensor> {
        vec![self]
    }
    fn unflat(flat: Vec<Tensor>) -> Self {
        // ok: a replay checks every step's output count against the trace
        flat.into_iter().next().expect("one output")
    }
}

impl Outputs for (Tensor, Tensor) {
    fn flat(self) -> Vec<Tensor> {
        vec![self.0, self.1]
    }
    fn unflat(flat: Vec<Tensor>) -> Self {
        let mut it = flat.into_iter();
        // ok: as above, two outputs
        let mut next = || it.next().expect("two outputs");
        (next(), next())
    }
}

impl Outputs for Vec<Tensor> {
    fn flat(self) -> Vec<Tensor> {
        self
    }
    fn unflat(flat: Vec<Tensor>) -> Self {
        flat
    }
}

impl Outputs for () {
    fn flat(self) -> Vec<Tensor> {
        Vec::new()
    }
    fn unflat(_: Vec<Tensor>) -> Self {}
}
