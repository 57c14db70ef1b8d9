// SPDX-License-Identifier: MPL-2.0
//! `config`: the commented default configuration, printed or written with `--init`.

use std::path::PathBuf;

use clap::Args;
use gsttrtpose::convert::Config;

#[derive(Args)]
pub struct ConfigArgs {
    /// Write it to PATH (default ./trtposeconvert.toml) instead of printing it.
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "trtposeconvert.toml")]
    init: Option<PathBuf>,
    /// With --init: replace an existing file.
    #[arg(long, requires = "init")]
    force: bool,
}

/// `config`: the default file on stdout, or written once (an existing file is someone's
/// settings: kept unless --force).
pub fn run(a: &ConfigArgs) -> Result<(), String> {
    let text = Config::default_file();
    let Some(path) = &a.init else {
        print!("{text}");
        return Ok(());
    };
    if path.exists() && !a.force {
        return Err(format!(
            "{} exists: not replacing it (--force does)",
            path.display()
        ));
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}
