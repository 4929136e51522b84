use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::integer::integer;
use super::timestamp;
use super::validation::text;
use super::{Currency, Money, OrderId, ValidationError};

/// An order as Kyte sends it, before validation. Unknown fields are ignored (Kyte may add
/// some); amounts are read as signed integers so a negative one is reported by field name,
/// and `2.0` counts as the integer it is (see `integer`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct OrderInput {
    #[schema(example = "ORD-1760987170-4531", pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub id: String,
    pub customer: CustomerInput,
    #[schema(min_items = 1, max_items = 200)]
    pub items: Vec<ItemInput>,
    #[serde(deserialize_with = "integer")]
    #[schema(minimum = 0)]
    pub total_cents: i64,
    #[schema(example = "EUR", pattern = "^[A-Z]{3}$")]
    pub currency: String,
    #[serde(default)]
    #[schema(max_length = 2000, pattern = "^[^\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f]*$")]
    pub notes: Option<String>,
    #[schema(schema_with = timestamp::schema)]
    #[serde(deserialize_with = "timestamp::rfc3339")]
    pub placed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CustomerInput {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f]*$"
    )]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 64, pattern = "^[^\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f]*$")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ItemInput {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f]*$"
    )]
    pub name: String,
    #[serde(deserialize_with = "integer")]
    #[schema(minimum = 1, maximum = 999)]
    pub quantity: i64,
    #[serde(deserialize_with = "integer")]
    #[schema(minimum = 0)]
    pub unit_price_cents: i64,
    #[serde(default)]
    #[schema(max_length = 1000, pattern = "^[^\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f]*$")]
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
    fn amounts_written_as_integral_floats_are_integers_and_fractions_are_refused() {
        let mut json = serde_json::json!({
            "id": "ORD-1", "customer": {"name": "Ada"}, "currency": "EUR",
            "items": [{"name": "Margherita", "quantity": 2.0, "unit_price_cents": 9.5e2}],
            "total_cents": 1.9e3, "placed_at": "2026-12-03T11:59:58Z"
        });
        let order: OrderInput = serde_json::from_value(json.clone()).unwrap();
        let (_, details) = order.parse().unwrap();
        assert_eq!(details.items[0].quantity, 2);
        assert_eq!(details.items[0].unit_price_cents.cents(), 950);
        assert_eq!(details.total_cents.cents(), 1900);
        json["items"][0]["quantity"] = serde_json::json!(1.5);
        let err = serde_json::from_value::<OrderInput>(json).unwrap_err();
        assert!(err.to_string().contains("expected an integer"), "{err}");
    }

    #[test]
    fn names_are_counted_in_characters_not_bytes() {
        let mut o = sample();
        o.customer.name = "é".repeat(200);
        assert!(o.parse().is_ok());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    /// Any JSON at all, nested a few levels deep.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,40}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::hash_map("[a-z_]{1,12}", inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_json_as_an_order_never_panics(value in any_json()) {
            if let Ok(input) = serde_json::from_value::<OrderInput>(value) {
                let _ = input.parse();
            }
        }

        #[test]
        fn orders_with_arbitrary_field_values_either_parse_or_name_a_field(
            id in ".{0,70}", name in ".{0,210}", quantity in any::<i64>(), price in any::<i64>(),
            currency in ".{0,5}", items in 0usize..3,
        ) {
            let item = serde_json::json!({"name": "Pizza", "quantity": quantity, "unit_price_cents": price});
            let order = serde_json::json!({
                "id": id, "customer": {"name": name}, "items": vec![item; items],
                "total_cents": price, "currency": currency, "placed_at": "2026-12-03T12:00:00Z"
            });
            let input: OrderInput = serde_json::from_value(order).map_err(|e| TestCaseError::fail(e.to_string()))?;
            match input.parse() {
                Ok((parsed_id, details)) => {
                    prop_assert_eq!(parsed_id.as_str(), id.as_str());
                    prop_assert!(details.items.iter().all(|i| (1..=999).contains(&i.quantity)));
                    prop_assert!(details.total_cents.cents() >= 0);
                }
                Err(e) => prop_assert!(!e.field.is_empty()),
            }
        }
    }
}
