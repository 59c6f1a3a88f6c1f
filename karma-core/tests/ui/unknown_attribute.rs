use karma_core::Component;

#[derive(Component)]
#[karma(knd = "Database")]
struct Database {
    #[karma(outptu)]
    endpoint: String,
}

fn main() {}
