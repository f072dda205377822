//! vic-machine's connection flags, shared by `vch` and `tether-sim`: `--target`,
//! `--user`, `--thumbprint` or `--insecure`, the password from the URL, the
//! environment or a prompt without echo.

use std::fmt;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

/// The prompt `vch` shows when no password was given (vic-machine's words).
pub const PASSWORD_PROMPT: &str = "Please enter ESX or vCenter password: ";

/// `--target URL --user USER --thumbprint TP | --insecure`, as vic-machine takes them.
#[derive(Clone, Args)]
pub struct TargetArgs {
    /// ESX or vCenter: `https://[user[:password]@]host[/sdk]`; the scheme and `/sdk`
    /// may be left out (`root@esxi01`).
    #[arg(long, env = "VIC_MACHINE_TARGET")]
    pub target: String,
    /// The user, when the target names none (else `VIM_USERNAME`, `GOVC_USERNAME`).
    #[arg(long, env = "VIC_MACHINE_USER")]
    pub user: Option<String>,
    /// Trust exactly the server certificate with this SHA-256 or SHA-1 thumbprint.
    #[arg(long, env = "VIC_MACHINE_THUMBPRINT", conflicts_with = "insecure")]
    pub thumbprint: Option<String>,
    /// Accept any server certificate (lab use only).
    #[arg(long, default_value_t = false)]
    pub insecure: bool,
    /// Write every SOAP exchange into this directory, secrets masked.
    #[arg(long, value_name = "DIR")]
    pub debug: Option<PathBuf>,
}

impl fmt::Debug for TargetArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetArgs")
            .field("target", &self.display_target())
            .field("user", &self.user)
            .field("thumbprint", &self.thumbprint)
            .field("insecure", &self.insecure)
            .field("debug", &self.debug)
            .finish()
    }
}

/// Where a password came from.
enum Password {
    InUrl,
    Given(String),
}

impl TargetArgs {
    /// The target without any password in it, for messages.
    pub fn display_target(&self) -> String {
        match split_userinfo(&self.target) {
            Some((before, userinfo, after)) => {
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{before}{user}@{after}")
            }
            None => self.target.clone(),
        }
    }

    /// The user: the target's, else `--user`, else `VIM_USERNAME`/`GOVC_USERNAME`.
    pub fn user_name(&self) -> Option<String> {
        if let Some((_, userinfo, _)) = split_userinfo(&self.target) {
            let user = userinfo.split(':').next().unwrap_or("");
            if !user.is_empty() {
                return Some(user.to_string());
            }
        }
        self.user
            .clone()
            .or_else(|| std::env::var("VIM_USERNAME").ok())
            .or_else(|| std::env::var("GOVC_USERNAME").ok())
    }

    fn password(&self) -> Result<Password, vim25::Error> {
        if let Some((_, userinfo, _)) = split_userinfo(&self.target) {
            if userinfo.contains(':') {
                return Ok(Password::InUrl);
            }
        }
        if let Ok(p) = std::env::var("VIM_PASSWORD").or_else(|_| std::env::var("GOVC_PASSWORD")) {
            return Ok(Password::Given(p));
        }
        if !std::io::stdin().is_terminal() {
            return Err(vim25::Error::InvalidInput(
                "no password: put it in the target URL or VIM_PASSWORD, or run on a terminal to be asked"
                    .into(),
            ));
        }
        rpassword::prompt_password(PASSWORD_PROMPT)
            .map(Password::Given)
            .map_err(|e| vim25::Error::io("cannot read the password", e))
    }

    /// Connects and logs in, verifying the server's certificate unless `--insecure`
    /// or pinned with `--thumbprint`.
    pub async fn connect(&self) -> Result<vim25::Client, vim25::Error> {
        let mut b = vim25::ClientBuilder::new(&self.target)?;
        let user = self.user_name().ok_or_else(|| {
            vim25::Error::InvalidInput(
                "no user: give --user or put it in the target (user@host)".into(),
            )
        })?;
        match self.password()? {
            Password::InUrl => {
                if split_userinfo(&self.target)
                    .is_some_and(|(_, u, _)| u.split(':').next().unwrap_or("").is_empty())
                {
                    // `https://:pass@host` with `--user`.
                    let pass = split_userinfo(&self.target)
                        .and_then(|(_, u, _)| u.split_once(':').map(|(_, p)| p.to_string()))
                        .unwrap_or_default();
                    b = b.credentials(user, pass);
                }
            }
            Password::Given(p) => b = b.credentials(user, p),
        }
        if self.insecure {
            b = b.insecure();
        } else if let Some(tp) = &self.thumbprint {
            b = b.thumbprint(tp.clone());
        }
        if let Some(dir) = &self.debug {
            b = b.wire_log(crate::debug_writer(dir)?);
        }
        b.connect().await
    }

    /// The server's host name or address as the target names it.
    pub fn host(&self) -> String {
        let rest = self.target.split("://").nth(1).unwrap_or(&self.target);
        let authority = rest.split('/').next().unwrap_or(rest);
        let host = authority.rsplit('@').next().unwrap_or(authority);
        host.to_string()
    }
}

/// `(scheme and "//", userinfo, the rest after '@')` when the target has userinfo.
fn split_userinfo(target: &str) -> Option<(&str, &str, &str)> {
    let start = target.find("://").map(|i| i + 3).unwrap_or(0);
    let rest = &target[start..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    Some((&target[..start], &rest[..at], &rest[at + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(target: &str) -> TargetArgs {
        TargetArgs {
            target: target.into(),
            user: Some("other".into()),
            thumbprint: None,
            insecure: false,
            debug: None,
        }
    }

    #[test]
    fn passwords_never_show() {
        let a = args("https://root:s3cret@esx01/sdk");
        assert_eq!(a.display_target(), "https://root@esx01/sdk");
        assert!(!format!("{a:?}").contains("s3cret"));
        assert_eq!(a.user_name().as_deref(), Some("root"));
        assert_eq!(a.host(), "esx01");
    }

    #[test]
    fn user_from_flag_when_target_has_none() {
        let a = args("esx01");
        assert_eq!(a.user_name().as_deref(), Some("other"));
        assert_eq!(a.display_target(), "esx01");
        assert_eq!(args("root@esx01").user_name().as_deref(), Some("root"));
        assert_eq!(args("root@esx01").host(), "esx01");
        assert!(split_userinfo("https://h/p@x").is_none());
    }
}
