//! The runner of the unit tests' case tables.

use core::fmt::Debug;

/// Checks that `f` gives each case's expected value for its input; a
/// failure names the input.
pub(crate) fn check<I, O, E>(f: impl Fn(I) -> O, cases: &[(I, E)])
where
    I: Copy + Debug,
    O: Debug + PartialEq<E>,
    E: Debug,
{
    for (input, expected) in cases {
        assert_eq!(f(*input), *expected, "input {input:?}");
    }
}
