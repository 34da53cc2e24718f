//! Certificates made as users make them, with the `openssl` command line, for the TLS tests.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use rrbench::transport::quic::CertificatePaths;

/// Whether `tool ARGS` can be run; if not, says why the test is skipped, or fails when
/// `require` is set in the environment.
pub fn have(tool: &str, args: &[&str], require: &str, install: &str) -> bool {
    let ok = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os(require).is_none(),
            "{require} is set but `{tool}` cannot be run"
        );
        eprintln!("skipped: no `{tool}` on PATH ({install})");
    }
    ok
}

/// Whether `openssl` can be run; if not, says why the test is skipped (or fails, when
/// `RRBENCH_REQUIRE_OPENSSL` is set).
pub fn have_openssl() -> bool {
    have(
        "openssl",
        &["version"],
        "RRBENCH_REQUIRE_OPENSSL",
        "apt-get install -y openssl",
    )
}

/// Certificates in a directory, made with `openssl`.
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("pki dir");
        Self {
            dir: dir.to_path_buf(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `openssl req -x509` for localhost as the README shows it (ECDSA P-256; marks itself
    /// CA:TRUE).
    pub fn self_signed(&self, name: &str) -> CertificatePaths {
        let (cert, key) = (format!("{name}.crt"), format!("{name}.key"));
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-days",
            "30",
            "-keyout",
            &key,
            "-out",
            &cert,
        ]);
        self.paths(name)
    }

    pub fn paths(&self, name: &str) -> CertificatePaths {
        CertificatePaths {
            cert: self.path(&format!("{name}.crt")),
            key: self.path(&format!("{name}.key")),
        }
    }

    /// A root CA (RSA 2048) named `cn`.
    pub fn ca(&self, name: &str, cn: &str) -> CertificatePaths {
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-days",
            "30",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ]);
        self.paths(name)
    }

    /// A certificate for `sans` signed by `issuer`: an ECDSA key (or RSA with `rsa`), `ca`
    /// for an intermediate.
    pub fn issue(
        &self,
        name: &str,
        cn: &str,
        sans: &str,
        issuer: &CertificatePaths,
        rsa: bool,
        ca: bool,
    ) -> CertificatePaths {
        let (key, csr, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.ext"),
        );
        let newkey: &[&str] = if rsa {
            &["-newkey", "rsa:2048"]
        } else {
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        };
        let subj = format!("/CN={cn}");
        let mut args = vec!["req", "-new"];
        args.extend_from_slice(newkey);
        args.extend_from_slice(&["-nodes", "-subj", &subj, "-keyout", &key, "-out", &csr]);
        self.openssl(&args);
        let extensions = if ca {
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n".to_string()
        } else {
            format!(
                "basicConstraints=CA:FALSE\nsubjectAltName={sans}\n\
                 extendedKeyUsage=serverAuth,clientAuth\n"
            )
        };
        std::fs::write(self.path(&ext), extensions).expect("ext file");
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            issuer.cert.to_str().expect("utf-8"),
            "-CAkey",
            issuer.key.to_str().expect("utf-8"),
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            &ext,
            "-out",
            &format!("{name}.crt"),
        ]);
        self.paths(name)
    }

    /// The same key in its traditional form: PKCS#1 for RSA, SEC1 for EC.
    pub fn traditional_key(&self, paths: &CertificatePaths, rsa: bool) -> CertificatePaths {
        let out = paths.key.with_extension("trad.key");
        let (kind, extra): (&str, &[&str]) = if rsa {
            ("rsa", &["-traditional"])
        } else {
            ("ec", &[])
        };
        let mut args = vec![
            kind,
            "-in",
            paths.key.to_str().expect("utf-8"),
            "-out",
            out.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        self.openssl(&args);
        let pem = std::fs::read_to_string(&out).expect("key");
        let header = if rsa {
            "BEGIN RSA PRIVATE KEY"
        } else {
            "BEGIN EC PRIVATE KEY"
        };
        assert!(pem.contains(header), "{pem}");
        CertificatePaths {
            cert: paths.cert.clone(),
            key: out,
        }
    }

    /// `cert` then the certificates of `more`, one PEM file (a chain, or a bundle).
    pub fn concat(&self, name: &str, files: &[&Path]) -> PathBuf {
        let mut pem = String::new();
        for f in files {
            pem.push_str(&std::fs::read_to_string(f).expect("pem"));
        }
        let path = self.path(name);
        std::fs::write(&path, pem).expect("write");
        path
    }

    /// A self-signed localhost certificate valid from `not_before` to `not_after` (rcgen).
    pub fn dated(
        &self,
        name: &str,
        not_before: (i32, u8, u8),
        not_after: (i32, u8, u8),
    ) -> CertificatePaths {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        let paths = self.paths(name);
        std::fs::write(&paths.cert, cert.pem()).expect("cert");
        std::fs::write(&paths.key, key.serialize_pem()).expect("key");
        paths
    }
}
