use std::collections::HashMap;

use karma_core::Component;

#[derive(Component)]
struct Database {
    shards: HashMap<u32, String>,
}

fn main() {}
