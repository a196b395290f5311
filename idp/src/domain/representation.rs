//! Who may act for whom (docs/representation.md): the kinds of representation, the roles within
//! them, the sections of a portal a representative may open, and a representation's status.
//! Each has one stored (and scope) spelling, and the Dutch and English words the pages use.

use serde::{Deserialize, Serialize};

/// A value with one stored spelling (the store reads them back through this).
pub trait Spelled: Sized {
    fn parse(value: &str) -> Option<Self>;
}

macro_rules! spelled {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored spelling (also the claim's and, for sections, the scope's).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(value: &str) -> Option<Self> {
                match value {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl Spelled for $name {
            fn parse(value: &str) -> Option<Self> {
                $name::parse(value)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

spelled!(
    /// What a representation rests on.
    Kind {
        /// Wettelijk vertegenwoordiger: a parent with authority, a guardian, a mentor, a curator.
        LegalRepresentative => "legal_representative",
        /// Portaalbeheerder: manages who else may use the client's portal.
        PortalManager => "portal_manager",
        /// Contactpersoon: someone the client (or their manager) lets in.
        Contact => "contact",
    }
);

spelled!(
    /// The representative's relation to the client.
    Role {
        /// Ouder met gezag.
        Parent => "parent",
        /// Voogd.
        Guardian => "guardian",
        Mentor => "mentor",
        Curator => "curator",
        /// Familielid.
        FamilyMember => "family_member",
        /// Zoon of dochter.
        Child => "child",
        Partner => "partner",
        /// Mantelzorger.
        InformalCarer => "informal_carer",
        /// Anders.
        Other => "other",
    }
);

spelled!(
    /// A part of a client portal. Its spelling is the OAuth scope a portal asks for it with.
    Section {
        /// Berichten.
        Messages => "messages",
        /// Afspraken.
        Appointments => "appointments",
        Dossier => "dossier",
        /// Persoonsgegevens.
        PersonalData => "personal_data",
        /// Instellingen.
        Settings => "settings",
        /// Gebruikersbeheer (journey D).
        UserManagement => "user_management",
    }
);

spelled!(
    /// Where a representation stands.
    Status {
        /// Invited, not accepted yet ("niet geaccepteerd").
        Invited => "invited",
        Active => "active",
        Revoked => "revoked",
        /// Its end date passed, or the age rules ended it.
        Expired => "expired",
    }
);

impl Kind {
    /// The roles that fit this kind: a legal representative is a parent, guardian, mentor or
    /// curator; contacts and portal managers are the client's family or others.
    pub fn allows(self, role: Role) -> bool {
        let legal = matches!(role, Role::Parent | Role::Guardian | Role::Mentor | Role::Curator);
        match self {
            Kind::LegalRepresentative => legal,
            Kind::Contact => !legal,
            Kind::PortalManager => true,
        }
    }
}

/// A set of sections, kept in the order of [`Section::ALL`] without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Sections(Vec<Section>);

impl Sections {
    pub fn all() -> Self {
        Sections(Section::ALL.to_vec())
    }

    pub fn of(sections: impl IntoIterator<Item = Section>) -> Self {
        let given: Vec<Section> = sections.into_iter().collect();
        Sections(Section::ALL.iter().copied().filter(|s| given.contains(s)).collect())
    }

    /// Space- or comma-separated section names; `None` when one is unknown.
    pub fn parse(value: &str) -> Option<Self> {
        let parts = value.split([' ', ',']).filter(|s| !s.is_empty());
        Some(Self::of(parts.map(Section::parse).collect::<Option<Vec<_>>>()?))
    }

    pub fn contains(&self, section: Section) -> bool {
        self.0.contains(&section)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Section> + '_ {
        self.0.iter().copied()
    }

    /// The scopes a holder of these sections may receive of `requested`: a section scope outside
    /// them is dropped (never granted); other scopes (`openid`, `profile`) pass.
    pub fn narrow(&self, requested: &super::Scopes) -> super::Scopes {
        requested.retain(|scope| Section::parse(scope).is_none_or(|s| self.contains(s)))
    }

    /// Whether every section of `self` is in `other`.
    pub fn is_subset_of(&self, other: &Sections) -> bool {
        self.0.iter().all(|s| other.contains(*s))
    }
}

impl std::fmt::Display for Sections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|s| s.as_str()).collect();
        f.write_str(&names.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_parse_in_one_order_and_refuse_unknown_names() {
        let s = Sections::parse("dossier, messages dossier").unwrap();
        assert_eq!(s.to_string(), "messages dossier");
        assert!(Sections::parse("messages secrets").is_none());
        assert!(Sections::parse("").unwrap().is_empty());
        assert!(s.is_subset_of(&Sections::all()));
        assert!(!Sections::all().is_subset_of(&s));
        let asked = crate::domain::Scopes::parse("openid dossier profile appointments messages").unwrap();
        assert_eq!(s.narrow(&asked).to_string(), "openid dossier profile messages");
    }

    #[test]
    fn each_spelling_reads_back() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(*kind));
        }
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(*role));
        }
        assert_eq!(Status::parse("active"), Some(Status::Active));
        assert_eq!(Section::parse("personal_data"), Some(Section::PersonalData));
    }

    #[test]
    fn roles_fit_their_kind() {
        assert!(Kind::LegalRepresentative.allows(Role::Parent));
        assert!(!Kind::LegalRepresentative.allows(Role::Partner));
        assert!(Kind::Contact.allows(Role::InformalCarer));
        assert!(!Kind::Contact.allows(Role::Curator));
        assert!(Kind::PortalManager.allows(Role::Mentor));
    }
}
