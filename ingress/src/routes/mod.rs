pub mod kyte;
pub mod ops;
pub mod staff;
