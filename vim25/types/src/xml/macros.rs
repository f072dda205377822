//! Macros the generated code expands, so that each generated type stays a few lines.

/// The `ComplexType` accessors of the kept unknown type name: on the `type_name_` field
/// of a type without a base (`root`), through `base_` for a subtype.
macro_rules! unknown_type_name {
    (root) => {
        fn unknown_type_name(&self) -> Option<&str> {
            self.type_name_.as_deref()
        }
        fn set_unknown_type_name(&mut self, name: Option<Box<str>>) {
            self.type_name_ = name;
        }
    };
    (base_) => {
        fn unknown_type_name(&self) -> Option<&str> {
            self.base_.unknown_type_name()
        }
        fn set_unknown_type_name(&mut self, name: Option<Box<str>>) {
            self.base_.set_unknown_type_name(name)
        }
    };
}

/// `Deref`/`DerefMut` from a data object to its base, so base fields read directly.
macro_rules! inherits {
    ($t:ident, $p:ident) => {
        impl std::ops::Deref for $t {
            type Target = $p;
            fn deref(&self) -> &$p {
                &self.base_
            }
        }
        impl std::ops::DerefMut for $t {
            fn deref_mut(&mut self) -> &mut $p {
                &mut self.base_
            }
        }
    };
}

/// The XML codec and `AnyValue` conversion of a string enum of `vim25-enums` (which
/// has its `Default`, `Display`, `FromStr` and serde impls).
macro_rules! enum_codec {
    ($t:ident) => {
        impl $crate::types::FromAnyValue for $t {
            fn from_any_value(v: &$crate::types::AnyValue) -> Option<Self> {
                match v {
                    // A value of another enum is not this one, even where the wire
                    // strings agree (`HostSystemPowerState` vs the VM's).
                    $crate::types::AnyValue::Enum { type_name, value }
                        if type_name == stringify!($t) =>
                    {
                        Some($t::from_wire(value))
                    }
                    $crate::types::AnyValue::String(value) => Some($t::from_wire(value)),
                    _ => None,
                }
            }
        }
        impl $crate::xml::Decode for $t {
            fn decode<'a>(
                d: &mut $crate::xml::Decoder<'a>,
                s: &$crate::xml::Start<'a>,
            ) -> Result<Self, $crate::xml::DecodeError> {
                Ok($t::from_wire(d.text(s)?.trim()))
            }
        }
        impl $crate::xml::Encode for $t {
            fn encode(&self, e: &mut $crate::xml::Encoder, name: &str) {
                e.enum_leaf(name, stringify!($t), self.as_str(), self.since());
            }
        }
    };
}

/// Everything of a polymorphic slot enum `AnyB` over base `B` and its subtypes.
macro_rules! poly_codec {
    ($any:ident, $base:ident; $($t:ident),+) => {
        impl Default for $any {
            fn default() -> Self {
                $any::$base(Box::default())
            }
        }
        impl $any {
            /// The wire type name of the value held (`xsi:type`): its type's, or the
            /// name kept from a type this client does not know.
            pub fn type_name(&self) -> &str {
                let known = match self {
                    $($any::$t(_) => stringify!($t),)+
                    $any::Unknown(u) => return &u.type_name,
                };
                let base: &$base = self;
                $crate::xml::ComplexType::unknown_type_name(base).unwrap_or(known)
            }
            /// The value held, as a type-erased data object.
            pub fn as_data_object(&self) -> &dyn $crate::types::DataObject {
                match self {
                    $($any::$t(v) => &**v,)+
                    $any::Unknown(u) => &u.value,
                }
            }
        }
        impl std::ops::Deref for $any {
            type Target = $base;
            fn deref(&self) -> &$base {
                match self {
                    $($any::$t(v) => { let r: &$base = v; r })+
                    $any::Unknown(u) => &u.value,
                }
            }
        }
        impl std::ops::DerefMut for $any {
            fn deref_mut(&mut self) -> &mut $base {
                match self {
                    $($any::$t(v) => { let r: &mut $base = v; r })+
                    $any::Unknown(u) => &mut u.value,
                }
            }
        }
        // One generic `From` over the slot's types, not one impl per type: the impls
        // of a trait for one type are checked against each other pairwise, and 700
        // `From` impls on `AnyMethodFault` cost the build memory and time.
        $(impl $crate::xml::SubtypeOf<$any> for $t {
            fn into_slot(v: Box<$t>) -> $any {
                $any::$t(v)
            }
        })+
        impl<T: $crate::xml::SubtypeOf<$any>> From<T> for $any {
            fn from(v: T) -> Self {
                T::into_slot(Box::new(v))
            }
        }
        impl $crate::xml::Decode for $any {
            fn decode<'a>(
                d: &mut $crate::xml::Decoder<'a>,
                s: &$crate::xml::Start<'a>,
            ) -> Result<Self, $crate::xml::DecodeError> {
                // A sorted table searched by `xsi:type`: a match with one arm per
                // subtype would be a linear scan and, in debug builds, a stack frame
                // holding every arm's temporaries (hundreds of KiB for MethodFault).
                // Its entries are copies of one generic method, one per subtype and
                // slot, not a closure each: as many, but each costs the build less.
                type Dec = for<'x, 'y, 'z> fn(
                    &'y mut $crate::xml::Decoder<'x>,
                    &'z $crate::xml::Start<'x>,
                ) -> Result<$any, $crate::xml::DecodeError>;
                static TABLE: &[(&str, Dec)] = &[
                    $((stringify!($t), <$t as $crate::xml::SubtypeOf<$any>>::decode_into_slot),)+
                ];
                match s.xsi_type() {
                    None => <$base as $crate::xml::SubtypeOf<$any>>::decode_into_slot(d, s),
                    Some(t) => match TABLE.binary_search_by(|(n, _)| (*n).cmp(t)) {
                        Ok(i) => (TABLE[i].1)(d, s),
                        Err(_) => Ok($any::Unknown($crate::xml::decode_unknown(t, d, s)?)),
                    },
                }
            }
        }
        impl $crate::xml::Encode for $any {
            fn encode(&self, e: &mut $crate::xml::Encoder, name: &str) {
                let t = Some(self.type_name());
                match self {
                    $($any::$t(v) => e.complex(name, t, &**v),)+
                    $any::Unknown(u) => e.complex(name, t, &u.value),
                }
            }
        }
        #[cfg(feature = "serde")]
        impl ::serde::Serialize for $any {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let (v, name) = $crate::json::PolyJson::json_form(self);
                $crate::json::serialize_named(v, Some(name), s)
            }
        }
        #[cfg(feature = "serde")]
        impl<'de> ::serde::Deserialize<'de> for $any {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::json::deserialize_poly(d)
            }
        }
        #[cfg(feature = "serde")]
        impl $crate::json::PolyJson for $any {
            const BASE: &'static str = stringify!($base);
            fn json_form(&self) -> (&dyn $crate::json::JsonObject, &str) {
                ($crate::types::DataObject::as_json(self.as_data_object()), self.type_name())
            }
            fn read_json(
                name: Option<&str>,
                rest: &mut dyn $crate::json::ObjectRest,
            ) -> Result<Self, $crate::json::Error> {
                // As for XML: a sorted table of out-of-line readers, one per type.
                type Read = fn(&mut dyn $crate::json::ObjectRest) -> Result<$any, $crate::json::Error>;
                static TABLE: &[(&str, Read)] = &[
                    $((stringify!($t), <$t as $crate::xml::SubtypeOf<$any>>::read_json_into_slot),)+
                ];
                let name = name.unwrap_or(stringify!($base));
                match TABLE.binary_search_by(|(n, _)| (*n).cmp(name)) {
                    Ok(i) => (TABLE[i].1)(rest),
                    Err(_) => Ok($any::Unknown($crate::json::read_unknown(name, rest)?)),
                }
            }
        }
    };
}

pub(crate) use {enum_codec, inherits, poly_codec, unknown_type_name};
