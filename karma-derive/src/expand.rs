//! Expand: [`Model`] → `impl TypedComponent`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::DeriveInput;
use syn::spanned::Spanned;

use crate::model::{Errors, Field, Model, Role};

#[allow(clippy::too_many_lines)] // one quote! of the whole impl reads best in one piece
pub(crate) fn expand(model: &Model) -> TokenStream {
    let Model { ident, kind, krate, fields } = model;
    let k = krate;

    let param_specs = fields.iter().filter(|f| matches!(f.role, Role::Param)).map(|f| {
        let name = &f.name;
        let with_default = if f.default {
            let ty = &f.ty;
            let to_default = via(k, f, "to_value", &quote!(&<#ty as ::core::default::Default>::default()));
            quote! {
                let spec = spec.optional();
                let spec = match #to_default {
                    ::core::result::Result::Ok(v) if !v.is_null() => spec.default(v),
                    _ => spec,
                };
            }
        } else {
            quote!()
        };
        let (value_type, missing) = (via(k, f, "value_type", &quote!()), via(k, f, "missing", &quote!()));
        quote! {
            let mut spec = #k::ParamSpec::new(#name, #value_type);
            // Required unless an absent value reads back (options, defaults).
            spec.required = #missing.is_err();
            #with_default
            schema = schema.param(spec);
        }
    });
    let output_specs = fields.iter().filter_map(|f| match &f.role {
        Role::Output { derives_from } => {
            let name = &f.name;
            let derives = derives_from.as_ref().map(|ps| quote!(.derives_from([#(#ps),*])));
            let value_type = via(k, f, "value_type", &quote!());
            Some(quote! {
                schema = schema.output(#k::OutputSpec::new(#name, #value_type)#derives);
            })
        }
        _ => None,
    });

    let collect = |want_output: bool| {
        let pushes = fields
            .iter()
            .filter(move |f| matches!(f.role, Role::Output { .. }) == want_output)
            .filter(|f| !matches!(f.role, Role::Skip))
            .map(|f| {
                let (name, fid) = (&f.name, &f.ident);
                let to_value = via(k, f, "to_value", &quote!(&self.#fid));
                quote! {
                    let v = #to_value
                        .map_err(|m| #k::__private::field_error(#kind, #name, m))?;
                    if !v.is_null() {
                        out.push((#k::__private::Name::new_static(#name), v));
                    }
                }
            });
        quote! {
            let mut out = ::std::vec::Vec::new();
            #(#pushes)*
            ::core::result::Result::Ok(out)
        }
    };
    let params_body = collect(false);
    let outputs_body = collect(true);

    let reads = fields.iter().map(|f| {
        let (name, fid, ty) = (&f.name, &f.ident, &f.ty);
        let default = quote!(<#ty as ::core::default::Default>::default());
        let getter = match f.role {
            Role::Skip => return quote!(#fid: #default,),
            Role::Param => quote!(component.param_value(#name)),
            Role::Output { .. } => quote!(component.output(#name)),
        };
        let from_value = via(k, f, "from_value", &quote!(v));
        let missing =
            if f.default { quote!(::core::result::Result::Ok(#default)) } else { via(k, f, "missing", &quote!()) };
        quote! {
            #fid: match #getter {
                ::core::option::Option::Some(v) => #from_value,
                ::core::option::Option::None => #missing,
            }
            .map_err(|m| #k::__private::field_error(#kind, #name, m))?,
        }
    });

    quote! {
        #[automatically_derived]
        impl #k::TypedComponent for #ident {
            const KIND: &'static str = #kind;

            fn schema() -> #k::Schema {
                #[allow(unused_imports)]
                use #k::__private::{ViaField as _, ViaSerde as _};
                let mut schema = #k::Schema::new(#kind);
                #(#param_specs)*
                #(#output_specs)*
                schema
            }

            fn params(&self) -> #k::Result<::std::vec::Vec<(#k::Name, #k::Value)>> {
                #[allow(unused_imports)]
                use #k::__private::{ViaField as _, ViaSerde as _};
                #params_body
            }

            fn outputs(&self) -> #k::Result<::std::vec::Vec<(#k::Name, #k::Value)>> {
                #[allow(unused_imports)]
                use #k::__private::{ViaField as _, ViaSerde as _};
                #outputs_body
            }

            fn from_component(component: &#k::Component) -> #k::Result<Self> {
                #[allow(unused_imports)]
                use #k::__private::{ViaField as _, ViaSerde as _};
                if component.kind().as_str() != #kind {
                    return ::core::result::Result::Err(#k::__private::kind_mismatch(component, #kind));
                }
                ::core::result::Result::Ok(Self { #(#reads)* })
            }
        }
    }
}

/// `(&Wrap::<T>::new()).method(args)`, spanned at the field's type so that
/// an unsupported type is reported there.
fn via(k: &syn::Path, f: &Field, method: &str, args: &TokenStream) -> TokenStream {
    let ty = &f.ty;
    let method = syn::Ident::new(method, ty.span());
    quote_spanned!(ty.span()=> (&#k::__private::Wrap::<#ty>::new()).#method(#args))
}

/// The errors, plus a stub impl so that uses of the type report nothing more.
pub(crate) fn expand_failure(input: &DeriveInput, errors: &Errors) -> TokenStream {
    let errors = errors.to_compile_error();
    let ident = &input.ident;
    if !input.generics.params.is_empty() {
        return errors;
    }
    let k = crate::model::find_crate();
    quote! {
        #errors
        #[allow(unreachable_code, unused_variables)]
        impl #k::TypedComponent for #ident {
            const KIND: &'static str = "";
            fn schema() -> #k::Schema { ::core::unimplemented!() }
            fn params(&self) -> #k::Result<::std::vec::Vec<(#k::Name, #k::Value)>> { ::core::unimplemented!() }
            fn outputs(&self) -> #k::Result<::std::vec::Vec<(#k::Name, #k::Value)>> { ::core::unimplemented!() }
            fn from_component(component: &#k::Component) -> #k::Result<Self> { ::core::unimplemented!() }
        }
    }
}
