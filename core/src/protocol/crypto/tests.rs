use super::*;

fn default_crypto() -> RoomCrypto {
    RoomCrypto::new(&Password::Default, "vdo.ninja")
}

const EXAMPLE_PLAINTEXT: &str = r#"[{"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdpMLineIndex": 0}]"#;
const EXAMPLE_CIPHER: &str = "109e7a489e0d78ea12498367a1921ba866d319f34c081192dcfb37ade22e19c889f4f5c70a127077d8de6854cd603a54a5fb9152c894ede33a6d20a161343bcfc20f00df4d5238fa82c2a4ebe91efbebaeefc6ae9469d3d2a89600e885aad210";
const EXAMPLE_IV: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

#[test]
fn worked_example_default_password() {
    assert_eq!(hex_prefix("someEncryptionKey123vdo.ninja", 6), "808d64");
    let c = default_crypto();
    assert_eq!(c.stream_suffix().as_deref(), Some("808d64"));
    assert_eq!(c.wire_stream_id("cam1"), "cam1808d64");
    assert_eq!(c.wire_stream_id("camera1"), "camera1808d64");
    assert_eq!(c.wire_room("testroom"), "01081e4801f6d08a");
}

#[test]
fn worked_example_custom_password() {
    let c = RoomCrypto::new(&Password::parse("secret"), "vdo.ninja");
    assert_eq!(c.stream_suffix().as_deref(), Some("ecdb38"));
    assert_eq!(c.wire_room("testroom"), "21dcb99ec8e8dec2");
}

#[test]
fn worked_example_aes_key() {
    let c = default_crypto();
    assert_eq!(
        c.key().map(hex::encode).as_deref(),
        Some("808d646f7eb92052344e1e668e340c852f8d675754acfae11d8cc49233c36eba")
    );
}

#[test]
fn worked_example_ciphertext_and_back() {
    let c = default_crypto();
    let (cipher, iv) = c.encrypt_with_iv(EXAMPLE_PLAINTEXT, EXAMPLE_IV).unwrap();
    assert_eq!(iv, "000102030405060708090a0b0c0d0e0f");
    assert_eq!(cipher, EXAMPLE_CIPHER);
    assert_eq!(c.decrypt(EXAMPLE_CIPHER, &iv).unwrap(), EXAMPLE_PLAINTEXT);
    // Upper-case hex is accepted too.
    assert_eq!(
        c.decrypt(&EXAMPLE_CIPHER.to_uppercase(), &iv.to_uppercase())
            .unwrap(),
        EXAMPLE_PLAINTEXT
    );
}

#[test]
fn random_iv_round_trip() {
    let c = default_crypto();
    let (cipher1, iv1) = c.encrypt("hello ✓").unwrap();
    let (cipher2, iv2) = c.encrypt("hello ✓").unwrap();
    assert_ne!(iv1, iv2, "IVs must be fresh per message");
    assert_ne!(cipher1, cipher2);
    assert_eq!(c.decrypt(&cipher1, &iv1).unwrap(), "hello ✓");
    assert_eq!(c.decrypt(&cipher2, &iv2).unwrap(), "hello ✓");
    assert_eq!(iv1.len(), 32);
}

#[test]
fn wrong_password_never_yields_the_plaintext() {
    let other = RoomCrypto::new(&Password::parse("secret"), "vdo.ninja");
    let iv = hex::encode(EXAMPLE_IV);
    match other.decrypt(EXAMPLE_CIPHER, &iv) {
        Err(e) => assert!(matches!(e, CryptoError::WrongKey | CryptoError::NotUtf8)),
        Ok(text) => assert_ne!(text, EXAMPLE_PLAINTEXT),
    }
    // Wrong salt, same story.
    let other_salt = RoomCrypto::new(&Password::Default, "example.com");
    assert!(
        other_salt
            .decrypt(EXAMPLE_CIPHER, &iv)
            .map_or(true, |t| t != EXAMPLE_PLAINTEXT)
    );
}

#[test]
fn decrypt_rejects_malformed_input() {
    let c = default_crypto();
    let iv = hex::encode(EXAMPLE_IV);
    assert_eq!(c.decrypt("zz", &iv), Err(CryptoError::BadCipherHex));
    assert_eq!(c.decrypt(EXAMPLE_CIPHER, "xyz"), Err(CryptoError::BadIvHex));
    assert_eq!(
        c.decrypt(EXAMPLE_CIPHER, "0001"),
        Err(CryptoError::BadIvLength(2))
    );
    assert_eq!(c.decrypt("", &iv), Err(CryptoError::BadCipherLength(0)));
    assert_eq!(
        c.decrypt("00112233", &iv),
        Err(CryptoError::BadCipherLength(4))
    );
    assert_eq!(
        RoomCrypto::disabled().decrypt(EXAMPLE_CIPHER, &iv),
        Err(CryptoError::Disabled)
    );
    // Error messages are readable.
    assert_eq!(
        CryptoError::BadIvLength(2).to_string(),
        "IV must be 16 bytes, got 2"
    );
}

#[test]
fn disabled_leaves_everything_clear() {
    let c = RoomCrypto::new(&Password::parse("off"), "vdo.ninja");
    assert!(!c.is_enabled());
    assert_eq!(c.stream_suffix(), None);
    assert_eq!(c.wire_stream_id("cam1"), "cam1");
    let long = "x".repeat(60);
    assert_eq!(c.wire_stream_id(&long), long);
    assert_eq!(c.strip_stream_id("cam1808d64"), "cam1808d64");
    assert_eq!(c.wire_room("testroom"), "testroom");
    assert_eq!(c.encrypt("x"), None);
}

#[test]
fn stream_id_truncation_is_char_safe() {
    let c = default_crypto();
    let long = "a".repeat(50);
    assert_eq!(c.wire_stream_id(&long), format!("{}808d64", "a".repeat(44)));
    let exact = "b".repeat(44);
    assert_eq!(c.wire_stream_id(&exact), format!("{exact}808d64"));
    // Multi-byte characters: cut after 44 characters, never inside one.
    let wide = "é".repeat(50);
    let wire = c.wire_stream_id(&wide);
    assert_eq!(wire.chars().count(), 44 + 6);
    assert!(wire.starts_with(&"é".repeat(44)));
}

#[test]
fn strip_stream_id_rules() {
    let c = default_crypto();
    assert_eq!(c.strip_stream_id("cam1808d64"), "cam1");
    assert_eq!(c.strip_stream_id(&c.wire_stream_id("camera1")), "camera1");
    // Suffix from another password: nothing stripped.
    assert_eq!(c.strip_stream_id("cam1ecdb38"), "cam1ecdb38");
    assert_eq!(c.strip_stream_id("cam1"), "cam1");
    assert_eq!(c.strip_stream_id("808d64"), "808d64");
    assert!(c.stream_id_matches("cam1808d64"));
    assert!(!c.stream_id_matches("cam1ecdb38"));
}

#[test]
fn password_parsing() {
    for s in ["", "  ", "true", "TRUE", "1", "on", "On"] {
        assert_eq!(Password::parse(s), Password::Default, "{s:?}");
    }
    for s in ["false", "FALSE", "0", "off", " Off "] {
        assert_eq!(Password::parse(s), Password::Disabled, "{s:?}");
    }
    assert_eq!(
        Password::parse("  my secret "),
        Password::Custom("my secret".into())
    );
    assert_eq!(Password::Default.secret(), Some(DEFAULT_PASSWORD));
    assert_eq!(Password::Disabled.secret(), None);
    assert_eq!(Password::Custom("x".into()).secret(), Some("x"));
}

#[test]
fn custom_password_is_uri_encoded_like_the_web_client() {
    let p = Password::parse("a b/ü");
    assert_eq!(p.wire_secret().as_deref(), Some("a%20b%2F%C3%BC"));
    let c = RoomCrypto::new(&p, "vdo.ninja");
    assert_eq!(
        c.stream_suffix(),
        Some(hex_prefix("a%20b%2F%C3%BCvdo.ninja", 6))
    );
    // Alphanumeric passwords are unaffected.
    assert_eq!(
        Password::parse("secret").wire_secret().as_deref(),
        Some("secret")
    );
    assert_eq!(
        Password::from_url_value("a%20b%2F%C3%BC"),
        Password::Custom("a b/ü".into())
    );
    assert_eq!(
        Password::from_url_value("100%"),
        Password::Custom("100%".into())
    );
    assert_eq!(Password::from_url_value("false"), Password::Disabled);
}

#[test]
fn salt_rules() {
    let cases = [
        ("vdo.ninja", "vdo.ninja"),
        ("VDO.Ninja", "vdo.ninja"),
        ("steveseguin.github.io", "vdo.ninja"),
        ("localhost", "vdo.ninja"),
        ("localhost:8443", "vdo.ninja"),
        ("127.0.0.1", "vdo.ninja"),
        ("192.168.1.20:443", "vdo.ninja"),
        ("::1", "vdo.ninja"),
        ("[::1]", "vdo.ninja"),
        ("[fe80::1]:8443", "vdo.ninja"),
        ("backup.vdo.ninja", "vdo.ninja"),
        ("a.b.vdo.ninja", "vdo.ninja"),
        ("proxywss.rtc.ninja", "rtc.ninja"),
        ("rtc.ninja", "rtc.ninja"),
        ("x.versus.cam", "versus.cam"),
        ("y.socialstream.ninja", "socialstream.ninja"),
        ("a.b.Example.com", "a.b.example.com"),
        ("example.com.", "example.com"),
        ("notvdo.ninja", "notvdo.ninja"),
        ("", "vdo.ninja"),
        ("https://vdo.ninja/", "vdo.ninja"),
        (
            "https://user:pw@Rec.Example.org:8443/path?x=1",
            "rec.example.org",
        ),
        ("http://[::1]:8080/", "vdo.ninja"),
    ];
    for (host, salt) in cases {
        assert_eq!(salt_for_host(host), salt, "host {host:?}");
    }
}

#[test]
fn hex_prefix_lengths() {
    assert_eq!(hex_prefix("abc", 0), "");
    assert_eq!(hex_prefix("abc", 64).len(), 64);
    assert_eq!(hex_prefix("abc", 1000).len(), 64);
    assert_eq!(
        hex_prefix("abc", 8),
        "ba7816bf" // SHA-256("abc") starts with ba7816bf
    );
}

#[test]
fn debug_does_not_leak_secrets() {
    let c = RoomCrypto::new(&Password::parse("hunter2"), "vdo.ninja");
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("hunter2"));
    let key_hex = hex::encode(c.key().unwrap());
    assert!(!dbg.contains(&key_hex));
}

#[test]
fn uri_component_round_trip() {
    for s in ["plain", "a b", "ü+&=?", "100%"] {
        assert_eq!(percent_decode(&encode_uri_component(s)).as_deref(), Some(s));
    }
    assert_eq!(percent_decode("%zz"), None);
    assert_eq!(percent_decode("%c3"), None); // truncated UTF-8
}
