-- Authorization codes live in the key-value store (idp/src/oidc/codes.rs): a code is at most
-- `tokens.code_ttl_secs` old, so the ones still here when this runs are given up (the portal's
-- browser signs in again, without a password while its session lasts).
DROP TABLE authorization_codes;
