use karma_core::Component;

#[derive(Component)]
struct Database {
    #[karma(output, skip)]
    endpoint: String,
    #[karma(derives_from = "port")]
    port: u16,
}

fn main() {}
