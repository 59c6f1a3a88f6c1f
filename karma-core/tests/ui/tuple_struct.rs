use karma_core::Component;

#[derive(Component)]
struct Port(u16);

fn main() {}
