//! `List<T>`: what list commands return. On the wire it is a plain JSON array; the
//! wrapper exists so the OpenAPI document also describes the item type `T`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::openapi::{
    Ref, RefOr,
    schema::{Array, Schema},
};
use utoipa::{PartialSchema, ToSchema};

/// A list of `T`, serialized as a JSON array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct List<T>(pub Vec<T>);

impl<T> std::ops::Deref for List<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T: ToSchema> PartialSchema for List<T> {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Array(Array::new(Ref::from_schema_name(T::name()))))
    }
}

impl<T: ToSchema> ToSchema for List<T> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("ListOf{}", T::name()))
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
}
