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
            // A parent or guardian is registered as the legal representative they are, so that
            // the age rules apply; a portal manager is anyone else the client (or they) chose.
            Kind::PortalManager => !matches!(role, Role::Parent | Role::Guardian),
        }
    }
}

/// Where a minor stands under the WGBO (Dutch Civil Code, book 7, art. 447 and 465): up to 12 a
/// parent (or guardian) decides for the child; from 12 to 16 parent and child decide together, so
/// the parent sees the dossier only with the child's consent; from 16 the child decides alone and
/// the parent's representation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Minor {
    Under12,
    From12To16,
    From16,
}

impl Minor {
    /// The stage on `today` of someone born on `birth`. A birthday on 29 February falls on
    /// 1 March in other years.
    pub fn on(birth: time::Date, today: time::Date) -> Self {
        if today >= birthday(birth, 16) {
            Minor::From16
        } else if today >= birthday(birth, 12) {
            Minor::From12To16
        } else {
            Minor::Under12
        }
    }
}

/// The day someone born on `birth` turns `years` (with a negative `years`, the day someone born
/// `-years` before `birth` would be born on).
pub fn birthday(birth: time::Date, years: i32) -> time::Date {
    let year = birth.year() + years;
    time::Date::from_calendar_date(year, birth.month(), birth.day())
        .or_else(|_| time::Date::from_calendar_date(year, time::Month::March, 1))
        .unwrap_or(time::Date::MAX)
}

impl Kind {
    /// Whether the client may revoke it themself (on the account page): a contact or a portal
    /// manager rests on the client's choice; a legal representative on the law or a court, so
    /// only the organisation (or the representative) ends it.
    pub fn revocable_by_client(self) -> bool {
        self != Kind::LegalRepresentative
    }

    /// Whether the WGBO's ages govern this representation: a parent's or a guardian's legal
    /// representation of a minor. A mentor, a curator or a contact the client chose continues.
    pub fn follows_age_rules(self, role: Role) -> bool {
        self == Kind::LegalRepresentative && matches!(role, Role::Parent | Role::Guardian)
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

    /// These sections without `section`.
    pub fn without(&self, section: Section) -> Sections {
        Sections(self.0.iter().copied().filter(|s| *s != section).collect())
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
    fn the_wgbo_ages_count_from_the_birthday() {
        use time::macros::date;
        let birth = date!(2010 - 06 - 15);
        assert_eq!(Minor::on(birth, date!(2022 - 06 - 14)), Minor::Under12);
        assert_eq!(Minor::on(birth, date!(2022 - 06 - 15)), Minor::From12To16);
        assert_eq!(Minor::on(birth, date!(2026 - 06 - 14)), Minor::From12To16, "the day before");
        assert_eq!(Minor::on(birth, date!(2026 - 06 - 15)), Minor::From16, "the day itself");
        assert_eq!(Minor::on(birth, date!(2026 - 06 - 16)), Minor::From16, "the day after");
        // Born on 29 February: the birthday is 1 March in other years.
        let leap = date!(2012 - 02 - 29);
        assert_eq!(birthday(leap, 16), date!(2028 - 02 - 29));
        assert_eq!(birthday(leap, 12), date!(2024 - 02 - 29));
        assert_eq!(birthday(leap, 13), date!(2025 - 03 - 01));
        assert!(Kind::LegalRepresentative.follows_age_rules(Role::Guardian));
        assert!(!Kind::LegalRepresentative.follows_age_rules(Role::Mentor));
        assert!(!Kind::Contact.follows_age_rules(Role::Other));
    }

    #[test]
    fn roles_fit_their_kind() {
        assert!(Kind::LegalRepresentative.allows(Role::Parent));
        assert!(!Kind::LegalRepresentative.allows(Role::Partner));
        assert!(Kind::Contact.allows(Role::InformalCarer));
        assert!(!Kind::Contact.allows(Role::Curator));
        assert!(Kind::PortalManager.allows(Role::Mentor));
        assert!(!Kind::PortalManager.allows(Role::Parent), "a parent is a legal representative: the ages apply");
    }
}
