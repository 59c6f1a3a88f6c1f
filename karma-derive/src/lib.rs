//! `#[derive(Component)]` for Karma. Use it through `karma` or `karma-core`,
//! which re-export it; its documentation lives on `TypedComponent` there.
//!
//! Inside: `model` parses and validates the struct into a small model,
//! collecting every error; `expand` turns the model into the impl.

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

mod expand;
mod model;

/// Implements `karma_core::TypedComponent` for a struct with named fields.
///
/// Struct attribute: `#[karma(kind = "...")]` (default: the struct's name),
/// `#[karma(crate = "path")]` (where `karma_core` is, if not found).
/// Field attributes: `output`, `derives_from = "a, b"` (with `output`),
/// `skip`, `rename = "..."`, `default`.
#[proc_macro_derive(Component, attributes(karma))]
pub fn derive_component(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match model::Model::from_input(&input) {
        Ok(model) => expand::expand(&model).into(),
        Err(errors) => expand::expand_failure(&input, &errors).into(),
    }
}
