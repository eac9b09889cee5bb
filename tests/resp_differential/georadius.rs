//! GEORADIUS, GEORADIUSBYMEMBER and their _RO forms in a seeded stream
//! beside the geo writes of `random_geo_command`: replies (in their order),
//! errors and what STORE and STOREDIST wrote must be redis-server's.

use crate::{compare_streams, random_geo_command, Gen};

fn random_radius_command(g: &mut Gen) -> Vec<String> {
    if g.below(3) == 0 {
        return random_geo_command(g);
    }
    let key = match g.below(20) {
        0 => "{g}str",
        1 => "{g}none",
        _ => "{g}1",
    };
    let name = g.pick(&[
        "georadius",
        "georadius_ro",
        "georadiusbymember",
        "georadiusbymember_ro",
        "GEORADIUS",
    ]);
    let mut w: Vec<String> = vec![name.into(), key.into()];
    if name.to_ascii_lowercase().starts_with("georadiusbymember") {
        w.push(g.pick(&["p1", "p2", "p3", "a", "nope"]).into());
    } else {
        match g.below(10) {
            0 => w.extend(["200".into(), "1".into()]),
            1 => w.extend(["x".into(), "38".into()]),
            _ => {
                w.push(format!("{:.4}", 13.0 + g.below(20_000) as f64 / 10_000.0));
                w.push(format!("{:.4}", 38.0 + g.below(10_000) as f64 / 10_000.0));
            }
        }
    }
    w.push(match g.below(12) {
        0 => "-1".into(),
        1 => "x".into(),
        2 => "0".into(),
        _ => g.int(1, 150),
    });
    w.push(
        g.pick(&["km", "m", "mi", "ft", "KM", "km", "parsec"])
            .into(),
    );
    let mut opts: Vec<Vec<String>> = Vec::new();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    for o in ["WITHDIST", "WITHHASH", "WITHCOORD"] {
        if g.below(4) == 0 {
            opts.push(s(&[o]));
        }
    }
    if g.below(2) == 0 {
        opts.push(s(&[g.pick(&["ASC", "DESC"])]));
    }
    if g.below(3) == 0 {
        opts.push(vec!["COUNT".into(), g.int(-1, 8)]);
        if g.below(3) == 0 {
            opts.push(s(&["ANY"]));
        }
    } else if g.below(20) == 0 {
        opts.push(s(&["ANY"]));
    }
    match g.below(5) {
        0 => opts.push(s(&["STORE", "{g}dest"])),
        1 => opts.push(s(&["STOREDIST", "{g}dest2"])),
        _ => {}
    }
    if g.below(25) == 0 {
        opts.push(s(&["NOSUCHOPTION"]));
    }
    for i in (1..opts.len()).rev() {
        opts.swap(i, g.below(i as u64 + 1) as usize);
    }
    w.extend(opts.into_iter().flatten());
    // STORE without its key, last (in the middle the next word would be
    // taken for its key).
    if g.below(25) == 0 {
        w.push("STORE".into());
    }
    w
}

#[test]
fn georadius_as_redis_server() {
    let reset: &[&[&str]] = &[
        &["DEL", "{g}1", "{g}dest", "{g}dest2"],
        &["SET", "{g}str", "x"],
    ];
    let answered = compare_streams(&[5, 8080, 27182], reset, random_radius_command, |o, t| {
        for k in ["{g}1", "{g}dest", "{g}dest2"] {
            let w = ["ZRANGE", k, "0", "-1", "WITHSCORES"];
            assert_eq!(o.cmd(&w), t.cmd(&w), "{k}");
        }
    });
    for name in [
        "georadius",
        "georadius_ro",
        "georadiusbymember",
        "georadiusbymember_ro",
    ] {
        assert!(
            answered.contains(name),
            "{name} never answered without an error"
        );
    }
}
