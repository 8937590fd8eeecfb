//! Frame header codec (being written).
//! placeholder
/// Opcode placeholder.
#[derive(Clone, Copy, Debug)]
pub enum OpCode {}
/// Header placeholder.
#[derive(Clone, Copy, Debug)]
pub struct FrameHeader;
