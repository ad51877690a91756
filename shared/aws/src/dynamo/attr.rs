//! DynamoDB JSON (`{"S": "…"}`, `{"N": "5"}`, `{"L": […]}` …) read in place: attribute
//! values that borrow their text from the payload, and a serde `Deserializer` over them, so
//! a stream record's image becomes a typed snapshot in one step, with no attribute map, no
//! JSON value and no copy of a string that the snapshot does not keep.
//!
//! What the stream router decodes per record is exactly this; the SDK's attribute values
//! (owned strings in hash maps) stay the store's business.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{BorrowedStrDeserializer, Error, MapDeserializer, SeqDeserializer};
use serde::de::{self, Deserialize, Deserializer, IntoDeserializer, MapAccess, Visitor};

/// One attribute value, in DynamoDB's JSON form. Binary values stay base64 text.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub enum Attr<'a> {
    S(#[serde(borrow)] Cow<'a, str>),
    N(#[serde(borrow)] Cow<'a, str>),
    B(#[serde(borrow)] Cow<'a, str>),
    #[serde(rename = "BOOL")]
    Bool(bool),
    #[serde(rename = "NULL")]
    Null(bool),
    #[serde(borrow)]
    L(Vec<Attr<'a>>),
    #[serde(borrow)]
    M(Image<'a>),
    #[serde(borrow)]
    SS(Vec<Cow<'a, str>>),
    #[serde(borrow)]
    NS(Vec<Cow<'a, str>>),
    #[serde(borrow)]
    BS(Vec<Cow<'a, str>>),
}

/// An item or map: its attributes in the order they came. Items have a few dozen
/// attributes at most, so a scan beats hashing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Image<'a>(pub Vec<(Cow<'a, str>, Attr<'a>)>);

impl<'a> Image<'a> {
    pub fn get(&self, name: &str) -> Option<&Attr<'a>> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value)
    }

    /// Reads the item as a `T` (its fields by attribute name; other attributes ignored).
    pub fn read<T: de::DeserializeOwned>(&self) -> Result<T, Error> {
        T::deserialize(ImageDeserializer(self))
    }

    /// The deserializer for this item, for callers that pick the type at run time.
    pub fn deserializer(&self) -> ImageDeserializer<'_, 'a> {
        ImageDeserializer(self)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Image<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Entries<'a> {
            type Value = Image<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of attribute values")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(32));
                while let Some(key) = map.next_key::<BorrowedCow<'a>>()? {
                    entries.push((key.0, map.next_value()?));
                }
                Ok(Image(entries))
            }
        }
        deserializer.deserialize_map(Entries(std::marker::PhantomData))
    }
}

/// A map key that borrows when the JSON text allows (no escapes): serde's own borrowing of
/// `Cow` fields, which a bare `Cow` (always owned) does not do.
#[derive(serde::Deserialize)]
#[serde(transparent)]
struct BorrowedCow<'a>(#[serde(borrow)] Cow<'a, str>);

/// Reads an item as a struct or map.
#[derive(Clone, Copy)]
pub struct ImageDeserializer<'r, 'a>(&'r Image<'a>);

/// Reads one attribute value as whatever the target type asks for.
#[derive(Clone, Copy)]
struct AttrDeserializer<'r, 'a>(&'r Attr<'a>);

/// A string of a set (`SS`, `NS`, `BS`).
#[derive(Clone, Copy)]
struct SetMember<'r> {
    text: &'r str,
    number: bool,
}

fn entries<'r, 'a>(
    image: &'r Image<'a>,
) -> MapDeserializer<'r, impl Iterator<Item = (BorrowedStrDeserializer<'r, Error>, AttrDeserializer<'r, 'a>)>, Error> {
    MapDeserializer::new(image.0.iter().map(|(k, v)| (BorrowedStrDeserializer::new(k.as_ref()), AttrDeserializer(v))))
}

impl<'r, 'a> Deserializer<'r> for ImageDeserializer<'r, 'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'r>>(self, visitor: V) -> Result<V::Value, Error> {
        let mut map = entries(self.0);
        let value = visitor.visit_map(&mut map)?;
        map.end()?;
        Ok(value)
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'r>>
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// A number attribute's text as the narrowest number serde offers; the target type's
/// visitor widens or refuses it.
fn visit_number<'r, V: Visitor<'r>>(text: &str, visitor: V) -> Result<V::Value, Error> {
    if let Ok(n) = text.parse::<u64>() {
        visitor.visit_u64(n)
    } else if let Ok(n) = text.parse::<i64>() {
        visitor.visit_i64(n)
    } else if let Ok(n) = text.parse::<f64>() {
        visitor.visit_f64(n)
    } else {
        Err(de::Error::invalid_value(de::Unexpected::Str(text), &"a DynamoDB number"))
    }
}

impl<'r, 'a> Deserializer<'r> for AttrDeserializer<'r, 'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'r>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Attr::S(text) | Attr::B(text) => visitor.visit_borrowed_str(text.as_ref()),
            Attr::N(text) => visit_number(text, visitor),
            Attr::Bool(b) => visitor.visit_bool(*b),
            Attr::Null(_) => visitor.visit_unit(),
            Attr::L(items) => {
                let mut seq = SeqDeserializer::new(items.iter().map(AttrDeserializer));
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            Attr::M(image) => ImageDeserializer(image).deserialize_any(visitor),
            Attr::SS(items) | Attr::BS(items) | Attr::NS(items) => {
                let number = matches!(self.0, Attr::NS(_));
                let mut seq = SeqDeserializer::new(items.iter().map(|t| SetMember { text: t.as_ref(), number }));
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
        }
    }

    fn deserialize_option<V: Visitor<'r>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Attr::Null(_) => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'r>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            // Unit variants are stored as their name.
            Attr::S(text) => visitor.visit_enum(BorrowedStrDeserializer::<Error>::new(text.as_ref())),
            Attr::M(image) => ImageDeserializer(image).deserialize_enum(name, variants, visitor),
            _ => Err(de::Error::invalid_type(unexpected(self.0), &"an enum stored as S or M")),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'r>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'r>>
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

fn unexpected<'r>(attr: &'r Attr<'_>) -> de::Unexpected<'r> {
    match attr {
        Attr::S(text) | Attr::B(text) | Attr::N(text) => de::Unexpected::Str(text),
        Attr::Bool(b) => de::Unexpected::Bool(*b),
        Attr::Null(_) => de::Unexpected::Unit,
        Attr::L(_) | Attr::SS(_) | Attr::NS(_) | Attr::BS(_) => de::Unexpected::Seq,
        Attr::M(_) => de::Unexpected::Map,
    }
}

impl<'r, 'a> IntoDeserializer<'r, Error> for AttrDeserializer<'r, 'a> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'r> Deserializer<'r> for SetMember<'r> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'r>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.number { visit_number(self.text, visitor) } else { visitor.visit_borrowed_str(self.text) }
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'r>>
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl<'r> IntoDeserializer<'r, Error> for SetMember<'r> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase")]
    enum Colour {
        Red,
        DarkBlue,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Thing {
        name: String,
        count: u32,
        delta: i64,
        ratio: f64,
        maybe: Option<String>,
        absent: Option<String>,
        #[serde(default)]
        tags: Vec<String>,
        set: Vec<String>,
        numbers: Vec<u8>,
        colour: Colour,
        flag: bool,
        inner: Inner,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Inner {
        x: u64,
    }

    fn image(json: &str) -> Image<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn every_attribute_type_reads_into_its_rust_type() {
        let json = r#"{"name":{"S":"a \"quoted\" name"},"count":{"N":"7"},"delta":{"N":"-3"},
            "ratio":{"N":"0.5"},"maybe":{"NULL":true},"tags":{"L":[{"S":"x"},{"S":"y"}]},
            "set":{"SS":["p","q"]},"numbers":{"NS":["1","2"]},"colour":{"S":"darkBlue"},
            "flag":{"BOOL":true},"inner":{"M":{"x":{"N":"9"}}},"ignored":{"B":"AAEC"}}"#;
        let thing: Thing = image(json).read().unwrap();
        assert_eq!(
            thing,
            Thing {
                name: "a \"quoted\" name".into(),
                count: 7,
                delta: -3,
                ratio: 0.5,
                maybe: None,
                absent: None,
                tags: vec!["x".into(), "y".into()],
                set: vec!["p".into(), "q".into()],
                numbers: vec![1, 2],
                colour: Colour::DarkBlue,
                flag: true,
                inner: Inner { x: 9 },
            }
        );
    }

    #[test]
    fn strings_without_escapes_are_borrowed_from_the_payload() {
        let json = r#"{"a":{"S":"plain"},"b":{"S":"esc\naped"}}"#;
        for image in [image(json), sonic_rs::from_str(json).unwrap()] {
            assert!(matches!(image.get("a"), Some(Attr::S(Cow::Borrowed("plain")))), "{image:?}");
            assert!(matches!(image.get("b"), Some(Attr::S(Cow::Owned(_)))), "{image:?}");
            assert!(matches!(image.0.first(), Some((Cow::Borrowed("a"), _))), "{image:?}");
        }
    }

    #[test]
    fn a_wrong_type_is_an_error_naming_the_field() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Counted {
            count: u32,
        }
        let err = image(r#"{"count":{"S":"seven"}}"#).read::<Counted>().unwrap_err();
        assert!(err.to_string().contains("seven"), "{err}");
        let err = image(r#"{"count":{"N":"99999999999"}}"#).read::<Counted>().unwrap_err();
        assert!(err.to_string().contains("99999999999"), "{err}");
        let err = image(r#"{"other":{"N":"1"}}"#).read::<Counted>().unwrap_err();
        assert!(err.to_string().contains("missing field `count`"), "{err}");
    }

    #[test]
    fn an_unknown_type_tag_is_refused() {
        assert!(serde_json::from_str::<Image>(r#"{"a":{"X":"1"}}"#).is_err());
    }
}
