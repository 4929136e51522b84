use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::validation::text;
use super::{Currency, Money, OrderId, ValidationError};

/// An order as Kyte sends it, before validation. Unknown fields are ignored (Kyte may add
/// some); amounts are read as signed integers so a negative one is reported by field name.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct OrderInput {
    #[schema(example = "ORD-1760987170-4531")]
    pub id: String,
    pub customer: CustomerInput,
    pub items: Vec<ItemInput>,
    pub total_cents: i64,
    #[schema(example = "EUR")]
    pub currency: String,
    #[serde(default)]
    pub notes: Option<String>,
    pub placed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CustomerInput {
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ItemInput {
    pub name: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
    #[serde(default)]
    pub notes: Option<String>,
}

/// A validated order's details: what the kitchen needs and what is stored with the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderDetails {
    pub customer: Customer,
    pub items: Vec<Item>,
    #[schema(value_type = i64)]
    pub total_cents: Money,
    #[schema(value_type = String)]
    pub currency: Currency,
    pub notes: Option<String>,
    pub placed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    pub name: String,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Item {
    pub name: String,
    pub quantity: u16,
    #[schema(value_type = i64)]
    pub unit_price_cents: Money,
    pub notes: Option<String>,
}

impl OrderInput {
    /// Validates every rule of CONTRACT §2 and names the first field at fault.
    pub fn parse(self) -> Result<(OrderId, OrderDetails), ValidationError> {
        let id = OrderId::parse(&self.id)?;
        let customer = self.customer.parse().map_err(|e| e.within("customer"))?;
        if self.items.is_empty() || self.items.len() > 200 {
            return Err(ValidationError::new("items", "must list 1 to 200 items"));
        }
        let items = self
            .items
            .into_iter()
            .enumerate()
            .map(|(i, item)| item.parse().map_err(|e| e.within(&format!("items[{i}]"))))
            .collect::<Result<Vec<_>, _>>()?;
        let total_cents = Money::parse("total_cents", self.total_cents)?;
        let currency = Currency::parse(&self.currency)?;
        let notes = optional_text("notes", self.notes, 2000)?;
        Ok((
            id,
            OrderDetails {
                customer,
                items,
                total_cents,
                currency,
                notes,
                placed_at: self.placed_at,
            },
        ))
    }
}

impl CustomerInput {
    fn parse(self) -> Result<Customer, ValidationError> {
        Ok(Customer {
            name: text("name", &self.name, 1, 200)?,
            phone: optional_text("phone", self.phone, 64)?,
        })
    }
}

impl ItemInput {
    fn parse(self) -> Result<Item, ValidationError> {
        let name = text("name", &self.name, 1, 200)?;
        let quantity = u16::try_from(self.quantity)
            .ok()
            .filter(|q| (1..=999).contains(q))
            .ok_or_else(|| ValidationError::new("quantity", "must be an integer from 1 to 999"))?;
        let unit_price_cents = Money::parse("unit_price_cents", self.unit_price_cents)?;
        let notes = optional_text("notes", self.notes, 1000)?;
        Ok(Item {
            name,
            quantity,
            unit_price_cents,
            notes,
        })
    }
}

fn optional_text(
    field: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, ValidationError> {
    value.map(|v| text(field, &v, 0, max)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> OrderInput {
        serde_json::from_value(serde_json::json!({
            "id": "ORD-1760987170-4531",
            "customer": {"name": "Ada Lovelace", "phone": "+44 20 7946 0958"},
            "items": [{"name": "Margherita", "quantity": 2, "unit_price_cents": 950, "notes": "extra basil"}],
            "total_cents": 1900, "currency": "EUR", "notes": "ring twice",
            "placed_at": "2026-12-03T11:59:58Z",
            "unknown_field": true
        }))
        .unwrap()
    }

    #[test]
    fn the_contract_example_parses() {
        let (id, details) = sample().parse().unwrap();
        assert_eq!(id.as_str(), "ORD-1760987170-4531");
        assert_eq!(details.items[0].quantity, 2);
        assert_eq!(details.total_cents.cents(), 1900);
    }

    #[test]
    fn each_rule_names_its_field() {
        type Mutation = Box<dyn Fn(&mut OrderInput)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|o| o.id = "bad id".into()), "id"),
            (
                Box::new(|o| o.customer.name = String::new()),
                "customer.name",
            ),
            (
                Box::new(|o| o.customer.name = "n".repeat(201)),
                "customer.name",
            ),
            (Box::new(|o| o.items.clear()), "items"),
            (
                Box::new(|o| o.items = vec![o.items[0].clone(); 201]),
                "items",
            ),
            (Box::new(|o| o.items[0].quantity = 0), "items[0].quantity"),
            (
                Box::new(|o| o.items[0].quantity = 1000),
                "items[0].quantity",
            ),
            (
                Box::new(|o| o.items[0].unit_price_cents = -5),
                "items[0].unit_price_cents",
            ),
            (Box::new(|o| o.total_cents = -1), "total_cents"),
            (Box::new(|o| o.currency = "eur".into()), "currency"),
        ];
        for (mutate, field) in cases {
            let mut o = sample();
            mutate(&mut o);
            assert_eq!(o.parse().unwrap_err().field, field);
        }
    }

    #[test]
    fn names_are_counted_in_characters_not_bytes() {
        let mut o = sample();
        o.customer.name = "é".repeat(200);
        assert!(o.parse().is_ok());
    }
}
