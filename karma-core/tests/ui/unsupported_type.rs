use karma_core::Component;

struct Opaque;

#[derive(Component)]
struct Database {
    handle: Opaque,
}

fn main() {}
