//! A real TLS server for tests: Debian's nginx, serving a certificate chain from a private
//! certificate authority the test makes with rcgen (root, intermediate, leaf).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};

/// A root CA and an intermediate under it, as a private PKI has them.
pub struct Pki {
    pub root_pem: String,
    intermediate: CertifiedIssuer<'static, KeyPair>,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params
}

impl Pki {
    /// The intermediate CA, which signs servers' certificates.
    #[allow(dead_code, reason = "used by the tollgate crate's tests, which include this file")]
    pub fn intermediate(&self) -> &CertifiedIssuer<'static, KeyPair> {
        &self.intermediate
    }
}

pub fn pki(name: &str) -> Pki {
    let root = CertifiedIssuer::self_signed(ca_params(&format!("{name} root")), KeyPair::generate().unwrap()).unwrap();
    let intermediate =
        CertifiedIssuer::signed_by(ca_params(&format!("{name} intermediate")), KeyPair::generate().unwrap(), &root)
            .unwrap();
    Pki { root_pem: root.pem(), intermediate }
}

/// nginx serving TLS on 127.0.0.1 with a certificate for `names`, issued by `pki`'s
/// intermediate (the chain file holds the leaf, then the intermediate). Each answer names
/// the connection it came on, so reuse shows.
pub struct Nginx {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file());
    found.expect("nginx is installed (scripts/deps.sh --test installs nginx-light)")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub fn nginx(pki: &Pki, names: &[&str]) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .unwrap()
        .signed_by(&key, &pki.intermediate)
        .unwrap();
    let d = dir.path();
    let chain = write(d, "chain.pem", &format!("{}{}", leaf.pem(), pki.intermediate.pem()));
    let key = write(d, "key.pem", &key.serialize_pem());
    let port = free_port();
    let conf = write(
        d,
        "nginx.conf",
        &format!(
            "daemon off; master_process off; worker_processes 1;
             pid {d}/nginx.pid; error_log {d}/error.log;
             events {{ worker_connections 64; }}
             http {{
               access_log off;
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
               uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
               server {{
                 listen 127.0.0.1:{port} ssl;
                 ssl_certificate {chain}; ssl_certificate_key {key};
                 location / {{ return 200 \"tls $request_uri host=$http_host conn=$connection\"; }}
               }}
             }}",
            d = d.display(),
            chain = chain.display(),
            key = key.display(),
        ),
    );
    let child = Command::new(nginx_binary())
        .args(["-p", &d.display().to_string(), "-c", &conf.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not listen on {port}: {:?}",
            std::fs::read_to_string(d.join("error.log"))
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx { child, port, _dir: dir }
}
