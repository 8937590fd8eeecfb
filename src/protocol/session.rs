//! Session (being written).
/// placeholder
pub struct Session;
/// placeholder
pub struct SessionConfig;
/// placeholder
pub enum SessionEvent {}
