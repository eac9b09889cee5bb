//! Test certificates made with the `openssl` command line (tools/setup.sh
//! installs it): a CA, a server certificate for 127.0.0.1, ::1 and
//! localhost, and a client certificate, all P-256 and valid for two days.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One CA's files.
pub struct Certs {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs (tools/setup.sh installs it)");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A key and a certificate signing request for `cn`.
fn request(dir: &Path, name: &str, cn: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ],
    );
}

/// `name`.crt signed by `ca` with the extensions in `ext`.
fn sign(dir: &Path, name: &str, ca: &str, ext: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

/// Makes a CA named `tag` and its server and client certificates in `dir`.
pub fn make(dir: &Path, tag: &str) -> Certs {
    make_for(dir, tag, &[])
}

/// `make`, with the server certificate also valid for the IP addresses
/// `ips` (cluster nodes on their own loopback addresses).
#[allow(dead_code)]
pub fn make_for(dir: &Path, tag: &str, ips: &[String]) -> Certs {
    let ca = format!("{tag}-ca");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.crt"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=Tessera test CA {tag}"),
        ],
    );
    let server = format!("{tag}-server");
    request(dir, &server, &format!("server {tag}"));
    sign(
        dir,
        &server,
        &ca,
        &format!(
            "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost{}\nextendedKeyUsage=serverAuth,clientAuth\n",
            ips.iter().map(|ip| format!(",IP:{ip}")).collect::<String>()
        ),
    );
    let client = format!("{tag}-client");
    request(dir, &client, &format!("client {tag}"));
    sign(dir, &client, &ca, "extendedKeyUsage=clientAuth\n");
    let f = |n: String| dir.join(n);
    Certs {
        ca: f(format!("{ca}.crt")),
        server_cert: f(format!("{server}.crt")),
        server_key: f(format!("{server}.key")),
        client_cert: f(format!("{client}.crt")),
        client_key: f(format!("{client}.key")),
    }
}
