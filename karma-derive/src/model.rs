//! Parse and validate: `DeriveInput` → [`Model`], with every error found.

use std::collections::BTreeMap;

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, GenericArgument, Ident, LitStr, Path, PathArguments, Type};

/// What the derive needs to know about the struct.
pub(crate) struct Model {
    pub(crate) ident: Ident,
    pub(crate) kind: String,
    pub(crate) krate: Path,
    pub(crate) fields: Vec<Field>,
}

pub(crate) struct Field {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    /// Its name in the graph.
    pub(crate) name: String,
    pub(crate) role: Role,
    pub(crate) default: bool,
}

pub(crate) enum Role {
    Param,
    Output { derives_from: Option<Vec<String>> },
    Skip,
}

/// Collects errors so that all of them are reported at once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    pub(crate) fn to_compile_error(&self) -> proc_macro2::TokenStream {
        self.0.as_ref().map(syn::Error::to_compile_error).unwrap_or_default()
    }
}

impl Model {
    pub(crate) fn from_input(input: &DeriveInput) -> Result<Self, Errors> {
        let mut errors = Errors::default();
        let mut kind = input.ident.to_string();
        let mut krate: Option<Path> = None;

        for attr in input.attrs.iter().filter(|a| a.path().is_ident("karma")) {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("kind") {
                    let lit: LitStr = meta.value()?.parse()?;
                    if lit.value().is_empty() || lit.value().contains('/') {
                        return Err(syn::Error::new_spanned(&lit, "a kind must be non-empty and contain no '/'"));
                    }
                    kind = lit.value();
                    Ok(())
                } else if meta.path.is_ident("crate") {
                    let lit: LitStr = meta.value()?.parse()?;
                    krate = Some(lit.parse()?);
                    Ok(())
                } else {
                    Err(meta
                        .error("unknown karma attribute on a struct; expected `kind = \"...\"` or `crate = \"...\"`"))
                }
            });
            if let Err(e) = parsed {
                errors.push(e);
            }
        }

        if !input.generics.params.is_empty() {
            errors.push(syn::Error::new_spanned(
                &input.generics,
                "#[derive(Component)] does not support generic structs",
            ));
        }

        let named = match &input.data {
            Data::Struct(s) => match &s.fields {
                Fields::Named(named) => Some(named),
                Fields::Unnamed(f) => {
                    errors.push(syn::Error::new_spanned(
                        f,
                        "#[derive(Component)] needs named fields: they become the component's params",
                    ));
                    None
                }
                Fields::Unit => {
                    errors.push(syn::Error::new_spanned(
                        &input.ident,
                        "#[derive(Component)] needs named fields: a unit struct has no params",
                    ));
                    None
                }
            },
            Data::Enum(e) => {
                errors.push(syn::Error::new_spanned(e.enum_token, "#[derive(Component)] works on structs, not enums"));
                None
            }
            Data::Union(u) => {
                errors
                    .push(syn::Error::new_spanned(u.union_token, "#[derive(Component)] works on structs, not unions"));
                None
            }
        };

        let mut fields = Vec::new();
        let mut seen: BTreeMap<String, Span> = BTreeMap::new();
        for f in named.into_iter().flat_map(|n| n.named.iter()) {
            let ident = f.ident.clone().expect("named field");
            match parse_field(f, ident) {
                Ok(field) => {
                    if let Err(e) = check_type(&field.ty)
                        && !matches!(field.role, Role::Skip)
                    {
                        errors.push(e);
                    }
                    if !matches!(field.role, Role::Skip) {
                        if seen.contains_key(&field.name) {
                            errors.push(syn::Error::new(
                                field.ident.span(),
                                format!("two fields are named {:?} in the graph", field.name),
                            ));
                        }
                        seen.insert(field.name.clone(), field.ident.span());
                    }
                    fields.push(field);
                }
                Err(e) => errors.push(e),
            }
        }

        if let Some(e) = errors.0 {
            return Err(Errors(Some(e)));
        }
        let krate = krate.unwrap_or_else(find_crate);
        Ok(Self { ident: input.ident.clone(), kind, krate, fields })
    }
}

fn parse_field(f: &syn::Field, ident: Ident) -> syn::Result<Field> {
    let mut name = ident.to_string();
    if let Some(stripped) = name.strip_prefix("r#") {
        name = stripped.to_string();
    }
    let (mut output, mut skip, mut default) = (None::<Span>, None::<Span>, false);
    let mut derives_from: Option<(Vec<String>, Span)> = None;
    let mut errors = Errors::default();
    for attr in f.attrs.iter().filter(|a| a.path().is_ident("karma")) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("output") {
                output = Some(meta.path.span());
            } else if meta.path.is_ident("skip") {
                skip = Some(meta.path.span());
            } else if meta.path.is_ident("default") {
                default = true;
            } else if meta.path.is_ident("rename") {
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().is_empty() {
                    return Err(syn::Error::new_spanned(&lit, "a name must not be empty"));
                }
                name = lit.value();
            } else if meta.path.is_ident("derives_from") {
                let lit: LitStr = meta.value()?.parse()?;
                let params =
                    lit.value().split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
                derives_from = Some((params, lit.span()));
            } else {
                return Err(meta.error(
                    "unknown karma attribute on a field; expected `output`, `derives_from = \"...\"`, `skip`, `rename = \"...\"` or `default`",
                ));
            }
            Ok(())
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
    }
    if let (Some(_), Some(span)) = (output, skip) {
        errors.push(syn::Error::new(span, "a field cannot be both `output` and `skip`"));
    }
    if let (None, Some((_, span))) = (output, &derives_from) {
        errors.push(syn::Error::new(*span, "`derives_from` goes with `output`"));
    }
    if let Some(e) = errors.0 {
        return Err(e);
    }
    let role = if skip.is_some() {
        Role::Skip
    } else if output.is_some() {
        Role::Output { derives_from: derives_from.map(|(p, _)| p) }
    } else {
        Role::Param
    };
    Ok(Field { ident, ty: f.ty.clone(), name, role, default })
}

/// Rejects types that cannot be a component's field, pointing at them.
fn check_type(ty: &Type) -> syn::Result<()> {
    match ty {
        Type::Reference(r) => Err(syn::Error::new_spanned(
            r,
            "unsupported field type: references cannot be stored in a component; use an owned type (e.g. String)",
        )),
        Type::Ptr(p) => Err(syn::Error::new_spanned(p, "unsupported field type: raw pointers")),
        Type::BareFn(f) => Err(syn::Error::new_spanned(f, "unsupported field type: function pointers")),
        Type::TraitObject(t) => Err(syn::Error::new_spanned(t, "unsupported field type: trait objects")),
        Type::ImplTrait(t) => Err(syn::Error::new_spanned(t, "unsupported field type: `impl Trait`")),
        Type::Never(t) => Err(syn::Error::new_spanned(t, "unsupported field type: `!`")),
        Type::Paren(p) => check_type(&p.elem),
        Type::Group(g) => check_type(&g.elem),
        Type::Array(a) => check_type(&a.elem),
        Type::Slice(s) => check_type(&s.elem),
        Type::Tuple(t) => t.elems.iter().try_for_each(check_type),
        Type::Path(p) => {
            let Some(last) = p.path.segments.last() else {
                return Ok(());
            };
            let args: Vec<&Type> = match &last.arguments {
                PathArguments::AngleBracketed(a) => a
                    .args
                    .iter()
                    .filter_map(|g| match g {
                        GenericArgument::Type(t) => Some(t),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let is_map = matches!(last.ident.to_string().as_str(), "HashMap" | "BTreeMap" | "IndexMap");
            if is_map
                && let Some(key) = args.first()
                && !is_string(key)
            {
                return Err(syn::Error::new_spanned(
                    key,
                    "unsupported field type: map keys must be String (they become the names of a map value)",
                ));
            }
            args.into_iter().try_for_each(check_type)
        }
        _ => Ok(()),
    }
}

fn is_string(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "String" || s.ident == "SmolStr"))
}

/// Where `karma_core` is, seen from the crate using the derive.
pub(crate) fn find_crate() -> Path {
    use proc_macro_crate::{FoundCrate, crate_name};
    match crate_name("karma-core") {
        Ok(FoundCrate::Itself) => syn::parse_quote!(::karma_core),
        Ok(FoundCrate::Name(name)) => {
            let ident = Ident::new(&name, Span::call_site());
            syn::parse_quote!(::#ident)
        }
        Err(_) => match crate_name("karma") {
            Ok(FoundCrate::Name(name)) => {
                let ident = Ident::new(&name, Span::call_site());
                syn::parse_quote!(::#ident::core)
            }
            _ => syn::parse_quote!(::karma_core),
        },
    }
}
