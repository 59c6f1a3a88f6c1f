//! Misuse of `#[derive(Component)]` is a compile error pointing at the
//! offending token. Expected messages live beside each case in `tests/ui/`.

#[test]
fn derive_misuse_fails_to_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
