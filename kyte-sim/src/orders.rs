use chrono::Utc;
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};

const NAMES: &[&str] = &[
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Katherine Johnson",
    "Edsger Dijkstra",
    "Barbara Liskov",
];
const DISHES: &[(&str, i64)] = &[
    ("Margherita", 950),
    ("Quattro Formaggi", 1250),
    ("Caesar Salad", 890),
    ("Tiramisu", 650),
    ("Lasagne", 1390),
    ("Espresso", 250),
];
const NOTES: &[&str] = &["extra basil", "no onions", "well done", "gluten free"];

/// A realistic order like the original mock's simulate-order: `ORD-<unix>-<4 digits>`, one to
/// four dishes, a total that adds up.
pub fn random_order() -> Value {
    let mut rng = rand::rng();
    let id = format!(
        "ORD-{}-{:04}-{:04}",
        Utc::now().timestamp(),
        rng.random_range(0..10_000),
        rng.random_range(0..10_000)
    );
    let n = rng.random_range(1..=4);
    let mut total = 0;
    let items: Vec<Value> = (0..n)
        .map(|_| {
            let (name, price) = DISHES
                .choose(&mut rng)
                .copied()
                .unwrap_or(("Margherita", 950));
            let quantity = rng.random_range(1..=3);
            total += price * quantity;
            let mut item = json!({"name": name, "quantity": quantity, "unit_price_cents": price});
            if rng.random_bool(0.3) {
                item["notes"] = json!(NOTES.choose(&mut rng).copied().unwrap_or("none"));
            }
            item
        })
        .collect();
    json!({
        "id": id,
        "customer": {"name": NAMES.choose(&mut rng).copied().unwrap_or("Ada Lovelace"), "phone": "+44 20 7946 0958"},
        "items": items,
        "total_cents": total,
        "currency": "EUR",
        "notes": "ring twice",
        "placed_at": Utc::now(),
    })
}
