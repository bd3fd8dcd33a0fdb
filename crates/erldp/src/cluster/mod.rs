//! Cluster membership as BEAM nodes practise it: [`global`] (names and locks shared by the
//! visible nodes of a cluster) and [`pg`] (process groups), each a state machine that the node
//! drives with the messages its built-in processes receive, and whose answers it sends.
//!
//! The protocols are those of OTP 25 to 29, read in kernel's `global.erl` and `pg.erl` and
//! checked against real nodes; neither is written down by OTP.

pub(crate) mod global;
pub(crate) mod pg;

#[cfg(test)]
mod transcript;
