pub mod lake;
