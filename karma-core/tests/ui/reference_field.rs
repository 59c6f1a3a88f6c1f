use karma_core::Component;

#[derive(Component)]
struct Database {
    engine: &'static str,
}

fn main() {}
