//! Enums whose values travel in events as one byte (`events`): each is declared once with
//! `wire_enum!`, which adds `ALL` (every variant, for the tables that name them) and `from_u8`
//! (for decoders), so no list of variants is written twice. The first variant's value is
//! given and the rest follow in order; the golden event bytes pin every value.

macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(#[$fmeta:meta])* $first:ident = $start:literal,
            $( $(#[$vmeta:meta])* $variant:ident, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        pub enum $name {
            $(#[$fmeta])* $first = $start,
            $( $(#[$vmeta])* $variant, )*
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$name::$first, $($name::$variant,)*];

            /// The variant whose wire value is `v`.
            pub fn from_u8(v: u8) -> Option<$name> {
                $name::ALL.iter().copied().find(|e| *e as u8 == v)
            }
        }
    };
}

pub(crate) use wire_enum;
