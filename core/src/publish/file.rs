// SPDX-License-Identifier: MPL-2.0
//! The one JSON Lines writer: `posepublish location=FILE` and the `json-output` properties of
//! `trtposeinfer` and `posetracker` all write through it.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::PublishError;

pub struct JsonLinesWriter {
    out: BufWriter<File>,
    path: PathBuf,
    lines: u64,
}

impl JsonLinesWriter {
    /// Opens `path`, appending to what it holds or emptying it first.
    pub fn open(path: &Path, append: bool) -> Result<Self, PublishError> {
        let mut o = OpenOptions::new();
        o.create(true);
        if append {
            o.append(true);
        } else {
            o.write(true).truncate(true);
        }
        let file = o.open(path).map_err(|e| PublishError::File {
            path: path.display().to_string(),
            detail: format!("cannot open for writing: {e}"),
        })?;
        Ok(JsonLinesWriter {
            out: BufWriter::new(file),
            path: path.to_path_buf(),
            lines: 0,
        })
    }

    /// Writes one record; a newline inside it would break the format, so it is escaped JSON
    /// text only (serde_json never writes raw newlines).
    pub fn write(&mut self, record: &str) -> Result<(), PublishError> {
        debug_assert!(!record.contains('\n'));
        writeln!(self.out, "{record}").map_err(|e| self.error(e))?;
        self.lines += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), PublishError> {
        self.out.flush().map_err(|e| self.error(e))
    }

    /// Records written since opening.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, e: std::io::Error) -> PublishError {
        PublishError::File {
            path: self.path.display().to_string(),
            detail: format!("cannot write: {e}"),
        }
    }
}

impl Drop for JsonLinesWriter {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_or_appends() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.jsonl");
        for (append, expect) in [(false, "{\"a\":1}\n"), (true, "{\"a\":1}\n{\"a\":1}\n")] {
            let mut w = JsonLinesWriter::open(&p, append).unwrap();
            w.write("{\"a\":1}").unwrap();
            assert_eq!(w.lines(), 1);
            drop(w);
            assert_eq!(std::fs::read_to_string(&p).unwrap(), expect);
        }
        let mut w = JsonLinesWriter::open(&p, false).unwrap();
        w.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "");
    }

    #[test]
    fn a_folder_that_does_not_exist_is_an_error_naming_the_path() {
        let e = JsonLinesWriter::open(Path::new("/nonexistent/dir/x.jsonl"), false)
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/dir/x.jsonl: cannot open"),
            "{e}"
        );
    }
}
