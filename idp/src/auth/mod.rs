//! Authentication of people: passwords, failure throttling, and the single-sign-on session.
//! Second factors and assurance levels: `levels`, `totp`, `otp`, `factor_key`; docs/factors.md.

pub mod factor_key;
pub mod factors;
pub mod known_device;
pub mod levels;
pub mod otp;
pub mod passkeys;
pub mod password;
pub mod password_rules;
pub mod recovery;
pub mod secret_question;
pub mod session;
pub mod signin;
pub mod totp;

/// The key under which failures from a client address are counted. An IPv6 client usually has a
/// whole /64 to pick addresses from, so IPv6 addresses count per /64.
pub fn address_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::address_key;

    #[test]
    fn ipv6_counts_per_64() {
        assert_eq!(address_key("192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(address_key("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
        let a = address_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, address_key("2001:db8:1:2:ffff:1:2:3".parse().unwrap()));
        assert_ne!(a, address_key("2001:db8:1:3::1".parse().unwrap()));
    }
}
