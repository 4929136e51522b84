//! The restaurant's view of an order and the rules that change it. Nothing here knows about
//! HTTP, AMQP or SQL, so every rule can be tested as a plain function.

mod ids;
mod integer;
mod money;
mod order;
mod state_machine;
mod status;
pub mod timestamp;
mod validation;

pub use ids::{EventId, OrderId};
pub use integer::{integer, optional_integer};
pub use money::{Currency, Money};
pub use order::{Customer, CustomerInput, Item, ItemInput, OrderDetails, OrderInput};
pub use state_machine::{
    Change, HistoryEvent, OrderState, Refusal, Transition, WebhookType, apply, create,
};
pub use status::OrderStatus;
pub use validation::{ValidationError, reason};
