use karma_core::Component;

#[derive(Component)]
enum Database {
    Postgres,
    Mysql,
}

fn main() {}
