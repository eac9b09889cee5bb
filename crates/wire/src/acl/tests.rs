use super::*;

fn user(rules: &[&str]) -> User {
    let mut u = User::new("u");
    for r in rules {
        u.apply(r.as_bytes()).unwrap();
    }
    u
}

fn run(u: &User, words: &[&str]) -> Result<(), Denied> {
    let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
    let cmd = table::get(args[0]).unwrap();
    u.check(cmd, &args)
}

#[test]
fn describes_users_as_redis_7_0_does() {
    // The lines redis-server 7.0.15 printed for the same rules.
    let alice = user(&[
        "on", ">pw", "~foo*", "%R~bar*", "&ch*", "+get", "+set", "+@hash", "-hdel",
    ]);
    assert_eq!(
        alice.describe(),
        "user u on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~foo* %R~bar* resetchannels &ch* -@all +get +set +@hash -hdel"
    );
    assert_eq!(
        User::default_user().describe(),
        "user default on nopass ~* &* +@all"
    );
    let carol = user(&["on", "nopass", "+config|get", "allkeys", "allchannels"]);
    assert_eq!(carol.describe(), "user u on nopass ~* &* -@all +config|get");
    assert_eq!(user(&[]).describe(), "user u off resetchannels -@all");
    let k = user(&["on", ">p", "+@all", "~*", "-ping", "+ping", "-ping"]);
    assert!(k.describe().ends_with("~* resetchannels +@all -ping"));
}

#[test]
fn rules_are_checked() {
    let mut u = User::new("u");
    for (rule, msg) in [
        ("foo", "Syntax error"),
        ("~a b", "Syntax error"),
        ("&a\tb", "Syntax error"),
        ("+@nope", "Unknown command or category name in ACL"),
        ("+nocmd", "Unknown command or category name in ACL"),
        ("+config|nosub", "Unknown command or category name in ACL"),
        ("%X~a", "Syntax error"),
        ("%~a", "Syntax error"),
        ("#abc", "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"),
        ("<nothere", "The password you are trying to remove from the user does not exist"),
    ] {
        assert_eq!(u.apply(rule.as_bytes()).unwrap_err().0, msg, "{rule}");
    }
    u.apply(b"allkeys").unwrap();
    assert!(u
        .apply(b"~x")
        .unwrap_err()
        .0
        .starts_with("Adding a pattern after"));
    u.apply(b"resetkeys").unwrap();
    u.apply(b"~x").unwrap();
}

#[test]
fn passwords() {
    let mut u = user(&["on", ">a", ">b"]);
    assert!(u.password_ok(b"a") && u.password_ok(b"b") && !u.password_ok(b"c"));
    u.apply(b"<a").unwrap();
    assert!(!u.password_ok(b"a"));
    u.apply(b"off").unwrap();
    assert!(!u.password_ok(b"b"), "a disabled user opens with nothing");
    let h = hex(&hash_password(b"z"));
    let u = user(&["on", &format!("#{h}")]);
    assert!(u.password_ok(b"z"));
    assert!(user(&["on", "nopass"]).password_ok(b"anything"));
    assert!(
        !user(&["on"]).password_ok(b""),
        "no password, not nopass: nothing opens it"
    );
}

#[test]
fn commands_subcommands_and_categories() {
    let u = user(&["on", "allkeys", "+@hash", "-hdel", "+config|get"]);
    assert!(run(&u, &["hset", "k", "f", "v"]).is_ok());
    assert_eq!(
        run(&u, &["hdel", "k", "f"]),
        Err(Denied::Command("hdel".into()))
    );
    assert!(run(&u, &["config", "get", "x"]).is_ok());
    assert_eq!(
        run(&u, &["config", "set", "x", "y"]),
        Err(Denied::Command("config|set".into()))
    );
    assert_eq!(run(&u, &["get", "k"]), Err(Denied::Command("get".into())));
    let admin = user(&["on", "allkeys", "+@all", "-@dangerous"]);
    assert!(run(&admin, &["flushall"]).is_err());
    assert!(run(&admin, &["get", "k"]).is_ok());
    assert!(!admin.unrestricted());
    assert!(User::default_user().unrestricted());
}

#[test]
fn key_access_follows_redis_key_specs() {
    let u = user(&["on", "+@all", "%R~r*", "%W~w*", "~b*"]);
    let ok = |w: &[&str]| run(&u, w).is_ok();
    assert!(ok(&["set", "w1", "x"]));
    assert!(!ok(&["set", "w1", "x", "GET"]), "SET ... GET reads");
    assert!(!ok(&["get", "w1"]));
    assert!(ok(&["get", "r1"]));
    assert!(!ok(&["set", "r1", "x"]));
    assert!(!ok(&["incr", "w2"]), "INCR reads and writes");
    assert!(ok(&["incr", "b2"]));
    assert!(ok(&["lpush", "w3", "a"]));
    assert!(!ok(&["lpop", "w3"]));
    assert!(ok(&["sinterstore", "w4", "r1", "r2"]));
    assert!(!ok(&["sinterstore", "r4", "r1", "r2"]));
    assert!(ok(&["exists", "w1"]), "EXISTS reads no value");
    assert!(!ok(&["exists", "x1"]), "but the key must match a pattern");
    assert!(ok(&["del", "w1"]));
    assert_eq!(run(&u, &["get", "zz"]), Err(Denied::Key(b"zz".to_vec())));
}

#[test]
fn channels() {
    let u = user(&["on", "+@all", "allkeys", "&news.*"]);
    assert!(run(&u, &["publish", "news.a", "m"]).is_ok());
    assert_eq!(
        run(&u, &["publish", "other", "m"]),
        Err(Denied::Channel(b"other".to_vec()))
    );
    assert!(run(&u, &["psubscribe", "news.*"]).is_ok());
    assert!(
        run(&u, &["psubscribe", "news.a"]).is_err(),
        "patterns word for word"
    );
    assert!(run(&u, &["subscribe", "news.x", "news.y"]).is_ok());
}

#[test]
fn files_round_trip_and_errors_name_the_line() {
    let a = user(&["on", ">pw", "~foo*", "%R~bar*", "&ch*", "+@hash", "-hdel"]);
    let text = format!("# users\n\n{}\n", a.describe());
    let users = parse_file(&text).unwrap();
    assert_eq!(users.len(), 2, "the default user is added");
    assert_eq!(users[0].name(), "default");
    assert_eq!(users[1].describe(), a.describe());
    let e = parse_file("user default on nopass\nuser x on +nosuch\n").unwrap_err();
    assert!(e.0.starts_with("line 2: "), "{e}");
    assert!(parse_file("user a on\nuser a off\n")
        .unwrap_err()
        .0
        .contains("duplicate"));
    assert!(parse_file("usr a on\n").is_err());
}

#[test]
fn categories_list_commands() {
    let admin = category_commands("admin").unwrap();
    assert!(admin.contains(&"config|set"));
    assert!(category_commands("dangerous")
        .unwrap()
        .contains(&"flushall"));
    assert!(!admin.contains(&"get"));
    assert!(category_commands("geo").unwrap().contains(&"geosearch"));
    assert!(category_commands("hyperloglog").unwrap().contains(&"pfadd"));
    let stream = category_commands("stream").unwrap();
    assert!(stream.contains(&"xadd") && stream.contains(&"xgroup|create"));
    assert!(!stream.contains(&"get"));
    assert!(category_commands("nope").is_none());
}
